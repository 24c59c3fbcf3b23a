"""indexes for statistics

Revision ID: 6faa5fa29926
Revises: 4030866a1ae4
Create Date: 2026-11-22 09:33:32.521860

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '6faa5fa29926'
down_revision = '4030866a1ae4'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('ticket', schema=None) as batch_op:
        batch_op.create_index('ix_ticket_community_created', ['community_id', 'created_at'], unique=False)

    with op.batch_alter_table('ticket_event', schema=None) as batch_op:
        batch_op.create_index('ix_ticket_event_action_ticket', ['action', 'ticket_id'], unique=False)



def downgrade():
    with op.batch_alter_table('ticket_event', schema=None) as batch_op:
        batch_op.drop_index('ix_ticket_event_action_ticket')

    with op.batch_alter_table('ticket', schema=None) as batch_op:
        batch_op.drop_index('ix_ticket_community_created')


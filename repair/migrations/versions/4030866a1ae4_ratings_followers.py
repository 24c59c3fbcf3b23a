"""ratings and followers

Revision ID: 4030866a1ae4
Revises: f9d19a59a4e6
Create Date: 2026-11-22 08:53:34.405283

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '4030866a1ae4'
down_revision = 'f9d19a59a4e6'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('rating',
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('stars', sa.Integer(), nullable=False),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['ticket_id'], ['ticket.id'], name=op.f('fk_rating_ticket_id_ticket')),
    sa.PrimaryKeyConstraint('ticket_id', name=op.f('pk_rating'))
    )
    op.create_table('ticket_follower',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('phone', sa.String(length=32), nullable=True),
    sa.Column('locale', sa.String(length=8), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['ticket_id'], ['ticket.id'], name=op.f('fk_ticket_follower_ticket_id_ticket')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ticket_follower'))
    )
    with op.batch_alter_table('ticket_follower', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ticket_follower_ticket_id'), ['ticket_id'], unique=False)



def downgrade():
    with op.batch_alter_table('ticket_follower', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ticket_follower_ticket_id'))

    op.drop_table('ticket_follower')
    op.drop_table('rating')

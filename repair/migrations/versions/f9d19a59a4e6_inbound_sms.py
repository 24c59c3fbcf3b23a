"""inbound sms and opt-outs

Revision ID: f9d19a59a4e6
Revises: d841e62ef704
Create Date: 2026-11-22 08:38:13.349869

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'f9d19a59a4e6'
down_revision = 'd841e62ef704'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('sms_opt_out',
    sa.Column('phone', sa.String(length=32), nullable=False),
    sa.Column('opted_out_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('phone', name=op.f('pk_sms_opt_out'))
    )
    op.create_table('inbound_sms',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('provider_id', sa.String(length=64), nullable=False),
    sa.Column('from_phone', sa.String(length=32), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('outcome', sa.String(length=32), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=True),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['ticket_id'], ['ticket.id'], name=op.f('fk_inbound_sms_ticket_id_ticket')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inbound_sms')),
    sa.UniqueConstraint('provider_id', name=op.f('uq_inbound_sms_provider_id'))
    )
    with op.batch_alter_table('inbound_sms', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_inbound_sms_from_phone'), ['from_phone'], unique=False)



def downgrade():
    with op.batch_alter_table('inbound_sms', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_inbound_sms_from_phone'))

    op.drop_table('inbound_sms')
    op.drop_table('sms_opt_out')

"""ticket pauses (挂起): requests, approvals, and the time the clocks stood still

Revision ID: e5b8c2d4f6a1
Revises: d5e8a1c4b7f3
Create Date: 2026-11-26 04:50:00.000000

"""
from alembic import op
import sqlalchemy as sa



# revision identifiers, used by Alembic.
revision = 'e5b8c2d4f6a1'
down_revision = "d5e8a1c4b7f3"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('ticket', schema=None) as batch_op:
        batch_op.add_column(sa.Column('paused_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('paused_seconds', sa.Float(), server_default='0', nullable=False))

    op.create_table(
        'ticket_pause',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('ticket_id', sa.Integer(), nullable=False),
        sa.Column('contractor_id', sa.Integer(), nullable=True),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('reason', sa.String(length=200), nullable=False),
        sa.Column('resume_expected_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('requested_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('decided_by', sa.String(length=120), nullable=True),
        sa.Column('decision_note', sa.String(length=200), nullable=True),
        sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('ended_how', sa.String(length=32), nullable=True),
        sa.Column('paused_seconds', sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(['contractor_id'], ['contractor.id'], name=op.f('fk_ticket_pause_contractor_id_contractor')),
        sa.ForeignKeyConstraint(['ticket_id'], ['ticket.id'], name=op.f('fk_ticket_pause_ticket_id_ticket')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_ticket_pause')),
    )
    with op.batch_alter_table('ticket_pause', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ticket_pause_ticket_id'), ['ticket_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ticket_pause_contractor_id'), ['contractor_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ticket_pause_state'), ['state'], unique=False)


def downgrade():
    with op.batch_alter_table('ticket_pause', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ticket_pause_state'))
        batch_op.drop_index(batch_op.f('ix_ticket_pause_contractor_id'))
        batch_op.drop_index(batch_op.f('ix_ticket_pause_ticket_id'))
    op.drop_table('ticket_pause')
    with op.batch_alter_table('ticket', schema=None) as batch_op:
        batch_op.drop_column('paused_seconds')
        batch_op.drop_column('paused_at')

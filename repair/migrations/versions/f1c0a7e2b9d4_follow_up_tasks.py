"""follow-up calls (回访): a task per low rating or second "not fixed"

Revision ID: f1c0a7e2b9d4
Revises: e5b8c2d4a7f1
Create Date: 2026-11-26 08:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'f1c0a7e2b9d4'
down_revision = "e5b8c2d4a7f1"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'follow_up_task',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('ticket_id', sa.Integer(), nullable=False),
        sa.Column('reason', sa.String(length=16), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('reminded_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('missed_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('attempts', sa.Integer(), server_default='0', nullable=False),
        sa.Column('last_attempt_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('done_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('outcome', sa.String(length=16), nullable=True),
        sa.Column('note', sa.Text(), nullable=True),
        sa.Column('done_by', sa.String(length=120), nullable=True),
        sa.ForeignKeyConstraint(['ticket_id'], ['ticket.id'], name=op.f('fk_follow_up_task_ticket_id_ticket')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_follow_up_task')),
        sa.UniqueConstraint('ticket_id', 'reason', name=op.f('uq_follow_up_task_ticket_id')),
    )
    with op.batch_alter_table('follow_up_task', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_follow_up_task_ticket_id'), ['ticket_id'], unique=False)
        batch_op.create_index('ix_follow_up_task_open_due', ['done_at', 'due_at'], unique=False)


def downgrade():
    with op.batch_alter_table('follow_up_task', schema=None) as batch_op:
        batch_op.drop_index('ix_follow_up_task_open_due')
        batch_op.drop_index(batch_op.f('ix_follow_up_task_ticket_id'))
    op.drop_table('follow_up_task')

"""template messages and short job codes: outbox variables, the job_code table

Revision ID: c3a9d0e5f1b2
Revises: b7e1c2d3a4f5
Create Date: 2026-11-26 02:30:00.000000

"""
from alembic import op
import sqlalchemy as sa



# revision identifiers, used by Alembic.
revision = 'c3a9d0e5f1b2'
down_revision = "b7e1c2d3a4f5"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        batch_op.add_column(sa.Column('variables', sa.JSON(), nullable=True))
    op.create_table(
        'job_code',
        sa.Column('code', sa.String(length=8), nullable=False),
        sa.Column('assignment_id', sa.Integer(), nullable=True),
        sa.Column('ticket_id', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['assignment_id'], ['assignment.id'], name=op.f('fk_job_code_assignment_id_assignment')),
        sa.ForeignKeyConstraint(['ticket_id'], ['ticket.id'], name=op.f('fk_job_code_ticket_id_ticket')),
        sa.PrimaryKeyConstraint('code', name=op.f('pk_job_code')),
        sa.UniqueConstraint('assignment_id', name=op.f('uq_job_code_assignment_id')),
        sa.UniqueConstraint('ticket_id', name=op.f('uq_job_code_ticket_id')),
    )


def downgrade():
    op.drop_table('job_code')
    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        batch_op.drop_column('variables')

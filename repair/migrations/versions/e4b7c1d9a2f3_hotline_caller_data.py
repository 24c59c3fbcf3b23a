"""hotline callers' personal information (caller name and phone, erasure time);
the outbox's recipient language (its text is rendered from kind + variables)

Revision ID: e4b7c1d9a2f3
Revises: e5b8c2d4f6a1
Create Date: 2026-11-26 04:40:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'e4b7c1d9a2f3'
down_revision = "e5b8c2d4f6a1"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        batch_op.add_column(sa.Column('locale', sa.String(length=16), nullable=True))
    with op.batch_alter_table('hotline_work_order', schema=None) as batch_op:
        batch_op.add_column(sa.Column('caller_name', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('caller_phone', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('personal_data_erased_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f('ix_hotline_work_order_caller_phone'), ['caller_phone'], unique=False)


def downgrade():
    with op.batch_alter_table('hotline_work_order', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_hotline_work_order_caller_phone'))
        batch_op.drop_column('personal_data_erased_at')
        batch_op.drop_column('caller_phone')
        batch_op.drop_column('caller_name')
    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        batch_op.drop_column('locale')

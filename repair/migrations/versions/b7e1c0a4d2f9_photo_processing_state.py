"""photo processing state: pending photos wait for the background job

Revision ID: b7e1c0a4d2f9
Revises: 4bbf9ea1fd3b
Create Date: 2026-11-27 09:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b7e1c0a4d2f9'
down_revision = "4bbf9ea1fd3b"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('photo', schema=None) as batch_op:
        batch_op.add_column(sa.Column('state', sa.String(length=16), server_default='ready', nullable=False))
        batch_op.add_column(sa.Column('original', sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f('ix_photo_state'), ['state'], unique=False)


def downgrade():
    with op.batch_alter_table('photo', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_photo_state'))
        batch_op.drop_column('original')
        batch_op.drop_column('state')

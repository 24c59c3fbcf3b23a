"""public results: a community's switch, a ticket's public mark

Revision ID: e5b8c2d4a7f1
Revises: e4b7c1d9a2f3
Create Date: 2026-11-26 04:40:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'e5b8c2d4a7f1'
down_revision = "e4b7c1d9a2f3"
branch_labels = None
depends_on = None


def upgrade():
    # Plain ADD COLUMN (SQLite too): rebuilding community would trip its foreign keys.
    op.add_column('community', sa.Column('publishes_results', sa.Boolean(), server_default=sa.true(), nullable=False))
    op.add_column('ticket', sa.Column('made_public_at', sa.DateTime(timezone=True), nullable=True))


def downgrade():
    # Plain DROP COLUMN (SQLite has it since 3.35): rebuilding community would trip
    # the foreign keys of the rows that refer to it.
    op.drop_column('ticket', 'made_public_at')
    op.drop_column('community', 'publishes_results')

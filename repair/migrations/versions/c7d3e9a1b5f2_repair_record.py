"""repair record: materials, labour and cost; arrival location opt-in

Revision ID: c7d3e9a1b5f2
Revises: 76ffd786ed18
Create Date: 2026-11-26 08:10:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c7d3e9a1b5f2'
down_revision = '76ffd786ed18'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'repair_material',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('ticket_id', sa.Integer(), nullable=False),
        sa.Column('event_id', sa.Integer(), nullable=True),
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('quantity_hundredths', sa.BigInteger(), nullable=False),
        sa.Column('unit', sa.String(length=16), nullable=True),
        sa.Column('unit_price_fen', sa.BigInteger(), nullable=False),
        sa.Column('amount_fen', sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(['event_id'], ['ticket_event.id'], name=op.f('fk_repair_material_event_id_ticket_event')),
        sa.ForeignKeyConstraint(['ticket_id'], ['ticket.id'], name=op.f('fk_repair_material_ticket_id_ticket')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_repair_material')),
    )
    op.create_index(op.f('ix_repair_material_ticket_id'), 'repair_material', ['ticket_id'], unique=False)
    # Plain ADD COLUMN (SQLite too): rebuilding these tables would trip the foreign
    # keys of the rows that refer to them.
    op.add_column('community', sa.Column('asks_arrival_location', sa.Boolean(), server_default=sa.false(), nullable=False))
    op.add_column('ticket', sa.Column('labour_minutes', sa.Integer(), nullable=True))
    op.add_column('ticket', sa.Column('labour_cost_fen', sa.BigInteger(), nullable=True))
    op.add_column('ticket', sa.Column('materials_cost_fen', sa.BigInteger(), nullable=True))
    op.add_column('ticket', sa.Column('total_cost_fen', sa.BigInteger(), nullable=True))
    op.add_column('ticket', sa.Column('arrival_latitude', sa.Float(), nullable=True))
    op.add_column('ticket', sa.Column('arrival_longitude', sa.Float(), nullable=True))


def downgrade():
    op.drop_column('ticket', 'arrival_longitude')
    op.drop_column('ticket', 'arrival_latitude')
    op.drop_column('ticket', 'total_cost_fen')
    op.drop_column('ticket', 'materials_cost_fen')
    op.drop_column('ticket', 'labour_cost_fen')
    op.drop_column('ticket', 'labour_minutes')
    op.drop_column('community', 'asks_arrival_location')
    op.drop_index(op.f('ix_repair_material_ticket_id'), table_name='repair_material')
    op.drop_table('repair_material')

"""danger and lifts: emergency numbers, an entrance's lifts, the declared danger

Revision ID: c3a9d5e1f7b2
Revises: c3a9d0e5f1b2
Create Date: 2026-11-26 02:10:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c3a9d5e1f7b2'
down_revision = "c3a9d0e5f1b2"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('community', schema=None) as batch_op:
        batch_op.add_column(sa.Column('fire_phone', sa.String(length=32), server_default='119', nullable=False))
        batch_op.add_column(sa.Column('police_phone', sa.String(length=32), server_default='110', nullable=False))
        batch_op.add_column(sa.Column('ambulance_phone', sa.String(length=32), server_default='120', nullable=False))
        batch_op.add_column(sa.Column('lift_emergency_phone', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('gas_emergency_phone', sa.String(length=32), nullable=True))

    op.create_table(
        'lift',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('entrance_id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('certificate_number', sa.String(length=64), nullable=True),
        sa.Column('emergency_phone', sa.String(length=32), nullable=True),
        sa.Column('sort_order', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['entrance_id'], ['entrance.id'], name=op.f('fk_lift_entrance_id_entrance')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_lift')),
    )
    with op.batch_alter_table('lift', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_lift_entrance_id'), ['entrance_id'], unique=False)

    # Plain ALTER TABLE ADD COLUMN (no batch): SQLite would otherwise copy the
    # ticket table, which the other tables' foreign keys forbid once it has rows.
    if op.get_bind().dialect.name == 'sqlite':
        op.execute('ALTER TABLE ticket ADD COLUMN lift_id INTEGER '
                   'CONSTRAINT fk_ticket_lift_id_lift REFERENCES lift (id)')
    else:
        op.add_column('ticket', sa.Column('lift_id', sa.Integer(), sa.ForeignKey('lift.id', name=op.f('fk_ticket_lift_id_lift')), nullable=True))
    op.add_column('ticket', sa.Column('declared_danger', sa.String(length=16), nullable=True))


def downgrade():
    with op.batch_alter_table('ticket', schema=None) as batch_op:
        if op.get_bind().dialect.name != 'sqlite':  # the copy drops it there
            batch_op.drop_constraint('fk_ticket_lift_id_lift', type_='foreignkey')
        batch_op.drop_column('declared_danger')
        batch_op.drop_column('lift_id')

    with op.batch_alter_table('lift', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_lift_entrance_id'))
    op.drop_table('lift')

    with op.batch_alter_table('community', schema=None) as batch_op:
        batch_op.drop_column('gas_emergency_phone')
        batch_op.drop_column('ambulance_phone')
        batch_op.drop_column('police_phone')
        batch_op.drop_column('fire_phone')

"""storm groups (并单): a report held in an open ticket's group, a follower's report

Revision ID: f1a7c3e9b5d2
Revises: f1c0a7e2b9d4
Create Date: 2026-11-26 08:20:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'f1a7c3e9b5d2'
down_revision = 'f1c0a7e2b9d4'
branch_labels = None
depends_on = None


def upgrade():
    # Plain ALTER TABLE ADD COLUMN (no batch): SQLite would otherwise copy the
    # ticket table, which the other tables' foreign keys forbid once it has rows.
    if op.get_bind().dialect.name == 'sqlite':
        op.execute('ALTER TABLE ticket ADD COLUMN group_of_id INTEGER '
                   'CONSTRAINT fk_ticket_group_of_id_ticket REFERENCES ticket (id)')
        op.execute('ALTER TABLE ticket_follower ADD COLUMN source_ticket_id INTEGER '
                   'CONSTRAINT fk_ticket_follower_source_ticket_id_ticket '
                   'REFERENCES ticket (id)')
    else:
        op.add_column('ticket', sa.Column('group_of_id', sa.Integer(), sa.ForeignKey('ticket.id', name=op.f('fk_ticket_group_of_id_ticket')), nullable=True))
        op.add_column('ticket_follower', sa.Column('source_ticket_id', sa.Integer(), sa.ForeignKey('ticket.id', name=op.f('fk_ticket_follower_source_ticket_id_ticket')), nullable=True))
    op.create_index(op.f('ix_ticket_group_of_id'), 'ticket', ['group_of_id'], unique=False)


def downgrade():
    op.drop_index(op.f('ix_ticket_group_of_id'), table_name='ticket')
    with op.batch_alter_table('ticket_follower', schema=None) as batch_op:
        if op.get_bind().dialect.name != 'sqlite':  # the copy drops it there
            batch_op.drop_constraint('fk_ticket_follower_source_ticket_id_ticket', type_='foreignkey')
        batch_op.drop_column('source_ticket_id')
    with op.batch_alter_table('ticket', schema=None) as batch_op:
        if op.get_bind().dialect.name != 'sqlite':
            batch_op.drop_constraint('fk_ticket_group_of_id_ticket', type_='foreignkey')
        batch_op.drop_column('group_of_id')

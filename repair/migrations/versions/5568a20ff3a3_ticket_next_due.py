"""a ticket's next deadline and when it was first escalated

Revision ID: 5568a20ff3a3
Revises: 6faa5fa29926
Create Date: 2026-11-22 10:34:47.435602

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '5568a20ff3a3'
down_revision = '6faa5fa29926'
branch_labels = None
depends_on = None

# The definitions as of this revision (repair.models may change later).
WORKING = ('new', 'dispatched', 'accepted', 'on_site')
CLOCKS = (
    ('triage_due_at', ('urgency_confirmed_at',)),
    ('contact_due_at', ('accepted_at', 'on_site_at', 'completed_at')),
    ('on_site_due_at', ('on_site_at', 'completed_at')),
)
BATCH = 1000


def upgrade():
    with op.batch_alter_table('ticket', schema=None) as batch_op:
        batch_op.add_column(sa.Column('next_due_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('escalated_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index('ix_ticket_next_due', ['next_due_at', 'id'], unique=False)

    ticket = sa.table(
        'ticket',
        sa.column('id', sa.Integer),
        sa.column('status', sa.String),
        sa.column('next_due_at', sa.DateTime(timezone=True)),
        sa.column('escalated_at', sa.DateTime(timezone=True)),
        *{
            sa.column(name, sa.DateTime(timezone=True))
            for due, met in CLOCKS
            for name in (due, *met)
        },
    )
    event = sa.table(
        'ticket_event',
        sa.column('ticket_id', sa.Integer),
        sa.column('action', sa.String),
        sa.column('at', sa.DateTime(timezone=True)),
    )
    connection = op.get_bind()
    # Only tickets still worked on have a next deadline: a few, even in a big year.
    rows = connection.execute(
        sa.select(ticket).where(ticket.c.status.in_(WORKING))
    ).mappings().all()
    updates = []
    for row in rows:
        pending = [
            row[due]
            for due, met in CLOCKS
            if row[due] is not None and all(row[name] is None for name in met)
        ]
        if pending:
            updates.append({'ticket_id': row['id'], 'due': min(pending)})
    statement = (
        ticket.update()
        .where(ticket.c.id == sa.bindparam('ticket_id'))
        .values(next_due_at=sa.bindparam('due'))
    )
    for first in range(0, len(updates), BATCH):
        connection.execute(statement, updates[first:first + BATCH])
    connection.execute(
        ticket.update().values(
            escalated_at=sa.select(sa.func.min(event.c.at))
            .where(event.c.ticket_id == ticket.c.id, event.c.action == 'escalated')
            .scalar_subquery()
        )
    )


def downgrade():
    with op.batch_alter_table('ticket', schema=None) as batch_op:
        batch_op.drop_index('ix_ticket_next_due')
        batch_op.drop_column('escalated_at')
        batch_op.drop_column('next_due_at')

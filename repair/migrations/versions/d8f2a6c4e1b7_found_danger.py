"""a ticket's danger found in its words; reminders are not escalations

The board orders tickets by their danger, declared by the resident or found in
the words of an urgent report (``found_danger``, kept by every assessment). Open
tickets get theirs from their classification now. A nudge before a deadline was
recorded as an escalation until this revision and marked the ticket escalated
for good: open tickets' ``escalated_at`` is recomputed from their escalations
that were not such nudges (rung "remind").

Revision ID: d8f2a6c4e1b7
Revises: c7d3e9a1b5f2
Create Date: 2026-11-27 18:15:00.000000

"""
import json
from types import SimpleNamespace

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'd8f2a6c4e1b7'
down_revision = 'c7d3e9a1b5f2'
branch_labels = None
depends_on = None

OPEN = ('new', 'dispatched', 'accepted', 'on_site', 'completed')


def _json(value):
    if value is None or isinstance(value, (dict, list)):
        return value
    return json.loads(value)


def upgrade():
    from repair.dangers import danger_in_words

    op.add_column('ticket', sa.Column('found_danger', sa.String(length=16), nullable=True))
    connection = op.get_bind()
    ticket = sa.table(
        'ticket',
        sa.column('id', sa.Integer),
        sa.column('status', sa.String),
        sa.column('urgency', sa.String),
        sa.column('declared_danger', sa.String),
        sa.column('category_id', sa.Integer),
        sa.column('classification', sa.Text),
        sa.column('found_danger', sa.String),
        sa.column('escalated_at', sa.DateTime(timezone=True)),
    )
    category = sa.table('category', sa.column('id', sa.Integer), sa.column('slug', sa.String))
    event = sa.table(
        'ticket_event',
        sa.column('ticket_id', sa.Integer),
        sa.column('at', sa.DateTime(timezone=True)),
        sa.column('action', sa.String),
        sa.column('data', sa.Text),
    )
    slugs = dict(connection.execute(sa.select(category.c.id, category.c.slug)).all())
    rows = connection.execute(
        sa.select(
            ticket.c.id,
            ticket.c.urgency,
            ticket.c.declared_danger,
            ticket.c.category_id,
            ticket.c.classification,
            ticket.c.escalated_at,
        ).where(ticket.c.status.in_(OPEN))
    ).all()
    for row in rows:
        slug = slugs.get(row.category_id)
        found = danger_in_words(
            SimpleNamespace(
                declared_danger=row.declared_danger,
                urgency=SimpleNamespace(value=(row.urgency or '').lower()) if row.urgency else None,
                category=SimpleNamespace(slug=slug) if slug else None,
                classification=_json(row.classification),
            )
        )
        values = {}
        if found is not None:
            values['found_danger'] = found.slug
        if row.escalated_at is not None:
            escalations = connection.execute(
                sa.select(event.c.at, event.c.data).where(
                    event.c.ticket_id == row.id, event.c.action == 'escalated'
                )
            ).all()
            breaches = [at for at, data in escalations if (_json(data) or {}).get('rung') != 'remind']
            earliest = min(breaches) if breaches else None
            if earliest != row.escalated_at:
                values['escalated_at'] = earliest
        if values:
            connection.execute(ticket.update().where(ticket.c.id == row.id).values(**values))


def downgrade():
    op.drop_column('ticket', 'found_danger')

"""hotline clock: a 12345 hotline's own deadline is a clock on the ticket

Revision ID: e4b7c2a9d1f3
Revises: c3a9d5e1f7b2
Create Date: 2026-11-26 04:50:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'e4b7c2a9d1f3'
down_revision = 'c3a9d5e1f7b2'
branch_labels = None
depends_on = None

WORKING = ('new', 'dispatched', 'accepted', 'on_site')


def upgrade():
    with op.batch_alter_table('ticket', schema=None) as batch_op:
        batch_op.add_column(sa.Column('hotline_due_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f('ix_ticket_hotline_due_at'), ['hotline_due_at'], unique=False)

    # The deadlines of orders already placed become their tickets' clocks, and the
    # next deadline of a ticket still worked on counts them.
    ticket = sa.table(
        'ticket',
        sa.column('id', sa.Integer),
        sa.column('status', sa.String),
        sa.column('completed_at', sa.DateTime(timezone=True)),
        sa.column('hotline_due_at', sa.DateTime(timezone=True)),
        sa.column('next_due_at', sa.DateTime(timezone=True)),
    )
    order = sa.table(
        'hotline_work_order',
        sa.column('ticket_id', sa.Integer),
        sa.column('due_at', sa.DateTime(timezone=True)),
    )
    due = (
        sa.select(order.c.due_at)
        .where(order.c.ticket_id == ticket.c.id)
        .scalar_subquery()
    )
    op.execute(
        ticket.update()
        .where(ticket.c.id.in_(sa.select(order.c.ticket_id).where(order.c.due_at.is_not(None))))
        .values(hotline_due_at=due)
    )
    op.execute(
        ticket.update()
        .where(
            ticket.c.hotline_due_at.is_not(None),
            ticket.c.status.in_(WORKING),
            ticket.c.completed_at.is_(None),
            sa.or_(
                ticket.c.next_due_at.is_(None),
                ticket.c.hotline_due_at < ticket.c.next_due_at,
            ),
        )
        .values(next_due_at=ticket.c.hotline_due_at)
    )


def downgrade():
    with op.batch_alter_table('ticket', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ticket_hotline_due_at'))
        batch_op.drop_column('hotline_due_at')

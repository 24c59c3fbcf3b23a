"""At submission: classify, set the clocks, route and dispatch, in one transaction."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from dispatch.assignment.routes import route_for
from dispatch.sla.escalation import deadlines_for, dispatch_to
from dispatch.triage.classifier import classify
from repair import lifecycle
from repair.db import db
from repair.models import Category, Ticket, Urgency


def on_ticket_opened(ticket: Ticket, actor: lifecycle.Actor, now: datetime) -> None:
    """Classifies the new ticket and dispatches it to its route's primary contractor."""
    text = " ".join(part for part in (ticket.spot, ticket.description) if part)
    result = classify(text, ticket.category.slug if ticket.category else None)
    category = db.session.scalar(
        sa.select(Category).where(Category.slug == result.category)
    )
    urgency = Urgency(result.urgency)
    lifecycle.assess(
        ticket,
        urgency,
        lifecycle.Actor.system(),
        now,
        deadlines=deadlines_for(ticket, urgency.value),
        category=category,
        classification=result.to_dict(),
    )
    route = route_for(ticket)
    if route is not None and route.primary.is_active:
        dispatch_to(
            ticket, route.primary, lifecycle.Actor.system(), now, role="primary"
        )

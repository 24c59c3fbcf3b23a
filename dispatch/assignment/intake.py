"""At submission: classify, set the clocks, route and dispatch, in one transaction."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from dispatch.assignment import storms
from dispatch.assignment.routes import may_take, route_for
from dispatch.sla.escalation import deadlines_for, dispatch_to
from dispatch.triage.classifier import classify
from repair import lifecycle
from repair.dangers import declared, declared_reason, likely_category
from repair.db import db
from repair.models import Category, Ticket, Urgency


def on_ticket_opened(
    ticket: Ticket,
    actor: lifecycle.Actor,
    now: datetime,
    urgency: Urgency | None = None,
) -> None:
    """Classifies the new ticket and dispatches it to its route's primary contractor,
    or holds it in the group of an open ticket of the same problem (storms.py).

    An officer filing for a caller may set the urgency: it counts as confirmed by
    them (the classifier's view is kept beside it)."""
    hint = ticket.category.slug if ticket.category else None
    danger = declared(ticket.declared_danger)
    # A declared danger suggests a category where the resident chose none, and
    # the words decide as they would over the resident's own choice: 有人被困
    # with "a child's head caught in the slide's railing" is not a lift.
    suggested = (
        likely_category(danger, ticket.entrance) if danger and not hint else None
    )
    result = classify(ticket.description, hint or suggested, spot=ticket.spot)
    verdict = result.to_dict()
    if danger is not None:
        # The resident said someone is in danger: urgent at once, whatever the text.
        reasons = verdict["reasons"]
        if suggested is not None:  # the resident chose nothing: no "hint" reason
            reasons = [r for r in reasons if not r.startswith("hint:")]
        verdict = {
            "urgency": Urgency.URGENT.value,
            "category": verdict["category"],
            "reasons": [declared_reason(danger, verdict["category"]), *reasons],
        }
    category = ticket.category
    if category is None or category.slug != verdict["category"]:
        category = db.session.scalar(
            sa.select(Category).where(Category.slug == verdict["category"])
        )
    confirmed = urgency is not None
    urgency = urgency or Urgency(verdict["urgency"])
    # Someone trapped in a lift is never held in another problem's group: it is
    # that lift, now, whatever else is open in the building; only another report of
    # someone trapped in the same lift joins it. Other dangers (a flood in a
    # burst-pipe storm) join the group, which becomes urgent if it was not
    # (raise_urgency).
    if storms.is_entrapment(ticket, urgency, category, verdict):
        parent = storms.entrapment_group(ticket, now)
    else:
        parent = storms.find_group(ticket, category, now)
    if parent is not None:
        storms.hold_in_group(ticket, parent, now)
        lifecycle.assess(
            ticket,
            urgency,
            actor if confirmed else lifecycle.Actor.system(),
            now,
            deadlines={},  # no clocks of its own: the group's ticket carries them
            category=category,
            classification=verdict,
            confirmed=confirmed,
        )
        if urgency is Urgency.URGENT:
            storms.raise_urgency(parent, ticket, now)
        return
    lifecycle.assess(
        ticket,
        urgency,
        actor if confirmed else lifecycle.Actor.system(),
        now,
        deadlines=deadlines_for(
            ticket, urgency.value, category=category, classification=verdict
        ),
        category=category,
        classification=verdict,
        confirmed=confirmed,
    )
    route = route_for(ticket)
    if route is not None and may_take(route.primary, ticket):
        dispatch_to(
            ticket, route.primary, lifecycle.Actor.system(), now, role="primary"
        )

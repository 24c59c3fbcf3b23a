"""Routing: which contractor, and which backup (AB岗), a ticket goes to."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import orm

from dispatch.contractor import tokens
from dispatch.models import Assignment, EndReason, Route
from repair import lifecycle
from repair.db import db, utcnow
from repair.models import Contractor, Ticket

#: Why an assignment ended that rules its contractor out for the ticket.
PASSED_REASONS = (EndReason.DECLINED, EndReason.UNDELIVERABLE)
#: The role of an assignment an officer made (the ladder's are "primary" and
#: "backup"): whom it took the job from is never handed it back by the ladder.
OFFICER_ROLE = "manual"


def route_for(ticket: Ticket) -> Route | None:
    """Returns the most specific route for the ticket's place and category: the
    place's own, then its building's, then the community's."""
    entrance_id = ticket.entrance_id
    building_id = ticket.entrance.building_id if ticket.entrance else None
    # The primary and the communities it serves come with the routes (may_take asks
    # both): two queries fewer in every report's write transaction.
    routes = (
        db.session.scalars(
            sa.select(Route)
            .where(Route.community_id == ticket.community_id)
            .options(orm.joinedload(Route.primary).joinedload(Contractor.communities))
        )
        .unique()
        .all()
    )

    def rank(route: Route) -> tuple[bool, ...] | None:
        if route.category_id not in (None, ticket.category_id):
            return None
        if route.entrance_id not in (None, entrance_id):
            return None
        if route.building_id not in (None, building_id):
            return None
        return (
            route.entrance_id is not None and route.category_id is not None,
            route.building_id is not None and route.category_id is not None,
            route.category_id is not None,
            route.entrance_id is not None,
            route.building_id is not None,
        )

    ranked = [(rank(route), route) for route in routes]
    ranked = [(key, route) for key, route in ranked if key is not None]
    return max(ranked, key=lambda pair: pair[0])[1] if ranked else None


def may_take(contractor: Contractor | None, ticket: Ticket) -> bool:
    """Returns whether the contractor may be sent the ticket: active, and serving
    the ticket's community."""
    return (
        contractor is not None
        and contractor.is_active
        and contractor.serves(ticket.community_id)
    )


def current_assignment(ticket: Ticket) -> Assignment | None:
    """Returns the ticket's open assignment, if any."""
    return db.session.scalar(
        sa.select(Assignment)
        .where(Assignment.ticket_id == ticket.id, Assignment.ended_at.is_(None))
        .order_by(Assignment.id.desc())
        .limit(1)
    )


def backup_for(ticket: Ticket) -> Contractor | None:
    """Returns whom to hand the ticket to: the route's backup or primary, never the
    current holder, anyone who declined it or could not be reached for it, nor a
    contractor outside the ticket's community."""
    route = route_for(ticket)
    if route is None:
        return None
    history = db.session.execute(
        sa.select(Assignment.contractor_id, Assignment.role, Assignment.end_reason)
        .where(Assignment.ticket_id == ticket.id)
        .order_by(Assignment.id)
    ).all()
    passed = {row.contractor_id for row in history if row.end_reason in PASSED_REASONS}
    passed.add(ticket.contractor_id)
    # Nor anyone an officer took the job away from: handing it back undid their
    # choice (an outside tester's gas report went back to the company the officer
    # had moved it from, when the one chosen did not answer).
    for before, after in zip(history, history[1:], strict=False):
        if after.role == OFFICER_ROLE:
            passed.add(before.contractor_id)
    for candidate in (route.backup, route.primary):
        if may_take(candidate, ticket) and candidate.id not in passed:
            return candidate
    return None


def end_assignment(
    ticket: Ticket, reason: EndReason, now: datetime | None = None
) -> Assignment | None:
    """Ends the ticket's current assignment (its job link dies with it).

    The ticket's row is locked first, as every action on a ticket locks it before
    anything else: an officer's reject ending the assignment while another's merge
    held the ticket deadlocked on PostgreSQL (assignment, then ticket; ticket,
    then assignment)."""
    lifecycle.lock(ticket)
    ending = current_assignment(ticket)
    if ending is not None:
        ending.ended_at = now or utcnow()
        ending.end_reason = reason
    return ending


def open_assignment(
    ticket: Ticket, contractor: Contractor, role: str, now: datetime | None = None
) -> Assignment:
    """Ends the current assignment (if any) and starts one for ``contractor``."""
    now = now or utcnow()
    if not lifecycle.opened_in_this_transaction(ticket):  # a new one has none
        end_assignment(ticket, EndReason.REASSIGNED, now)
    assignment = Assignment(
        ticket=ticket, contractor=contractor, role=role, created_at=now
    )
    db.session.add(assignment)
    db.session.flush()
    tokens.new_assignments()[assignment.id] = None  # no job code yet
    return assignment

"""The ticket lifecycle: states, allowed transitions, audit events, announcements.

Every change of a ticket's state goes through this module. A function here checks
the transition, writes the state, its timestamps and an event row in the caller's
transaction, and queues an announcement that is sent once the caller commits.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import Flask
from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session

from repair import signals
from repair.db import db, utcnow
from repair.models import (
    ActorType,
    Category,
    Channel,
    Entrance,
    Ticket,
    TicketEvent,
    TicketStatus,
)
from repair.numbering import next_ticket_number

S = TicketStatus
OPEN = frozenset({S.NEW, S.DISPATCHED, S.ACCEPTED, S.ON_SITE, S.COMPLETED})

#: action → (states it may start from, state it leads to)
TRANSITIONS: dict[str, tuple[frozenset[TicketStatus], TicketStatus]] = {
    "dispatch": (frozenset({S.NEW, S.DISPATCHED, S.ACCEPTED, S.ON_SITE}), S.DISPATCHED),
    "accept": (frozenset({S.DISPATCHED}), S.ACCEPTED),
    "decline": (frozenset({S.DISPATCHED, S.ACCEPTED}), S.DISPATCHED),
    "arrive": (frozenset({S.DISPATCHED, S.ACCEPTED}), S.ON_SITE),
    "complete": (frozenset({S.ACCEPTED, S.ON_SITE}), S.COMPLETED),
    "close": (frozenset({S.COMPLETED}), S.CLOSED),
    "reopen": (frozenset({S.COMPLETED, S.CLOSED}), S.DISPATCHED),
    "reject": (OPEN, S.REJECTED),
    "mark_duplicate": (OPEN, S.DUPLICATE),
}

_PENDING = "repairdesk.pending_events"
_READY = "repairdesk.ready_announcements"


class TransitionNotAllowed(Exception):
    """Raised when an action does not apply to the ticket's current state."""

    def __init__(self, ticket: Ticket, action: str):
        super().__init__(f"{ticket.number}: cannot {action} from {ticket.status.value}")
        self.ticket = ticket
        self.action = action


@dataclass(frozen=True)
class Actor:
    """Who acts and through which channel; recorded on every event."""

    type: ActorType
    channel: Channel
    id: int | None = None
    name: str | None = None

    @classmethod
    def system(cls) -> Actor:
        return cls(ActorType.SYSTEM, Channel.SYSTEM, name="RepairDesk")


@dataclass(frozen=True)
class Report:
    """What a resident (or an officer on their behalf) reports."""

    entrance: Entrance
    spot: str
    description: str
    category: Category | None = None
    reporter_name: str | None = None
    reporter_phone: str | None = None
    submission_key: str | None = None


def open_ticket(report: Report, actor: Actor, now: datetime | None = None) -> Ticket:
    """Creates a ticket in state ``new`` with its number and 'submitted' event."""
    now = now or utcnow()
    community = report.entrance.community
    ticket = Ticket(
        number=next_ticket_number(community, now),
        community=community,
        entrance=report.entrance,
        category=report.category,
        spot=report.spot,
        description=report.description,
        reporter_name=report.reporter_name,
        reporter_phone=report.reporter_phone,
        channel=actor.channel,
        status=S.NEW,
        submission_key=report.submission_key,
        resident_key=secrets.token_urlsafe(24),
        created_at=now,
        updated_at=now,
    )
    db.session.add(ticket)
    record_event(ticket, "submitted", actor, now, to_status=S.NEW)
    db.session.flush()
    signals.ticket_opened.send(ticket, ticket=ticket, actor=actor, now=now)
    return ticket


def can(ticket: Ticket, action: str) -> bool:
    """Returns whether ``action`` is allowed from the ticket's current state."""
    sources, _ = TRANSITIONS[action]
    return ticket.status in sources


def transition(
    ticket: Ticket,
    action: str,
    actor: Actor,
    now: datetime | None = None,
    *,
    note: str | None = None,
    data: dict[str, Any] | None = None,
    **fields: Any,
) -> TicketEvent:
    """Moves the ticket by ``action``, sets ``fields`` and records the event."""
    if not can(ticket, action):
        raise TransitionNotAllowed(ticket, action)
    now = now or utcnow()
    _, target = TRANSITIONS[action]
    previous = ticket.status
    for name, value in fields.items():
        if not hasattr(Ticket, name) or name in ("status", "id", "number"):
            raise AttributeError(f"not a ticket field for transitions: {name}")
        setattr(ticket, name, value)
    ticket.status = target
    ticket.updated_at = now
    return record_event(
        ticket,
        action,
        actor,
        now,
        from_status=previous,
        to_status=target,
        note=note,
        data=data,
    )


def record_event(
    ticket: Ticket,
    action: str,
    actor: Actor,
    now: datetime | None = None,
    *,
    from_status: TicketStatus | None = None,
    to_status: TicketStatus | None = None,
    note: str | None = None,
    data: dict[str, Any] | None = None,
) -> TicketEvent:
    """Adds an event (a transition or a plain note) and queues its announcement."""
    event = TicketEvent(
        ticket=ticket,
        at=now or utcnow(),
        action=action,
        from_status=from_status,
        to_status=to_status,
        actor_type=actor.type,
        actor_id=actor.id,
        actor_name=actor.name,
        channel=actor.channel,
        note=note,
        data=data,
    )
    db.session.add(event)
    db.session.info.setdefault(_PENDING, []).append(event)
    return event


def init_app(app: Flask) -> None:
    """Sends queued announcements after each commit of the app's session."""
    with app.app_context():
        session_class = db.session.session_factory.class_
    if getattr(session_class, "_repairdesk_announces", False):
        return
    sa_event.listen(session_class, "before_commit", _prepare_announcements)
    sa_event.listen(session_class, "after_commit", _announce)
    sa_event.listen(session_class, "after_rollback", _forget)
    session_class._repairdesk_announces = True


def _prepare_announcements(session: Session) -> None:
    # Objects are expired once committed, so their ids are read here, after a flush.
    if not session.info.get(_PENDING):
        return
    session.flush()
    events = session.info.pop(_PENDING)
    session.info.setdefault(_READY, []).extend(
        (event.ticket_id, event.id, event.action) for event in events
    )


def _announce(session: Session) -> None:
    for ticket_id, event_id, action in session.info.pop(_READY, []):
        signals.ticket_changed.send(
            None, ticket_id=ticket_id, event_id=event_id, action=action
        )


def _forget(session: Session) -> None:
    session.info.pop(_PENDING, None)
    session.info.pop(_READY, None)

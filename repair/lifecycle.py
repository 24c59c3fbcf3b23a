"""The ticket lifecycle: states, allowed transitions, audit events, announcements.

Every change of a ticket's state goes through this module. A function here locks the
ticket, checks the transition, writes the state, the timestamps the transition
implies (the table below) and an event row in the caller's transaction, and queues
an announcement that is sent once the caller commits.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import Flask

from repair import signals
from repair.dangers import danger_in_words
from repair.db import after_commit, db, transaction_memo, utcnow
from repair.models import (
    CLOCK_DEADLINES,
    CLOCK_MET_BY,
    OPEN_STATUSES,
    PAUSABLE_STATUSES,
    PAUSED_CLOCKS,
    WORKING_STATUSES,
    ActorType,
    Category,
    Channel,
    Entrance,
    Lift,
    PauseState,
    Rating,
    Ticket,
    TicketEvent,
    TicketPause,
    TicketStatus,
    Urgency,
)
from repair.numbering import next_ticket_number

S = TicketStatus


@dataclass(frozen=True)
class Move:
    """One action of the lifecycle: where it may start, where it leads, and which
    timestamp columns it sets to ``now`` or clears (the SLA clocks read them)."""

    sources: frozenset[TicketStatus]
    target: TicketStatus
    sets: tuple[str, ...] = ()
    #: columns set to ``now`` only if still empty (an earlier step left them unset)
    fills: tuple[str, ...] = ()
    clears: tuple[str, ...] = ()


#: The job is nobody's yet: it may go to another contractor at once (AB岗).
UNANSWERED = frozenset({S.NEW, S.DISPATCHED})

TRANSITIONS: dict[str, Move] = {
    "dispatch": Move(
        frozenset(WORKING_STATUSES),
        S.DISPATCHED,
        sets=("dispatched_at",),
        clears=("accepted_at", "on_site_at"),
    ),
    "accept": Move(frozenset({S.DISPATCHED}), S.ACCEPTED, sets=("accepted_at",)),
    # A declined ticket waits unassigned until the backup (or the officer) takes it.
    "decline": Move(
        frozenset({S.DISPATCHED, S.ACCEPTED}), S.NEW, clears=("accepted_at",)
    ),
    # Turning up answers the call too.
    "arrive": Move(
        frozenset({S.DISPATCHED, S.ACCEPTED}),
        S.ON_SITE,
        sets=("on_site_at",),
        fills=("accepted_at",),
    ),
    "complete": Move(
        frozenset({S.ACCEPTED, S.ON_SITE}),
        S.COMPLETED,
        sets=("completed_at",),
        fills=("on_site_at",),
    ),
    "close": Move(frozenset({S.COMPLETED}), S.CLOSED, sets=("closed_at",)),
    # The work is to be done again, so the clocks that measured it are unmet again
    # (dispatch restarts them and re-dispatches).
    "reopen": Move(
        frozenset({S.COMPLETED, S.CLOSED}),
        S.DISPATCHED,
        clears=("completed_at", "closed_at", "accepted_at", "on_site_at"),
    ),
    "reject": Move(frozenset(OPEN_STATUSES), S.REJECTED, sets=("closed_at",)),
    "mark_duplicate": Move(frozenset(OPEN_STATUSES), S.DUPLICATE, sets=("closed_at",)),
    # A report held in a storm group (并单), or merged into it by mistake, is taken
    # out again to be worked on its own (dispatch sets its clocks and sends it out).
    "split": Move(frozenset({S.NEW, S.DUPLICATE}), S.NEW, clears=("closed_at",)),
}
#: Columns only the transition table writes; a caller's payload never does.
OWNED_FIELDS = frozenset(
    {"status", "id", "number", "updated_at"}
    | {name for move in TRANSITIONS.values() for name in move.sets + move.clears}
    | {name for move in TRANSITIONS.values() for name in move.fills}
    | {"paused_at", "paused_seconds", "group_of_id"}
)


class TransitionNotAllowed(Exception):
    """Raised when an action does not apply to the ticket's current state (e.g.
    another user or a job acted on the ticket first)."""

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
    reporter_locale: str | None = None
    submission_key: str | None = None
    #: set by an officer filing for a caller (帮办), who has just heard them
    urgency: Urgency | None = None
    #: The danger the resident declared (repair.dangers), which makes it urgent.
    declared_danger: str | None = None
    lift: Lift | None = None
    #: An outside system's deadline (a 12345 hotline order's): a clock of its own.
    hotline_due_at: datetime | None = None


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
        reporter_locale=report.reporter_locale,
        channel=actor.channel,
        status=S.NEW,
        submission_key=report.submission_key,
        declared_danger=report.declared_danger,
        lift=report.lift,
        hotline_due_at=report.hotline_due_at,
        resident_key=secrets.token_urlsafe(24),
        created_at=now,
        updated_at=now,
    )
    db.session.add(ticket)
    record_event(ticket, "submitted", actor, now, to_status=S.NEW)
    db.session.flush()
    _locks_held()[ticket.id] = True  # a new row: nobody else sees it until the commit
    transaction_memo("opened tickets")[ticket.id] = True
    signals.ticket_opened.send(
        ticket, ticket=ticket, actor=actor, now=now, urgency=report.urgency
    )
    return ticket


DEADLINE_FIELDS = ("triage_due_at", "contact_due_at", "on_site_due_at")


def assess(
    ticket: Ticket,
    urgency: Urgency,
    actor: Actor,
    now: datetime | None = None,
    *,
    deadlines: Mapping[str, datetime | None],
    category: Category | None = None,
    classification: dict[str, Any] | None = None,
    confirmed: bool = False,
) -> TicketEvent:
    """Sets urgency, category and deadlines: by the classifier, or confirmed by an
    officer (which also meets the triage clock)."""
    lock(ticket)
    if not is_open(ticket):
        raise TransitionNotAllowed(ticket, "assess")
    now = now or utcnow()
    previous = {
        "urgency": ticket.urgency.value if ticket.urgency else None,
        "category": ticket.category.slug if ticket.category else None,
    }
    ticket.urgency = urgency
    if category is not None:
        ticket.category = category
    if classification is not None:
        ticket.classification = classification
    for name in DEADLINE_FIELDS:
        setattr(ticket, name, deadlines.get(name))
    found = danger_in_words(ticket)
    ticket.found_danger = found.slug if found else None
    if confirmed and ticket.urgency_confirmed_at is None:
        ticket.urgency_confirmed_at = now
    ticket.updated_at = now
    data = {
        "urgency": urgency.value,
        "category": ticket.category.slug if ticket.category else None,
        "previous": previous,
    }
    if classification is not None:
        data["reasons"] = list(classification.get("reasons", []))
    return record_event(
        ticket,
        "urgency_confirmed" if confirmed else "classified",
        actor,
        now,
        data=data,
    )


def restart_clocks(
    ticket: Ticket,
    deadlines: Mapping[str, datetime | None],
    actor: Actor,
    now: datetime | None = None,
) -> TicketEvent:
    """Sets new deadlines (e.g. after a reopen) and records it."""
    for name in DEADLINE_FIELDS:
        setattr(ticket, name, deadlines.get(name))
    # The new deadlines count from now: earlier pauses no longer move them.
    ticket.paused_seconds = 0.0
    ticket.updated_at = now or utcnow()
    return record_event(
        ticket,
        "clocks_restarted",
        actor,
        now,
        data={k: v.isoformat() for k, v in deadlines.items() if v is not None},
    )


def escalate(
    ticket: Ticket,
    actor: Actor,
    now: datetime | None = None,
    *,
    data: dict[str, Any] | None = None,
) -> TicketEvent:
    """Records that the escalation ladder acted on the ticket (dispatch decides
    when and how); the ticket stays marked as escalated from the first time."""
    now = now or utcnow()
    if ticket.escalated_at is None:
        ticket.escalated_at = now
    return record_event(ticket, "escalated", actor, now, data=data)


def remind(
    ticket: Ticket,
    actor: Actor,
    now: datetime | None = None,
    *,
    data: dict[str, Any] | None = None,
) -> TicketEvent:
    """Records a reminder before a deadline: the ticket is not late, so it is not
    marked as escalated."""
    return record_event(ticket, "sla_reminder", actor, now or utcnow(), data=data)


def can(ticket: Ticket, action: str) -> bool:
    """Returns whether ``action`` is allowed from the ticket's current state."""
    return ticket.status in TRANSITIONS[action].sources


def is_open(ticket: Ticket) -> bool:
    """Returns whether the ticket has not ended (closed, rejected or duplicate)."""
    return ticket.status in OPEN_STATUSES


def is_unanswered(ticket: Ticket) -> bool:
    """Returns whether no contractor has taken the job, so it may go to another."""
    return ticket.status in UNANSWERED


def lock(ticket: Ticket) -> Ticket:
    """Locks the ticket's row until the transaction ends and re-reads it.

    Of two actions on one ticket at the same moment, the second waits here and then
    sees what the first did. PostgreSQL takes the row lock (SELECT … FOR UPDATE);
    SQLite has held the database's write lock since the transaction began (BEGIN
    IMMEDIATE, see repair.db), so the re-read there is already current.
    """
    db.session.flush()
    ticket_id = ticket.id  # (an expired ticket is loaded here, in the transaction)
    if ticket_id in _locks_held():
        return ticket  # locked (or made) earlier in this transaction: still current
    db.session.refresh(ticket, with_for_update=True)
    _locks_held()[ticket_id] = True
    return ticket


def opened_in_this_transaction(ticket: Ticket) -> bool:
    """Returns whether this transaction opened the ticket: nothing of it exists
    outside yet (no assignment, no job queued under its id)."""
    return ticket.id in transaction_memo("opened tickets")


def _locks_held() -> dict[int, bool]:
    """Returns the ids of the tickets whose rows this transaction holds: a second
    lock() in one transaction (a submission locked its own new ticket four times)
    would only read again what the session already has. Savepoints never release
    them here: each is taken after the lock it follows."""
    return transaction_memo("locked tickets")


def transition(
    ticket: Ticket,
    action: str,
    actor: Actor,
    now: datetime | None = None,
    *,
    note: str | None = None,
    data: dict[str, Any] | None = None,
    **payload: Any,
) -> TicketEvent:
    """Moves the ticket by ``action``: locks and re-reads it, checks the move, sets
    the timestamps the move implies and the ``payload`` columns, records the event.

    Raises TransitionNotAllowed if the ticket (as it is now) does not allow it.
    """
    lock(ticket)
    if not can(ticket, action):
        raise TransitionNotAllowed(ticket, action)
    now = now or utcnow()
    move = TRANSITIONS[action]
    previous = ticket.status
    # Whatever moves the ticket on (arrival, completion, a handover …) ends a pause
    # and makes a request nobody decided moot.
    _settle_pause(ticket, actor, now, how=action)
    for name, value in payload.items():
        if not hasattr(Ticket, name) or name in OWNED_FIELDS:
            raise AttributeError(f"not a payload field for transitions: {name}")
        setattr(ticket, name, value)
    for name in move.clears:
        setattr(ticket, name, None)
    for name in move.sets:
        setattr(ticket, name, now)
    for name in move.fills:
        if getattr(ticket, name) is None:
            setattr(ticket, name, now)
    ticket.status = move.target
    ticket.updated_at = now
    return record_event(
        ticket,
        action,
        actor,
        now,
        from_status=previous,
        to_status=move.target,
        note=note,
        data=data,
    )


# --- Pauses (挂起): the contractor asks, the officer decides, the clocks stand still


def open_pause(ticket: Ticket) -> TicketPause | None:
    """Returns the ticket's pause that is asked for or running, if there is one."""
    return db.session.scalar(
        sa.select(TicketPause)
        .where(
            TicketPause.ticket_id == ticket.id,
            TicketPause.state.in_((PauseState.REQUESTED, PauseState.ACTIVE)),
        )
        .order_by(TicketPause.id.desc())
        .limit(1)
    )


def can_request_pause(ticket: Ticket) -> bool:
    """Returns whether the contractor may ask to pause now (they hold the job and
    nothing is asked for or running yet)."""
    return ticket.status in PAUSABLE_STATUSES and open_pause(ticket) is None


def request_pause(
    ticket: Ticket,
    actor: Actor,
    now: datetime | None = None,
    *,
    reason: str,
    resume_expected_at: datetime,
    contractor_id: int | None = None,
    cause: str = "other",
) -> TicketPause:
    """Records the contractor's request to pause the on-site clock, with the reason
    and the expected resume time; the clocks run on until the officer approves.
    ``cause`` is the reason's kind (parts, access, weather, other): what a resident's
    SMS says instead of the contractor's own words."""
    lock(ticket)
    now = now or utcnow()
    if not can_request_pause(ticket) or resume_expected_at <= now:
        raise TransitionNotAllowed(ticket, "request_pause")
    pause = TicketPause(
        ticket=ticket,
        contractor_id=contractor_id,
        state=PauseState.REQUESTED,
        reason=reason,
        resume_expected_at=resume_expected_at,
        requested_at=now,
    )
    db.session.add(pause)
    db.session.flush()
    ticket.updated_at = now
    record_event(
        ticket,
        "pause_requested",
        actor,
        now,
        note=reason,
        data={
            "pause_id": pause.id,
            "resume_expected_at": resume_expected_at.isoformat(),
            "cause": cause,
        },
    )
    return pause


def _pending_request(ticket: Ticket, action: str, pause_id: int | None):
    lock(ticket)
    pause = open_pause(ticket)
    if (
        pause is None
        or pause.state is not PauseState.REQUESTED
        or (pause_id is not None and pause.id != pause_id)
        or ticket.status not in PAUSABLE_STATUSES
    ):
        raise TransitionNotAllowed(ticket, action)
    return pause


class PauseOutOfDate(TransitionNotAllowed):
    """Raised when the officer approves a request whose expected time to go on has
    already passed: approved, it would end the moment it began."""

    def __init__(self, ticket: Ticket, pause: TicketPause):
        super().__init__(ticket, "approve_pause")
        self.pause = pause


def approve_pause(
    ticket: Ticket,
    actor: Actor,
    now: datetime | None = None,
    *,
    pause_id: int | None = None,
) -> TicketEvent:
    """Approves the pending request (the one the officer saw, if ``pause_id``): the
    paused clocks stop now. A request whose expected time to go on has passed is
    not approved (PauseOutOfDate): the officer refuses it and the contractor asks
    again with a new time."""
    pause = _pending_request(ticket, "approve_pause", pause_id)
    now = now or utcnow()
    if pause.resume_expected_at <= now:
        raise PauseOutOfDate(ticket, pause)
    pause.state = PauseState.ACTIVE
    pause.decided_at = pause.started_at = now
    pause.decided_by = actor.name
    ticket.paused_at = now
    ticket.updated_at = now
    return record_event(
        ticket,
        "pause_approved",
        actor,
        now,
        data={
            "pause_id": pause.id,
            "resume_expected_at": pause.resume_expected_at.isoformat(),
        },
    )


def refuse_pause(
    ticket: Ticket,
    actor: Actor,
    now: datetime | None = None,
    *,
    note: str | None = None,
    pause_id: int | None = None,
) -> TicketEvent:
    """Refuses the pending request: the clocks never stopped."""
    pause = _pending_request(ticket, "refuse_pause", pause_id)
    now = now or utcnow()
    pause.state = PauseState.REFUSED
    pause.decided_at = now
    pause.decided_by = actor.name
    pause.decision_note = note
    ticket.updated_at = now
    return record_event(
        ticket, "pause_refused", actor, now, note=note, data={"pause_id": pause.id}
    )


def resume(
    ticket: Ticket, actor: Actor, now: datetime | None = None, *, how: str
) -> TicketEvent:
    """Ends the running pause (the clocks go on, their deadlines moved by the time
    paused), or withdraws a request not yet decided. ``how``: contractor, officer or
    expected (the expected time came)."""
    lock(ticket)
    now = now or utcnow()
    if open_pause(ticket) is None:
        raise TransitionNotAllowed(ticket, "resume")
    return _settle_pause(ticket, actor, now, how=how)


def _settle_pause(
    ticket: Ticket, actor: Actor, now: datetime, *, how: str
) -> TicketEvent | None:
    if ticket.status not in PAUSABLE_STATUSES:
        # A pause is asked for only in these states, and every move out of them
        # (all go through transition) settles it: none can be open, no query.
        return None
    pause = open_pause(ticket)
    if pause is None:
        return None
    ticket.updated_at = now
    pause.ended_at = now
    if pause.state is PauseState.REQUESTED:
        withdrawn = how == "contractor"
        pause.state = PauseState.WITHDRAWN if withdrawn else PauseState.LAPSED
        pause.ended_how = how
        return record_event(
            ticket,
            "pause_withdrawn" if withdrawn else "pause_lapsed",
            actor,
            now,
            data={"pause_id": pause.id, "how": how},
        )
    paused = now - (ticket.paused_at or now)
    moved = {}
    for clock in PAUSED_CLOCKS:
        column = CLOCK_DEADLINES[clock]
        due = getattr(ticket, column)
        if due is not None and all(
            getattr(ticket, met) is None for met in CLOCK_MET_BY[clock]
        ):
            setattr(ticket, column, due + paused)
            moved[column] = (due + paused).isoformat()
    if moved:
        ticket.paused_seconds = (ticket.paused_seconds or 0.0) + paused.total_seconds()
    ticket.paused_at = None
    pause.state = PauseState.ENDED
    pause.ended_how = how
    pause.paused_seconds = paused.total_seconds()
    return record_event(
        ticket,
        "resumed",
        actor,
        now,
        data={
            "pause_id": pause.id,
            "how": how,
            "paused_seconds": paused.total_seconds(),
            "moved": moved,
        },
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
    db.session.flush()
    signals.event_recorded.send(ticket, ticket=ticket, event=event)
    ticket_id, event_id = ticket.id, event.id
    after_commit(
        lambda: signals.ticket_changed.send(
            None, ticket_id=ticket_id, event_id=event_id, action=action
        )
    )
    return event


#: A rating of this many stars or fewer is low: the community calls the resident
#: back about it (dispatch.followup), and their page says so.
LOW_RATING_STARS = 2


def rate(
    ticket: Ticket,
    stars: int,
    actor: Actor,
    now: datetime | None = None,
    *,
    comment: str | None = None,
) -> TicketEvent | None:
    """Records the resident's rating of a closed ticket and its 'rated' event, once:
    returns None when the ticket is not closed or already rated (a second post, or
    two at the same moment: the ticket's lock puts one after the other)."""
    lock(ticket)
    rated = db.session.scalar(sa.select(Rating).where(Rating.ticket_id == ticket.id))
    if ticket.status is not S.CLOSED or rated is not None:
        return None
    now = now or utcnow()
    db.session.add(
        Rating(ticket_id=ticket.id, stars=stars, comment=comment, created_at=now)
    )
    db.session.flush()
    return record_event(ticket, "rated", actor, now, data={"stars": stars})


def join_group(
    ticket: Ticket, parent: Ticket, actor: Actor, now: datetime | None = None
) -> TicketEvent:
    """Holds a new report in the group of an open ticket of the same problem (并单):
    it is not dispatched on its own, and the officer is offered the merge. Records
    ``grouped`` on the report and ``group_joined`` on the group's ticket."""
    lock(parent)
    if (
        ticket.status is not S.NEW
        or parent.status not in WORKING_STATUSES
        or parent.group_of_id is not None
        or parent.id == ticket.id
    ):
        raise TransitionNotAllowed(ticket, "join_group")
    now = now or utcnow()
    ticket.group_of_id = parent.id
    ticket.updated_at = now
    record_event(parent, "group_joined", actor, now, data={"member": ticket.number})
    return record_event(ticket, "grouped", actor, now, data={"group": parent.number})


def split_out(ticket: Ticket, actor: Actor, now: datetime | None = None) -> TicketEvent:
    """Takes a report out of the group it was held in or merged into: it is a
    ticket of its own again (state ``new``), recorded on both tickets."""
    lock(ticket)
    parent_id = ticket.group_of_id or ticket.duplicate_of_id
    if parent_id is None or not can(ticket, "split"):
        raise TransitionNotAllowed(ticket, "split")
    now = now or utcnow()
    parent = db.session.get(Ticket, parent_id)
    ticket.group_of_id = None
    event = transition(
        ticket, "split", actor, now, data={"group": parent.number}, duplicate_of_id=None
    )
    record_event(parent, "group_split", actor, now, data={"member": ticket.number})
    return event


def set_public(
    ticket: Ticket, public: bool, actor: Actor, now: datetime | None = None
) -> TicketEvent | None:
    """Lets the public results show the ticket's description (or stop showing it);
    returns the event, or None when the ticket already was so."""
    lock(ticket)
    if (ticket.made_public_at is not None) == public:
        return None
    now = now or utcnow()
    ticket.made_public_at = now if public else None
    return record_event(ticket, "made_public" if public else "made_private", actor, now)


def init_app(app: Flask) -> None:
    """Nothing to bind: announcements ride on repair.db.after_commit."""

"""A contractor's work on an assignment: accept, decline, arrive, complete.

The job page and SMS replies both call these. Each is safe to repeat: doing
again what is already done changes nothing and says so (returns False).
"""

from __future__ import annotations

from datetime import datetime

from dispatch.assignment.routes import end_assignment
from dispatch.models import Assignment, EndReason
from dispatch.sla.escalation import dispatch_backup
from repair import lifecycle
from repair.db import db, utcnow
from repair.models import ActorType, Channel, Ticket
from repair.photos.uploads import PhotoUploads


class JobMoved(Exception):
    """The assignment is no longer current: the job went to someone else."""


def actor_for(assignment: Assignment, channel: Channel) -> lifecycle.Actor:
    """Returns the contractor as the actor of an event."""
    return lifecycle.Actor(
        ActorType.CONTRACTOR,
        channel,
        assignment.contractor_id,
        assignment.contractor.name,
    )


def _take(assignment: Assignment) -> Ticket:
    """Locks the assignment's ticket and re-reads both; raises JobMoved if the
    assignment ended meanwhile (declined, reassigned, handed to the backup)."""
    ticket = lifecycle.lock(assignment.ticket)
    db.session.refresh(assignment)
    if not assignment.is_current:
        raise JobMoved(assignment.end_reason)
    return ticket


def _act(
    assignment: Assignment, action: str, channel: Channel, now: datetime | None
) -> bool:
    """Takes a one-tap action on the job; False if it no longer applies."""
    ticket = _take(assignment)
    if not lifecycle.can(ticket, action):
        return False
    lifecycle.transition(
        ticket,
        action,
        actor_for(assignment, channel),
        now or utcnow(),
        data={"assignment_id": assignment.id},
    )
    return True


def accept(
    assignment: Assignment, channel: Channel, now: datetime | None = None
) -> bool:
    """Accepts the job (meets the contact clock); False if already accepted."""
    return _act(assignment, "accept", channel, now)


def decline(
    assignment: Assignment,
    channel: Channel,
    reason: str,
    now: datetime | None = None,
) -> bool:
    """Declines the job and hands it to the backup at once; False if already done."""
    ticket = _take(assignment)
    if not lifecycle.can(ticket, "decline"):
        return False
    now = now or utcnow()
    lifecycle.transition(
        ticket,
        "decline",
        actor_for(assignment, channel),
        now,
        note=reason or None,
        data={"assignment_id": assignment.id},
    )
    end_assignment(ticket, EndReason.DECLINED, now)
    dispatch_backup(ticket, now, reason="declined")
    return True


def arrive(
    assignment: Assignment, channel: Channel, now: datetime | None = None
) -> bool:
    """Marks the contractor on site (meets the on-site clock); False if already."""
    return _act(assignment, "arrive", channel, now)


def complete(
    assignment: Assignment,
    channel: Channel,
    worker_name: str,
    note: str | None,
    photos: PhotoUploads,
    now: datetime | None = None,
) -> bool:
    """Completes the job with its photos, the worker's name and a note."""
    ticket = _take(assignment)
    if not lifecycle.can(ticket, "complete"):
        return False
    photos.attach(ticket, "completion")
    lifecycle.transition(
        ticket,
        "complete",
        actor_for(assignment, channel),
        now or utcnow(),
        note=note or None,
        data={"assignment_id": assignment.id, "photos": len(photos.kept)},
        completed_by_name=worker_name,
        completion_note=note or None,
    )
    return True


def request_pause(
    assignment: Assignment,
    channel: Channel,
    reason: str,
    resume_expected_at: datetime,
    now: datetime | None = None,
):
    """Asks the officer to pause the on-site clock (挂起) until the expected time."""
    ticket = _take(assignment)
    return lifecycle.request_pause(
        ticket,
        actor_for(assignment, channel),
        now or utcnow(),
        reason=reason,
        resume_expected_at=resume_expected_at,
        contractor_id=assignment.contractor_id,
    )


def resume(assignment: Assignment, channel: Channel, now: datetime | None = None):
    """Goes on with the job: ends the pause, or withdraws a request not yet decided;
    False if there is none (a repeated tap, or the officer acted first)."""
    ticket = _take(assignment)
    if lifecycle.open_pause(ticket) is None:
        return False
    lifecycle.resume(
        ticket, actor_for(assignment, channel), now or utcnow(), how="contractor"
    )
    return True

"""A contractor's work on an assignment: accept, decline, arrive, complete.

The job page and SMS replies both call these. Each is safe to repeat: doing
again what is already done changes nothing and says so (returns False).
"""

from __future__ import annotations

from datetime import datetime

from dispatch.assignment.routes import end_assignment
from dispatch.models import Assignment
from repair import lifecycle
from repair.db import utcnow
from repair.models import ActorType, Channel, TicketStatus
from repair.photos.uploads import PhotoUploads

S = TicketStatus


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


def _current(assignment: Assignment) -> None:
    if not assignment.is_current:
        raise JobMoved(assignment.end_reason)


def accept(
    assignment: Assignment, channel: Channel, now: datetime | None = None
) -> bool:
    """Accepts the job (meets the contact clock); False if already accepted."""
    _current(assignment)
    ticket = assignment.ticket
    if ticket.status is not S.DISPATCHED:
        return False
    now = now or utcnow()
    lifecycle.transition(
        ticket,
        "accept",
        actor_for(assignment, channel),
        now,
        data={"assignment_id": assignment.id},
        accepted_at=now,
    )
    return True


def decline(
    assignment: Assignment,
    channel: Channel,
    reason: str,
    now: datetime | None = None,
) -> bool:
    """Declines the job and hands it to the backup at once; False if already done."""
    from dispatch.sla.escalation import dispatch_backup

    _current(assignment)
    ticket = assignment.ticket
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
        accepted_at=None,
    )
    end_assignment(ticket, "declined")
    dispatch_backup(ticket, now, reason="declined")
    return True


def arrive(
    assignment: Assignment, channel: Channel, now: datetime | None = None
) -> bool:
    """Marks the contractor on site (meets the on-site clock); False if already."""
    _current(assignment)
    ticket = assignment.ticket
    if ticket.status not in (S.DISPATCHED, S.ACCEPTED):
        return False
    now = now or utcnow()
    fields = {"on_site_at": now}
    if ticket.accepted_at is None:
        fields["accepted_at"] = now  # turning up answers the call too
    lifecycle.transition(
        ticket,
        "arrive",
        actor_for(assignment, channel),
        now,
        data={"assignment_id": assignment.id},
        **fields,
    )
    return True


def complete(
    assignment: Assignment,
    channel: Channel,
    worker_name: str,
    note: str | None,
    photos: PhotoUploads,
    now: datetime | None = None,
) -> bool:
    """Completes the job with its photos, the worker's name and a note."""
    _current(assignment)
    ticket = assignment.ticket
    if ticket.status not in (S.ACCEPTED, S.ON_SITE):
        return False
    now = now or utcnow()
    photos.attach(ticket, "completion")
    fields = {
        "completed_at": now,
        "completed_by_name": worker_name,
        "completion_note": note or None,
    }
    if ticket.on_site_at is None:
        fields["on_site_at"] = now
    lifecycle.transition(
        ticket,
        "complete",
        actor_for(assignment, channel),
        now,
        note=note or None,
        data={"assignment_id": assignment.id, "photos": len(photos.kept)},
        **fields,
    )
    return True

"""A contractor's work on an assignment: accept, decline, arrive, complete.

The job page and SMS replies both call these. Each is safe to repeat: doing
again what is already done changes nothing and says so (returns False).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from dispatch.assignment.routes import end_assignment
from dispatch.contractor.record import RepairRecord
from dispatch.models import Assignment, EndReason
from dispatch.sla.escalation import dispatch_backup
from repair import lifecycle
from repair.db import db, utcnow
from repair.models import ActorType, Channel, RepairMaterial, Ticket
from repair.money import quantity_text
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


@dataclass(frozen=True)
class Arrival:
    """The evidence of an arrival: a photo of the place, or why there is none, and
    the location only where the community asks for it and the contractor agreed."""

    photos: PhotoUploads | None = None
    no_photo_reason: str | None = None
    location: tuple[float, float] | None = None


def arrive(
    assignment: Assignment,
    channel: Channel,
    now: datetime | None = None,
    evidence: Arrival | None = None,
) -> bool:
    """Marks the contractor on site at the server's time (meets the on-site clock)
    with the evidence given; False if already."""
    ticket = _take(assignment)
    if not lifecycle.can(ticket, "arrive"):
        return False
    evidence = evidence or Arrival()
    photos = evidence.photos.attach(ticket, "arrival") if evidence.photos else []
    located = evidence.location is not None and ticket.community.asks_arrival_location
    payload = {}
    if located:
        payload = {
            "arrival_latitude": evidence.location[0],
            "arrival_longitude": evidence.location[1],
        }
    lifecycle.transition(
        ticket,
        "arrive",
        actor_for(assignment, channel),
        now or utcnow(),
        note=evidence.no_photo_reason or None,
        data={
            "assignment_id": assignment.id,
            "photos": len(photos),
            "location": located,
        },
        **payload,
    )
    return True


def complete(
    assignment: Assignment,
    channel: Channel,
    worker_name: str,
    note: str | None,
    photos: PhotoUploads,
    now: datetime | None = None,
    *,
    record: RepairRecord | None = None,
    before: PhotoUploads | None = None,
) -> bool:
    """Completes the job with its photos (after, and before if any), the worker's
    name, a note and the repair record (materials, labour, cost)."""
    ticket = _take(assignment)
    if not lifecycle.can(ticket, "complete"):
        return False
    if before is not None:
        before.attach(ticket, "before")
    photos.attach(ticket, "completion")
    data = {"assignment_id": assignment.id, "photos": len(photos.kept)}
    costs = {}
    if record is not None:
        data |= {
            "before_photos": len(before.kept) if before else 0,
            "materials": [
                {
                    "name": line.name,
                    "quantity": quantity_text(line.quantity_hundredths),
                    "unit": line.unit,
                    "unit_price_fen": line.unit_price_fen,
                    "amount_fen": line.amount_fen,
                }
                for line in record.materials
            ],
            "labour_minutes": record.labour_minutes,
            "labour_cost_fen": record.labour_cost_fen,
            "materials_cost_fen": record.materials_cost_fen,
            "total_cost_fen": record.total_cost_fen,
        }
        # A rework is recorded as well: the ticket holds the sums of every one.
        costs = {
            "labour_minutes": (ticket.labour_minutes or 0) + record.labour_minutes,
            "labour_cost_fen": (ticket.labour_cost_fen or 0) + record.labour_cost_fen,
            "materials_cost_fen": (ticket.materials_cost_fen or 0)
            + record.materials_cost_fen,
            "total_cost_fen": (ticket.total_cost_fen or 0) + record.total_cost_fen,
        }
    event = lifecycle.transition(
        ticket,
        "complete",
        actor_for(assignment, channel),
        now or utcnow(),
        note=note or None,
        data=data,
        completed_by_name=worker_name,
        completion_note=note or None,
        **costs,
    )
    if record is not None:
        db.session.add_all(
            RepairMaterial(
                ticket=ticket,
                event_id=event.id,
                name=line.name,
                quantity_hundredths=line.quantity_hundredths,
                unit=line.unit or None,
                unit_price_fen=line.unit_price_fen,
                amount_fen=line.amount_fen,
            )
            for line in record.materials
        )
    return True


def request_pause(
    assignment: Assignment,
    channel: Channel,
    reason: str,
    resume_expected_at: datetime,
    now: datetime | None = None,
    cause: str = "other",
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
        cause=cause,
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

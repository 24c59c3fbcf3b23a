"""Rework (返修): the repair was reported not fixed and the job goes out again."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from repair.db import db
from repair.models import Photo, Ticket, TicketEvent


@dataclass(frozen=True)
class Rework:
    """The latest reopen of a ticket: when, what the resident said, their photos."""

    at: datetime
    note: str | None
    photos: list[Photo]
    by_resident: bool


def rework_of(ticket: Ticket) -> Rework | None:
    """Returns the ticket's latest reopen, or None if it was never reopened."""
    event = db.session.scalar(
        sa.select(TicketEvent)
        .where(TicketEvent.ticket_id == ticket.id, TicketEvent.action == "reopen")
        .order_by(TicketEvent.id.desc())
        .limit(1)
    )
    if event is None:
        return None
    photos = sorted(
        (photo for photo in ticket.photos if photo.purpose == "reopen"),
        key=lambda photo: photo.created_at or event.at,
        reverse=True,
    )
    return Rework(
        at=event.at,
        note=event.note,
        photos=photos,
        by_resident=bool((event.data or {}).get("by_resident")),
    )

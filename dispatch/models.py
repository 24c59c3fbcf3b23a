"""Dispatch's tables: routes, assignments, SLA policy and steps, the SMS outbox."""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from repair.db import UTCDateTime, db, utcnow
from repair.models import Contractor, Ticket, stored_enum


class EndReason(str, enum.Enum):
    """Why a contractor's turn at a ticket ended."""

    DECLINED = "declined"
    UNDELIVERABLE = "undeliverable"  # the job offer could not be delivered
    REASSIGNED = "reassigned"  # another assignment replaced it
    WITHDRAWN = "withdrawn"  # the ticket was rejected or merged


class MessageStatus(str, enum.Enum):
    """Where an outbox message is; only dispatch.messaging.outbox writes it."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    FAILED = "failed"
    EXPIRED = "expired"


class Route(db.Model):
    """Which contractor (and backup, AB岗) a community's category goes to.

    Lookup prefers place (an entrance or a common area) + category, then building
    + category, then category, then place, then building, then the community's
    default route (all left empty).
    """

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(sa.ForeignKey("community.id"), index=True)
    category_id: Mapped[int | None] = mapped_column(sa.ForeignKey("category.id"))
    building_id: Mapped[int | None] = mapped_column(sa.ForeignKey("building.id"))
    #: One place's own route (a common area's, typically); None for all places.
    entrance_id: Mapped[int | None] = mapped_column(sa.ForeignKey("entrance.id"))
    primary_contractor_id: Mapped[int] = mapped_column(sa.ForeignKey("contractor.id"))
    backup_contractor_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("contractor.id")
    )

    primary: Mapped[Contractor] = relationship(foreign_keys=[primary_contractor_id])
    backup: Mapped[Contractor | None] = relationship(
        foreign_keys=[backup_contractor_id]
    )


class Assignment(db.Model):
    """One contractor's turn at one ticket; its job link lives as long as it does."""

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(sa.ForeignKey("ticket.id"), index=True)
    contractor_id: Mapped[int] = mapped_column(sa.ForeignKey("contractor.id"))
    role: Mapped[str] = mapped_column(sa.String(16))  # primary | backup | manual
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    end_reason: Mapped[EndReason | None] = mapped_column(stored_enum(EndReason, 32))

    ticket: Mapped[Ticket] = relationship()
    contractor: Mapped[Contractor] = relationship()

    @property
    def is_current(self) -> bool:
        return self.ended_at is None


class SlaPolicy(db.Model):
    """A community's own SLA durations in seconds; empty fields use the settings."""

    community_id: Mapped[int] = mapped_column(
        sa.ForeignKey("community.id"), primary_key=True
    )
    triage_seconds: Mapped[int | None]
    urgent_contact_seconds: Mapped[int | None]
    urgent_on_site_seconds: Mapped[int | None]
    general_on_site_seconds: Mapped[int | None]


class SlaStep(db.Model):
    """A rung of the escalation ladder that was taken: taken once per deadline."""

    __table_args__ = (
        sa.UniqueConstraint("ticket_id", "clock", "rung", "due_at", name="uq_sla_step"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(sa.ForeignKey("ticket.id"), index=True)
    clock: Mapped[str] = mapped_column(sa.String(16))
    rung: Mapped[str] = mapped_column(sa.String(16))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    taken_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class OutboxMessage(db.Model):
    """An SMS to send, written in the transaction of the event that causes it."""

    __table_args__ = (sa.Index("ix_outbox_pending", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: event id + recipient + template: the same event never messages anyone twice.
    dedupe_key: Mapped[str] = mapped_column(sa.String(120), unique=True)
    ticket_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("ticket.id"), index=True
    )
    event_id: Mapped[int | None] = mapped_column(sa.ForeignKey("ticket_event.id"))
    template: Mapped[str] = mapped_column(sa.String(32))
    recipient_type: Mapped[str] = mapped_column(sa.String(16))
    recipient_id: Mapped[int | None]
    to_phone: Mapped[str] = mapped_column(sa.String(32))
    body: Mapped[str] = mapped_column(sa.Text)
    #: The template's named variables (dispatch.messaging.templates): what a
    #: domestic provider receives instead of the body.
    variables: Mapped[dict[str, str] | None] = mapped_column(sa.JSON)
    #: The recipient's language: which of our own texts renders the variables.
    locale: Mapped[str | None] = mapped_column(sa.String(16))
    urgent: Mapped[bool] = mapped_column(default=False)
    status: Mapped[MessageStatus] = mapped_column(
        stored_enum(MessageStatus), default=MessageStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    provider_id: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    provider_status: Mapped[str | None] = mapped_column(sa.String(32))
    error_code: Mapped[int | None]
    error_message: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    ticket: Mapped[Ticket | None] = relationship()


class InboundSms(db.Model):
    """A text a contractor sent us; its provider id makes a retried webhook harmless."""

    id: Mapped[int] = mapped_column(primary_key=True)
    provider_id: Mapped[str] = mapped_column(sa.String(64), unique=True)
    from_phone: Mapped[str] = mapped_column(sa.String(32), index=True)
    body: Mapped[str] = mapped_column(sa.Text)
    outcome: Mapped[str] = mapped_column(sa.String(32))
    ticket_id: Mapped[int | None] = mapped_column(sa.ForeignKey("ticket.id"))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class JobCode(db.Model):
    """A short code typed or tapped on /j: a contractor's job (one per assignment)
    or a resident's own tracking page (one per ticket)."""

    code: Mapped[str] = mapped_column(sa.String(8), primary_key=True)
    assignment_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("assignment.id"), unique=True
    )
    ticket_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("ticket.id"), unique=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SmsOptOut(db.Model):
    """A number that replied STOP: nothing is sent to it until it replies START."""

    phone: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    opted_out_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


from dispatch.integrations.models import (  # noqa: E402, F401  (their tables)
    ApiKey,
    ApiKeyUse,
    EntrancePlace,
    HotlineReply,
    HotlineSystem,
    HotlineWorkOrder,
    RemoteMedia,
)


class FollowUpReason(str, enum.Enum):
    """What made a follow-up call (回访) necessary."""

    LOW_RATING = "low_rating"  # the resident rated the repair 2 stars or less
    REOPENED = "reopened"  # the resident said "没有修好" a second time


class FollowUpOutcome(str, enum.Enum):
    """What the officer heard when they reached the resident."""

    RESOLVED = "resolved"  # the problem is solved now; the resident is content
    EXPLAINED = "explained"  # explained what was done or why; the resident accepts
    REWORK = "rework"  # it needs more work (the officer reopens the ticket)
    UNSATISFIED = "unsatisfied"  # still unhappy; written down for the supervisor


class FollowUpTask(db.Model):
    """The officer's follow-up call (回访) after a low rating or a second "没有修好":
    one per ticket and reason, with its own deadline, done when the resident was
    reached; each call is an event on the ticket."""

    __table_args__ = (
        sa.UniqueConstraint("ticket_id", "reason"),
        # The board and the sweep read the open tasks by their deadline.
        sa.Index("ix_follow_up_task_open_due", "done_at", "due_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(sa.ForeignKey("ticket.id"), index=True)
    reason: Mapped[FollowUpReason] = mapped_column(stored_enum(FollowUpReason))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: When the officer was reminded ahead of the deadline (once).
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: When the deadline passed with the task still open (marked once).
    missed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: Calls made, reached or not; the last one's time.
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: When the resident was reached and the outcome recorded: the task is done.
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    outcome: Mapped[FollowUpOutcome | None] = mapped_column(
        stored_enum(FollowUpOutcome)
    )
    note: Mapped[str | None] = mapped_column(sa.Text)
    done_by: Mapped[str | None] = mapped_column(sa.String(120))

    ticket: Mapped[Ticket] = relationship()

    @property
    def is_open(self) -> bool:
        return self.done_at is None

    def is_late(self, now: datetime) -> bool:
        """Returns whether the deadline passed before the call was done."""
        return (self.done_at or now) > self.due_at

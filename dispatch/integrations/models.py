"""Integrations' tables: Open311 API keys and their use, entrance coordinates and
aliases, 12345 hotline systems, their work orders and the reply outbox."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from repair.db import UTCDateTime, db, utcnow
from repair.models import Community, Entrance, Ticket

api_key_community = sa.Table(
    "api_key_community",
    db.metadata,
    sa.Column("api_key_id", sa.ForeignKey("api_key.id"), primary_key=True),
    sa.Column("community_id", sa.ForeignKey("community.id"), primary_key=True),
)


class ApiKey(db.Model):
    """An Open311 client's key: only its SHA-256 is stored; scoped to communities."""

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(120))
    #: The first characters of the key, shown in lists so a key can be recognised.
    prefix: Mapped[str] = mapped_column(sa.String(12))
    key_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    communities: Mapped[list[Community]] = relationship(secondary=api_key_community)

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class ApiKeyUse(db.Model):
    """One authenticated Open311 call: which key, when, what, with what outcome."""

    id: Mapped[int] = mapped_column(primary_key=True)
    api_key_id: Mapped[int] = mapped_column(sa.ForeignKey("api_key.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    method: Mapped[str] = mapped_column(sa.String(8))
    path: Mapped[str] = mapped_column(sa.String(200))
    remote_addr: Mapped[str | None] = mapped_column(sa.String(64))
    ticket_id: Mapped[int | None] = mapped_column(sa.ForeignKey("ticket.id"))


class EntrancePlace(db.Model):
    """Where an entrance is on the map, and other names people give it."""

    entrance_id: Mapped[int] = mapped_column(
        sa.ForeignKey("entrance.id"), primary_key=True
    )
    lat: Mapped[float | None]
    long: Mapped[float | None]
    #: Other names of the entrance, one per line (e.g. "阳光花园东门3号楼").
    aliases: Mapped[str | None] = mapped_column(sa.Text)

    entrance: Mapped[Entrance] = relationship()

    def alias_list(self) -> list[str]:
        """Returns the non-empty aliases."""
        return [a.strip() for a in (self.aliases or "").splitlines() if a.strip()]


class RemoteMedia(db.Model):
    """A photo given by URL (Open311 media_url, hotline attachment) for a job."""

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(sa.ForeignKey("ticket.id"), index=True)
    url: Mapped[str] = mapped_column(sa.Text)
    status: Mapped[str] = mapped_column(sa.String(16), default="pending")
    error: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    fetched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


hotline_system_community = sa.Table(
    "hotline_system_community",
    db.metadata,
    sa.Column(
        "hotline_system_id", sa.ForeignKey("hotline_system.id"), primary_key=True
    ),
    sa.Column("community_id", sa.ForeignKey("community.id"), primary_key=True),
)


class HotlineSystem(db.Model):
    """A 12345 hotline platform that pushes work orders and receives replies."""

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(120), unique=True)
    #: The shared HMAC secret; kept in clear because replies are signed with it.
    secret: Mapped[str] = mapped_column(sa.String(200))
    reply_url: Mapped[str] = mapped_column(sa.String(500))
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    #: The communities its orders may be placed in; empty means all.
    communities: Mapped[list[Community]] = relationship(
        secondary=hotline_system_community
    )


class HotlineWorkOrder(db.Model):
    """A work order (工单) pushed by a hotline; its number makes a repeat harmless."""

    __table_args__ = (
        sa.UniqueConstraint("system_id", "number", name="uq_hotline_work_order"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    system_id: Mapped[int] = mapped_column(sa.ForeignKey("hotline_system.id"))
    number: Mapped[str] = mapped_column(sa.String(64))
    content: Mapped[str] = mapped_column(sa.Text)
    place: Mapped[str] = mapped_column(sa.String(500))
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: The hotline's own deadline for the order (its clock on the ticket).
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attachments: Mapped[list[str] | None] = mapped_column(sa.JSON)
    payload: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    match_score: Mapped[float | None]
    ticket_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("ticket.id"), unique=True
    )
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    placed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: The caller (来电人) as the hotline gives them: personal information (PIPL),
    #: erased with the raw payload a set time after the ticket closes.
    caller_name: Mapped[str | None] = mapped_column(sa.String(100))
    caller_phone: Mapped[str | None] = mapped_column(sa.String(32), index=True)
    personal_data_erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    system: Mapped[HotlineSystem] = relationship()
    ticket: Mapped[Ticket | None] = relationship()


class HotlineReply(db.Model):
    """A reply (答复) to send to the hotline, written with the event that causes it."""

    __table_args__ = (
        sa.Index("ix_hotline_reply_pending", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: work order + event + kind: one event never answers the hotline twice.
    dedupe_key: Mapped[str] = mapped_column(sa.String(120), unique=True)
    work_order_id: Mapped[int] = mapped_column(
        sa.ForeignKey("hotline_work_order.id"), index=True
    )
    event_id: Mapped[int | None] = mapped_column(sa.ForeignKey("ticket_event.id"))
    kind: Mapped[str] = mapped_column(sa.String(16))
    body: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    status: Mapped[str] = mapped_column(sa.String(16), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    error_message: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    work_order: Mapped[HotlineWorkOrder] = relationship()

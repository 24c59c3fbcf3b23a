"""The data model: places, categories, contractors, users, tickets, events, photos."""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from flask import current_app
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from repair.db import UTCDateTime, db, utcnow


class TicketStatus(str, enum.Enum):
    NEW = "new"
    DISPATCHED = "dispatched"
    ACCEPTED = "accepted"
    ON_SITE = "on_site"
    COMPLETED = "completed"
    CLOSED = "closed"
    REJECTED = "rejected"
    DUPLICATE = "duplicate"


#: The states in which someone is still working on a ticket, so its clocks run.
WORKING_STATUSES = (
    TicketStatus.NEW,
    TicketStatus.DISPATCHED,
    TicketStatus.ACCEPTED,
    TicketStatus.ON_SITE,
)
#: The states a ticket has not ended in: worked on, or done and awaiting the resident.
OPEN_STATUSES = (*WORKING_STATUSES, TicketStatus.COMPLETED)
#: The states a ticket ends in: nothing more happens to it but a reopen.
CLOSED_STATUSES = (TicketStatus.CLOSED, TicketStatus.REJECTED, TicketStatus.DUPLICATE)

#: The SLA clocks: clock → the ticket column holding its deadline ...
CLOCK_DEADLINES = {
    "triage": "triage_due_at",
    "contact": "contact_due_at",
    "on_site": "on_site_due_at",
    # An outside system's own deadline (the 12345 hotline's 办理时限); it runs
    # until the work is done.
    "hotline": "hotline_due_at",
}
#: ... and the columns of which any one being set means the clock was met.
CLOCK_MET_BY = {
    "triage": ("urgency_confirmed_at",),
    "contact": ("accepted_at", "on_site_at", "completed_at"),
    "on_site": ("on_site_at", "completed_at"),
    "hotline": ("completed_at",),
}
#: The clocks an approved pause (挂起) stops: their deadlines move by the time paused.
PAUSED_CLOCKS = ("on_site",)
#: The states in which a contractor may ask to pause (they hold the job).
PAUSABLE_STATUSES = (TicketStatus.ACCEPTED, TicketStatus.ON_SITE)


class Urgency(str, enum.Enum):
    URGENT = "urgent"
    GENERAL = "general"


class Channel(str, enum.Enum):
    """Where an action came from, recorded on every event."""

    QR = "qr"
    PHONE = "phone"
    WALK_IN = "walk_in"
    BOARD = "board"
    JOB_LINK = "job_link"
    TRACKING = "tracking"
    SMS = "sms"
    SYSTEM = "system"
    OPEN311 = "open311"
    HOTLINE = "hotline"


class ActorType(str, enum.Enum):
    RESIDENT = "resident"
    OFFICER = "officer"
    CONTRACTOR = "contractor"
    SYSTEM = "system"


class Role(str, enum.Enum):
    OFFICER = "officer"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"


def stored_enum(enum_cls: type[enum.Enum], length: int = 16) -> sa.Enum:
    """Returns a column type storing the enum's values as plain strings: adding a
    value needs no database enum migration."""
    return sa.Enum(
        enum_cls,
        native_enum=False,
        create_constraint=False,
        length=length,
        values_callable=lambda cls: [member.value for member in cls],
    )


def _default_timezone() -> str:
    return current_app.config["DEFAULT_TIMEZONE"]


class Community(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(sa.String(64), unique=True)
    name: Mapped[str] = mapped_column(sa.String(120))
    name_en: Mapped[str | None] = mapped_column(sa.String(120))
    ticket_prefix: Mapped[str] = mapped_column(sa.String(8))
    timezone: Mapped[str] = mapped_column(sa.String(64), default=_default_timezone)
    service_phone: Mapped[str | None] = mapped_column(sa.String(32))
    #: The numbers a resident in danger is shown before submitting (一键呼叫).
    fire_phone: Mapped[str] = mapped_column(
        sa.String(32), default="119", server_default="119"
    )
    police_phone: Mapped[str] = mapped_column(
        sa.String(32), default="110", server_default="110"
    )
    ambulance_phone: Mapped[str] = mapped_column(
        sa.String(32), default="120", server_default="120"
    )
    #: The city's lift emergency line (e.g. 96333), where the community has one.
    lift_emergency_phone: Mapped[str | None] = mapped_column(sa.String(32))
    #: The gas company's emergency line.
    gas_emergency_phone: Mapped[str | None] = mapped_column(sa.String(32))
    #: Whether /p/<slug> publishes the month's results (信息公开); on by default.
    publishes_results: Mapped[bool] = mapped_column(
        default=True, server_default=sa.true()
    )
    #: Whether a contractor arriving is offered to share their location, with
    #: consent (PIPL Art. 28: sensitive); off by default, no GPS is collected.
    asks_arrival_location: Mapped[bool] = mapped_column(
        default=False, server_default=sa.false()
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    buildings: Mapped[list[Building]] = relationship(
        back_populates="community", order_by="Building.sort_order"
    )
    #: The community's own places (gates, car parks, ...), retired ones too.
    common_areas: Mapped[list[Entrance]] = relationship(
        primaryjoin=lambda: sa.and_(
            Community.id == Entrance.community_id,
            Entrance.kind == PlaceKind.COMMON_AREA,
        ),
        order_by="Entrance.sort_order, Entrance.id",
        viewonly=True,
    )

    def display_name(self, locale: str = "zh_CN") -> str:
        """Returns the community's name in the locale, falling back to Chinese."""
        return (self.name_en or self.name) if locale.startswith("en") else self.name


class Building(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(sa.ForeignKey("community.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(64))
    name_en: Mapped[str | None] = mapped_column(sa.String(64))
    sort_order: Mapped[int] = mapped_column(default=0)

    community: Mapped[Community] = relationship(back_populates="buildings")
    entrances: Mapped[list[Entrance]] = relationship(
        back_populates="building", order_by="Entrance.sort_order"
    )


class PlaceKind(str, enum.Enum):
    """What a sticker's place is: a building's entrance, or a common area (公共区域:
    a gate, car park, playground, garden, refuse point) that belongs to the
    community itself."""

    ENTRANCE = "entrance"
    COMMON_AREA = "common_area"


class Entrance(db.Model):
    """A place with a sticker: a building's entrance, or a community's common area.

    Every place has ``community_id``; only an entrance has a building (a common
    area's ``building_id`` is None). Tickets, codes and lifts refer to places by
    this table's id, so every printed sticker keeps working whatever its kind.
    """

    id: Mapped[int] = mapped_column(primary_key=True)
    community_id: Mapped[int] = mapped_column(sa.ForeignKey("community.id"), index=True)
    kind: Mapped[PlaceKind] = mapped_column(
        stored_enum(PlaceKind), default=PlaceKind.ENTRANCE, server_default="entrance"
    )
    building_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("building.id"), index=True
    )
    name: Mapped[str] = mapped_column(sa.String(64))
    name_en: Mapped[str | None] = mapped_column(sa.String(64))
    sort_order: Mapped[int] = mapped_column(default=0)
    code: Mapped[str] = mapped_column(sa.String(16), unique=True)
    #: When the admin retired the place: its sticker then takes no new reports.
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    community: Mapped[Community] = relationship()
    building: Mapped[Building | None] = relationship(back_populates="entrances")
    lifts: Mapped[list[Lift]] = relationship(
        back_populates="entrance", order_by="Lift.sort_order, Lift.id"
    )

    @validates("building")
    def _belongs_to_the_buildings_community(self, _key, building):
        # An entrance is in its building's community: kept in step here so that
        # every query can select a community's places by Entrance.community_id.
        if building is not None:
            if building.community is not None:
                self.community = building.community
            elif building.community_id is not None:
                self.community_id = building.community_id
        return building

    @property
    def is_common_area(self) -> bool:
        return self.kind == PlaceKind.COMMON_AREA

    def place_name(self, locale: str = "zh_CN") -> str:
        """Returns the place within its community: '3栋 2单元', or '北门'."""
        english = locale.startswith("en")
        own = (self.name_en or self.name) if english else self.name
        if self.building is None:
            return own
        building = (
            (self.building.name_en or self.building.name)
            if english
            else self.building.name
        )
        return f"{building} {own}"

    def label(self, locale: str = "zh_CN") -> str:
        """Returns 'community building entrance' (or 'community place' for a
        common area) as printed on the sticker."""
        if locale.startswith("en"):
            parts = [self.community.name_en or self.community.name]
            if self.building is not None:
                parts.append(self.building.name_en or self.building.name)
            parts.append(self.name_en or self.name)
            return ", ".join(parts)
        return f"{self.community.name} {self.place_name(locale)}"


@sa.event.listens_for(Entrance, "before_insert")
def _entrance_community(_mapper, connection, target: Entrance) -> None:
    # An entrance written with only building_id still gets its community.
    if target.community_id is None and target.building_id is not None:
        target.community_id = connection.scalar(
            sa.select(Building.community_id).where(Building.id == target.building_id)
        )


class Lift(db.Model):
    """A lift at an entrance, named as residents and the lift's papers name it."""

    id: Mapped[int] = mapped_column(primary_key=True)
    entrance_id: Mapped[int] = mapped_column(sa.ForeignKey("entrance.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(64))
    #: The number on the lift's use certificate (电梯使用标志编号).
    certificate_number: Mapped[str | None] = mapped_column(sa.String(64))
    #: The lift maintenance company's emergency number.
    emergency_phone: Mapped[str | None] = mapped_column(sa.String(32))
    sort_order: Mapped[int] = mapped_column(default=0)

    entrance: Mapped[Entrance] = relationship(back_populates="lifts")

    def label(self) -> str:
        """Returns the lift's name with its certificate number, as on the lift."""
        if self.certificate_number:
            return f"{self.name}（{self.certificate_number}）"
        return self.name


class EntranceCode(db.Model):
    """Every code an entrance ever had, so a rotated sticker still gets an answer."""

    code: Mapped[str] = mapped_column(sa.String(16), primary_key=True)
    entrance_id: Mapped[int] = mapped_column(sa.ForeignKey("entrance.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    entrance: Mapped[Entrance] = relationship()


class Category(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(sa.String(32), unique=True)
    name: Mapped[str] = mapped_column(sa.String(64))
    name_en: Mapped[str] = mapped_column(sa.String(64))
    sort_order: Mapped[int] = mapped_column(default=0)

    def display_name(self, locale: str = "zh_CN") -> str:
        return self.name_en if locale.startswith("en") else self.name


#: The communities each contractor serves (one may serve several): only these
#: communities' tickets, routes and officers may send them work.
contractor_community = sa.Table(
    "contractor_community",
    db.metadata,
    sa.Column("contractor_id", sa.ForeignKey("contractor.id"), primary_key=True),
    sa.Column("community_id", sa.ForeignKey("community.id"), primary_key=True),
)


class Contractor(db.Model):
    """A maintenance company (维保单位) that can be assigned a ticket."""

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(120))
    contact_name: Mapped[str | None] = mapped_column(sa.String(64))
    phone: Mapped[str] = mapped_column(sa.String(32))
    language: Mapped[str] = mapped_column(sa.String(8), default="zh_CN")
    is_active: Mapped[bool] = mapped_column(default=True)

    communities: Mapped[list[Community]] = relationship(
        secondary=contractor_community, order_by="Community.name"
    )

    def serves(self, community_id: int | None) -> bool:
        """Returns whether the contractor works for this community."""
        return any(community.id == community_id for community in self.communities)

    @staticmethod
    def serving(community_ids) -> sa.ColumnElement[bool]:
        """Returns a condition: the contractor serves one of these communities."""
        return Contractor.id.in_(
            sa.select(contractor_community.c.contractor_id).where(
                contractor_community.c.community_id.in_(list(community_ids))
            )
        )


user_community = sa.Table(
    "user_community",
    db.metadata,
    sa.Column("user_id", sa.ForeignKey("user.id"), primary_key=True),
    sa.Column("community_id", sa.ForeignKey("community.id"), primary_key=True),
)


class User(UserMixin, db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(64), unique=True)
    display_name: Mapped[str | None] = mapped_column(sa.String(64))
    password_hash: Mapped[str] = mapped_column(sa.String(256))
    role: Mapped[Role] = mapped_column(stored_enum(Role), default=Role.OFFICER)
    phone: Mapped[str | None] = mapped_column(sa.String(32))
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: Stored in each session at login; raising it (logout) ends every session.
    session_version: Mapped[int] = mapped_column(default=0, server_default="0")

    communities: Mapped[list[Community]] = relationship(secondary=user_community)


class Ticket(db.Model):
    __table_args__ = (
        # Statistics and exports select a community's tickets by submission time.
        sa.Index("ix_ticket_community_created", "community_id", "created_at"),
        # The board reads the most pressing tickets first.
        sa.Index("ix_ticket_next_due", "next_due_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(sa.String(32), unique=True)
    community_id: Mapped[int] = mapped_column(sa.ForeignKey("community.id"), index=True)
    entrance_id: Mapped[int | None] = mapped_column(sa.ForeignKey("entrance.id"))
    #: The lift the resident named, when the entrance lists its lifts.
    lift_id: Mapped[int | None] = mapped_column(sa.ForeignKey("lift.id"))
    #: The danger the resident declared with one tap (repair.dangers), if any.
    declared_danger: Mapped[str | None] = mapped_column(sa.String(16))
    #: The danger an urgent report's words say where none was declared
    #: (repair.dangers.danger_in_words), kept by every assessment: the board
    #: orders by it as by a declared one.
    found_danger: Mapped[str | None] = mapped_column(sa.String(16))
    category_id: Mapped[int | None] = mapped_column(sa.ForeignKey("category.id"))
    spot: Mapped[str] = mapped_column(sa.String(200))
    description: Mapped[str] = mapped_column(sa.Text)
    reporter_name: Mapped[str | None] = mapped_column(sa.String(64))
    reporter_phone: Mapped[str | None] = mapped_column(sa.String(32))
    #: The language the resident reported in, for the SMS they receive.
    reporter_locale: Mapped[str | None] = mapped_column(sa.String(8))
    channel: Mapped[Channel] = mapped_column(stored_enum(Channel))
    status: Mapped[TicketStatus] = mapped_column(
        stored_enum(TicketStatus), default=TicketStatus.NEW, index=True
    )
    urgency: Mapped[Urgency | None] = mapped_column(stored_enum(Urgency))
    urgency_confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    classification: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    contractor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("contractor.id"))
    submission_key: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    resident_key: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    triage_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    contact_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    on_site_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    #: The hotline's deadline for a ticket it pushed (set once, when it is opened).
    hotline_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    on_site_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_by_name: Mapped[str | None] = mapped_column(sa.String(64))
    completion_note: Mapped[str | None] = mapped_column(sa.Text)
    duplicate_of_id: Mapped[int | None] = mapped_column(sa.ForeignKey("ticket.id"))
    #: The open ticket whose group (并单) this report joined at submission: it is
    #: held for the officer's merge instead of being dispatched on its own; kept
    #: after the merge (the ticket is then a duplicate of it), cleared by a split.
    group_of_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("ticket.id"), index=True
    )
    #: The earliest deadline not yet met while the ticket is worked on, else None;
    #: kept by ``next_deadline`` at every flush (see ``_keep_next_due``).
    next_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: When the escalation ladder first acted on the ticket (lifecycle.escalate).
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: When the current approved pause began (挂起), None while the clocks run.
    paused_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: Seconds of every ended pause: the PAUSED_CLOCKS' deadlines moved by this.
    paused_seconds: Mapped[float] = mapped_column(
        sa.Float, default=0.0, server_default="0"
    )
    #: When an officer let the public results show the problem's description.
    made_public_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: The repair record, summed over every completion (a rework costs too); None
    #: until the first. Money in integer fen (分); total = materials + labour cost.
    labour_minutes: Mapped[int | None]
    labour_cost_fen: Mapped[int | None] = mapped_column(sa.BigInteger)
    materials_cost_fen: Mapped[int | None] = mapped_column(sa.BigInteger)
    total_cost_fen: Mapped[int | None] = mapped_column(sa.BigInteger)
    #: Where the contractor said they arrived, only with the community's opt-in
    #: and the contractor's consent; erased with the ticket's personal data.
    arrival_latitude: Mapped[float | None] = mapped_column(sa.Float)
    arrival_longitude: Mapped[float | None] = mapped_column(sa.Float)

    community: Mapped[Community] = relationship()
    entrance: Mapped[Entrance | None] = relationship()
    lift: Mapped[Lift | None] = relationship()
    category: Mapped[Category | None] = relationship()
    contractor: Mapped[Contractor | None] = relationship()
    events: Mapped[list[TicketEvent]] = relationship(
        back_populates="ticket", order_by="TicketEvent.id"
    )
    photos: Mapped[list[Photo]] = relationship(
        back_populates="ticket", order_by="Photo.id"
    )
    rating: Mapped[Rating | None] = relationship()
    followers: Mapped[list[TicketFollower]] = relationship(
        order_by="TicketFollower.id", foreign_keys="TicketFollower.ticket_id"
    )
    pauses: Mapped[list[TicketPause]] = relationship(
        back_populates="ticket", order_by="TicketPause.id"
    )
    materials: Mapped[list[RepairMaterial]] = relationship(
        back_populates="ticket", order_by="RepairMaterial.id"
    )

    def is_clock_paused(self, clock: str) -> bool:
        """Returns whether an approved pause stops this clock now."""
        return self.paused_at is not None and clock in PAUSED_CLOCKS

    def pending_clocks(self) -> list[tuple[str, datetime]]:
        """Returns (clock, deadline) for every running clock not yet met, soonest
        first (a paused clock has no deadline until it resumes)."""
        if self.status not in WORKING_STATUSES:
            return []
        pending = [
            (clock, getattr(self, column))
            for clock, column in CLOCK_DEADLINES.items()
            if getattr(self, column) is not None
            and all(getattr(self, met) is None for met in CLOCK_MET_BY[clock])
            and not self.is_clock_paused(clock)
        ]
        return sorted(pending, key=lambda item: item[1])

    def missed_clocks(
        self, now: datetime
    ) -> list[tuple[str, datetime, datetime | None]]:
        """Returns (clock, deadline, met at or None) for every clock whose deadline
        passed before it was met, or is past now and still unmet, earliest first.

        A clock handed on (the backup's new contact deadline) counts by its
        current deadline: a rung the ladder took is the ticket's ``escalated_at``.
        """
        missed = []
        for clock, column in CLOCK_DEADLINES.items():
            due = getattr(self, column)
            if due is None:
                continue
            met = next(
                (at for name in CLOCK_MET_BY[clock] if (at := getattr(self, name))),
                None,
            )
            if (met or now) > due and not (met is None and self.is_clock_paused(clock)):
                missed.append((clock, due, met))
        return sorted(missed, key=lambda item: item[1])

    def next_deadline(self) -> tuple[str, datetime] | None:
        """Returns the next unmet clock and its deadline, if there is one."""
        pending = self.pending_clocks()
        return pending[0] if pending else None

    @property
    def report_photos(self) -> list[Photo]:
        return [photo for photo in self.photos if photo.purpose == "report"]

    @property
    def completion_photos(self) -> list[Photo]:
        return self._this_rounds("completion")

    @property
    def before_photos(self) -> list[Photo]:
        return self._this_rounds("before")

    @property
    def arrival_photos(self) -> list[Photo]:
        return self._this_rounds("arrival")

    def _this_rounds(self, purpose: str) -> list[Photo]:
        """Returns the photos of this purpose taken since the ticket was last
        reopened: the visit the pages describe, not the repairs that failed
        (outside tester: a visit without a photo showed the first visit's)."""
        reopened = [event.at for event in self.events if event.action == "reopen"]
        since = max(reopened) if reopened else None
        return [
            photo
            for photo in self.photos
            if photo.purpose == purpose
            and (since is None or photo.created_at is None or photo.created_at >= since)
        ]

    @property
    def has_arrival_location(self) -> bool:
        return self.arrival_latitude is not None and self.arrival_longitude is not None


def clock_due_at(clock: str) -> sa.ColumnElement:
    """Returns the SQL column holding a clock's deadline (CLOCK_DEADLINES)."""
    return getattr(Ticket, CLOCK_DEADLINES[clock])


def clock_met_at(clock: str) -> sa.ColumnElement:
    """Returns a SQL expression for when the ticket met a clock, NULL if it has not
    (the first of its CLOCK_MET_BY columns that is set: they are set in order)."""
    columns = [getattr(Ticket, name) for name in CLOCK_MET_BY[clock]]
    return columns[0] if len(columns) == 1 else sa.func.coalesce(*columns)


class TicketEvent(db.Model):
    """One line of a ticket's audit trail: who did what, when, from where."""

    __table_args__ = (
        # The scorecard looks events up by action (completions, reopens).
        sa.Index("ix_ticket_event_action_ticket", "action", "ticket_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(sa.ForeignKey("ticket.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    action: Mapped[str] = mapped_column(sa.String(32))
    from_status: Mapped[TicketStatus | None] = mapped_column(stored_enum(TicketStatus))
    to_status: Mapped[TicketStatus | None] = mapped_column(stored_enum(TicketStatus))
    actor_type: Mapped[ActorType] = mapped_column(stored_enum(ActorType))
    actor_id: Mapped[int | None]
    actor_name: Mapped[str | None] = mapped_column(sa.String(120))
    channel: Mapped[Channel] = mapped_column(stored_enum(Channel))
    note: Mapped[str | None] = mapped_column(sa.Text)
    data: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)

    ticket: Mapped[Ticket] = relationship(back_populates="events")


class Photo(db.Model):
    """A stored photo; its files are named by the content hash of the display copy.

    A "pending" photo is a private original waiting for the photo job: until then
    ``sha256`` is the original's hash (nothing is served under it) and pages show a
    placeholder; the job makes the display copy and sets the state to "ready".
    """

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("ticket.id"), index=True
    )
    purpose: Mapped[str] = mapped_column(sa.String(16), default="report")
    sha256: Mapped[str] = mapped_column(sa.String(64), index=True)
    width: Mapped[int]
    height: Mapped[int]
    state: Mapped[str] = mapped_column(
        sa.String(16), default="ready", server_default="ready", index=True
    )
    #: The private original's hash while pending (and after, if originals are kept).
    original: Mapped[str | None] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    ticket: Mapped[Ticket | None] = relationship(back_populates="photos")

    @property
    def is_pending(self) -> bool:
        """Returns whether the display copy is still being made."""
        return self.state == "pending"


class RepairMaterial(db.Model):
    """One line of the materials a contractor used, recorded with a completion."""

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(sa.ForeignKey("ticket.id"), index=True)
    #: The completion event that recorded it (a rework records its own lines).
    event_id: Mapped[int | None] = mapped_column(sa.ForeignKey("ticket_event.id"))
    name: Mapped[str] = mapped_column(sa.String(64))
    #: The quantity in hundredths (2.5 m → 250): exact, never a float.
    quantity_hundredths: Mapped[int] = mapped_column(sa.BigInteger)
    unit: Mapped[str | None] = mapped_column(sa.String(16))
    unit_price_fen: Mapped[int] = mapped_column(sa.BigInteger)
    #: quantity × unit price, rounded half up to the fen.
    amount_fen: Mapped[int] = mapped_column(sa.BigInteger)

    ticket: Mapped[Ticket] = relationship(back_populates="materials")

    @property
    def quantity(self) -> Decimal:
        return Decimal(self.quantity_hundredths) / 100


class PauseState(str, enum.Enum):
    REQUESTED = "requested"  # waiting for the officer
    REFUSED = "refused"
    WITHDRAWN = "withdrawn"  # the contractor went on before the officer decided
    LAPSED = "lapsed"  # the ticket moved on (arrival, handover …) before a decision
    ACTIVE = "active"  # approved: the clocks stand still
    ENDED = "ended"


class TicketPause(db.Model):
    """A contractor's request to pause the on-site clock (挂起), and what became of
    it; an approved one records how long the clocks stood still."""

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(sa.ForeignKey("ticket.id"), index=True)
    contractor_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("contractor.id"), index=True
    )
    state: Mapped[PauseState] = mapped_column(stored_enum(PauseState), index=True)
    reason: Mapped[str] = mapped_column(sa.String(200))
    #: When the contractor expects to go on; the clocks resume by themselves then.
    resume_expected_at: Mapped[datetime] = mapped_column(UTCDateTime)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by: Mapped[str | None] = mapped_column(sa.String(120))
    decision_note: Mapped[str | None] = mapped_column(sa.String(200))
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: contractor | officer | expected (the expected time came) | the action that
    #: ended it (arrive, complete, dispatch …)
    ended_how: Mapped[str | None] = mapped_column(sa.String(32))
    #: How long the clocks stood still (set when the pause ends).
    paused_seconds: Mapped[float | None] = mapped_column(sa.Float)

    ticket: Mapped[Ticket] = relationship(back_populates="pauses")
    contractor: Mapped[Contractor | None] = relationship()


class TicketCounter(db.Model):
    """The last ticket sequence number handed out per community and local day."""

    community_id: Mapped[int] = mapped_column(
        sa.ForeignKey("community.id"), primary_key=True
    )
    day: Mapped[str] = mapped_column(sa.String(8), primary_key=True)
    last: Mapped[int] = mapped_column(default=0)


class Rating(db.Model):
    """The resident's verdict on a repair they confirmed: 1 to 5 stars."""

    ticket_id: Mapped[int] = mapped_column(sa.ForeignKey("ticket.id"), primary_key=True)
    stars: Mapped[int]
    comment: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TicketFollower(db.Model):
    """A resident who reported the same problem ("me too") instead of a new ticket."""

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(sa.ForeignKey("ticket.id"), index=True)
    phone: Mapped[str | None] = mapped_column(sa.String(32))
    locale: Mapped[str] = mapped_column(sa.String(8), default="zh_CN")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: The report of theirs that joined this ticket's group (并单), if that is why
    #: they follow it: splitting that report out stops it.
    source_ticket_id: Mapped[int | None] = mapped_column(sa.ForeignKey("ticket.id"))


@sa.event.listens_for(Ticket, "before_insert")
@sa.event.listens_for(Ticket, "before_update")
def _keep_next_due(_mapper, _connection, ticket: Ticket) -> None:
    # Whatever changed a ticket's state, deadlines or met-clock timestamps, its
    # next deadline is written with the row, so the board can read tickets by it.
    deadline = ticket.next_deadline()
    ticket.next_due_at = deadline[1] if deadline else None

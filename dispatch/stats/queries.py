"""Statistics queries: the SQL aggregates over tickets, assignments and ratings.

Each function takes a ``where`` clause (tickets submitted in a range, from
`in_range`) and returns the plain figures of `figures`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import aliased
from sqlalchemy.sql.functions import FunctionElement

from dispatch.models import Assignment, EndReason, FollowUpTask
from dispatch.stats.figures import (
    LATE,
    MET,
    OVERDUE,
    PENDING,
    Compliance,
    Durations,
    Satisfaction,
    Scorecard,
    by_count,
    local_bounds,
    summarize,
    summarize_ratings,
)
from repair.db import UTCDateTime, db
from repair.i18n import localised_name, zone_name
from repair.models import (
    WORKING_STATUSES,
    ActorType,
    Building,
    Category,
    Community,
    Contractor,
    Entrance,
    PauseState,
    PlaceKind,
    Rating,
    Ticket,
    TicketEvent,
    TicketPause,
    TicketStatus,
    Urgency,
    clock_due_at,
    clock_met_at,
)

S = TicketStatus
ENDED_WITHOUT_WORK = (S.REJECTED, S.DUPLICATE)
DONE = (S.COMPLETED, S.CLOSED)


class seconds_between(FunctionElement):
    """SQL for ``later - earlier`` in seconds (a float), on SQLite and PostgreSQL."""

    type = sa.Float()
    name = "seconds_between"
    inherit_cache = True


@compiles(seconds_between)
def _seconds_sqlite(element, compiler, **kw):
    later, earlier = (compiler.process(arg, **kw) for arg in element.clauses)
    return f"((julianday({later}) - julianday({earlier})) * 86400.0)"


@compiles(seconds_between, "postgresql")
def _seconds_postgresql(element, compiler, **kw):
    later, earlier = (compiler.process(arg, **kw) for arg in element.clauses)
    return f"EXTRACT(EPOCH FROM ({later} - {earlier}))"


def in_range(communities: Sequence[Community], start: date, end: date):
    """Returns SQL selecting the communities' tickets submitted in the local range."""
    zones: dict[str, list[int]] = defaultdict(list)
    for community in communities:
        zones[zone_name(community)].append(community.id)
    conditions = []
    for zone, ids in zones.items():
        first, after = local_bounds(start, end, zone)
        conditions.append(
            sa.and_(
                Ticket.community_id.in_(ids),
                Ticket.created_at >= first,
                Ticket.created_at < after,
            )
        )
    return sa.or_(*conditions) if conditions else sa.false()


def _with_work():
    return Ticket.status.not_in(ENDED_WITHOUT_WORK)


#: statistics' clock → (when it was met, its deadline, which tickets), from the
#: ticket's own clock definitions (CLOCK_MET_BY, CLOCK_DEADLINES)
CLOCKS = {
    "triage": (clock_met_at("triage"), clock_due_at("triage"), None),
    "contact": (clock_met_at("contact"), clock_due_at("contact"), Urgency.URGENT),
    "urgent_on_site": (
        clock_met_at("on_site"),
        clock_due_at("on_site"),
        Urgency.URGENT,
    ),
    "general_on_site": (
        clock_met_at("on_site"),
        clock_due_at("on_site"),
        Urgency.GENERAL,
    ),
    # a 12345 hotline's own deadline, on the tickets it pushed
    "hotline": (clock_met_at("hotline"), clock_due_at("hotline"), None),
}


#: The statistics' clocks an approved pause stops (PAUSED_CLOCKS: on site).
PAUSABLE_CLOCKS = ("urgent_on_site", "general_on_site")


def _outcome_sums(
    done, due, now: datetime, applies=None, *, pausable=False, paused_time=False
) -> list:
    """Returns SUM(CASE …) columns counting met, late, overdue and pending.

    For a clock a pause stops (``pausable``): a clock paused now is not yet due,
    whatever its deadline said before the pause; with ``paused_time`` the time
    paused counts against the deadline as if there had been no pause."""
    base = [_with_work(), due.is_not(None)]
    if applies is not None:
        base.append(applies)
    if pausable and paused_time:
        paused = sa.func.coalesce(Ticket.paused_seconds, 0.0)
        met = seconds_between(due, done) >= paused  # done <= due - paused
        passed = seconds_between(sa.literal(now, UTCDateTime()), due) > -paused
    else:
        met, passed = done <= due, due < now
        if pausable:
            passed = sa.and_(passed, Ticket.paused_at.is_(None))
    conditions = {
        MET: sa.and_(*base, done.is_not(None), met),
        LATE: sa.and_(*base, done.is_not(None), sa.not_(met)),
        OVERDUE: sa.and_(*base, done.is_(None), passed),
        PENDING: sa.and_(*base, done.is_(None), sa.not_(passed)),
    }
    return [
        sa.func.coalesce(sa.func.sum(sa.case((condition, 1), else_=0)), 0)
        for condition in conditions.values()
    ]


def compliance(
    where, now: datetime, *, paused_time: bool = False
) -> dict[str, Compliance]:
    """Returns each SLA clock's compliance over the tickets ``where`` selects: by
    the deadlines as approved pauses moved them, or (``paused_time``) counting the
    time paused as if the clock had run on."""
    columns = []
    for clock, (done, due, urgency) in CLOCKS.items():
        applies = Ticket.urgency == urgency if urgency is not None else None
        columns.extend(
            _outcome_sums(
                done,
                due,
                now,
                applies,
                pausable=clock in PAUSABLE_CLOCKS,
                paused_time=paused_time,
            )
        )
    row = db.session.execute(sa.select(*columns).where(where)).one()
    return {
        clock: Compliance(*(int(value) for value in row[i * 4 : i * 4 + 4]))
        for i, clock in enumerate(CLOCKS)
    }


def pauses_by_contractor(where, now: datetime) -> dict[int | None, tuple[int, float]]:
    """Returns each contractor's approved pauses on the tickets in range: how many,
    and their total length in seconds (a running one counts up to now)."""
    rows = db.session.execute(
        sa.select(
            TicketPause.contractor_id,
            TicketPause.started_at,
            TicketPause.paused_seconds,
        )
        .join(Ticket, Ticket.id == TicketPause.ticket_id)
        .where(
            where,
            TicketPause.state.in_((PauseState.ACTIVE, PauseState.ENDED)),
        )
    ).all()
    totals: dict[int | None, tuple[int, float]] = {}
    for contractor_id, started_at, seconds in rows:
        if seconds is None:
            seconds = max(0.0, (now - started_at).total_seconds())
        count, total = totals.get(contractor_id, (0, 0.0))
        totals[contractor_id] = (count + 1, total + seconds)
    return totals


STEPS = {
    "contact": Ticket.accepted_at,
    "on_site": Ticket.on_site_at,
    "completed": Ticket.completed_at,
}


def response_times(where) -> dict[str, Durations]:
    """Returns median and p90 from submission to contact, on site and completion.

    PostgreSQL computes them in one pass (percentile_cont skips NULLs; one sort per
    step gives both fractions); elsewhere
    the durations are fetched as float columns and summarized here, with the same
    interpolation."""
    seconds = {
        name: seconds_between(column, Ticket.created_at)
        for name, column in STEPS.items()
    }
    if db.session.get_bind().dialect.name == "postgresql":
        fractions = postgresql.array([0.5, 0.9])
        columns = []
        for value in seconds.values():
            columns += [
                sa.func.count(value),
                sa.func.percentile_cont(fractions)
                .within_group(value)
                .cast(postgresql.ARRAY(sa.Float)),
            ]
        row = db.session.execute(sa.select(*columns).where(where)).one()
        result = {}
        for i, name in enumerate(seconds):
            count, (median, p90) = row[i * 2], row[i * 2 + 1] or (None, None)
            result[name] = Durations(int(count), median, p90)
        return result
    rows = db.session.execute(sa.select(*seconds.values()).where(where)).all()
    return {name: summarize(row[i] for row in rows) for i, name in enumerate(seconds)}


def status_totals(where) -> dict[str, int]:
    """Returns the number of tickets in total, in work, done and ended without work."""
    rows = db.session.execute(
        sa.select(Ticket.status, sa.func.count()).where(where).group_by(Ticket.status)
    ).all()
    by_status = {S(status): count for status, count in rows}
    return {
        "total": sum(by_status.values()),
        "working": sum(by_status.get(s, 0) for s in WORKING_STATUSES),
        "done": sum(by_status.get(s, 0) for s in DONE),
        "ended": sum(by_status.get(s, 0) for s in ENDED_WITHOUT_WORK),
    }


def counts_by_category(where, locale: str) -> list[tuple[str, int]]:
    rows = db.session.execute(
        sa.select(Category.name, Category.name_en, sa.func.count(Ticket.id))
        .select_from(Ticket)
        .outerjoin(Category, Ticket.category_id == Category.id)
        .where(where)
        .group_by(Category.id, Category.name, Category.name_en)
    ).all()
    return by_count(
        (localised_name(name, en, locale) if name else _("No category"), count)
        for name, en, count in rows
    )


def _by_place(where, measures, locale: str, with_community: bool) -> list[tuple]:
    """Returns (label, *measures) of the tickets by place: their building, or each
    common area (a gate, the car park...) as a place of its own."""
    is_area = Entrance.kind == PlaceKind.COMMON_AREA
    area_id = sa.case((is_area, Entrance.id))
    area_name = sa.case((is_area, Entrance.name))
    area_name_en = sa.case((is_area, Entrance.name_en))
    rows = db.session.execute(
        sa.select(
            Community.name,
            Community.name_en,
            Building.name,
            Building.name_en,
            area_name,
            area_name_en,
            *measures,
        )
        .select_from(Ticket)
        .join(Community, Ticket.community_id == Community.id)
        .outerjoin(Entrance, Ticket.entrance_id == Entrance.id)
        .outerjoin(Building, Entrance.building_id == Building.id)
        .where(where)
        .group_by(
            Community.id,
            Community.name,
            Community.name_en,
            Building.id,
            Building.name,
            Building.name_en,
            area_id,
            area_name,
            area_name_en,
        )
    ).all()
    placed = []
    for community, community_en, name, name_en, area, area_en, *values in rows:
        if area:
            label = localised_name(area, area_en, locale)
        elif name:
            label = localised_name(name, name_en, locale)
        else:
            label = _("No building")
        if with_community:
            label = f"{localised_name(community, community_en, locale)} {label}"
        placed.append((label, *values))
    return placed


def counts_by_building(where, locale: str, with_community: bool):
    """Returns (label, count) by building; each common area (a gate, the car
    park...) counts as a place of its own beside the buildings."""
    return by_count(
        _by_place(where, [sa.func.count(Ticket.id)], locale, with_community)
    )


def counts_by_contractor(where) -> list[tuple[str, int]]:
    rows = db.session.execute(
        sa.select(Contractor.name, sa.func.count(Ticket.id))
        .select_from(Ticket)
        .outerjoin(Contractor, Ticket.contractor_id == Contractor.id)
        .where(where)
        .group_by(Contractor.id, Contractor.name)
    ).all()
    return by_count((name or _("Not assigned"), count) for name, count in rows)


def scorecards(where, now: datetime) -> list[Scorecard]:
    """Returns each contractor's assignments, answers, arrivals and reopened jobs."""
    # The current assignment was accepted if the ticket is (every dispatch clears
    # accepted_at); an ended one, if an accept/arrive/complete event names it.
    named_in_event = (
        sa.select(TicketEvent.id)
        .where(
            TicketEvent.ticket_id == Assignment.ticket_id,
            TicketEvent.action.in_(("accept", "arrive", "complete")),
            TicketEvent.data["assignment_id"].as_integer() == Assignment.id,
        )
        .exists()
    )
    answered = sa.case(
        (
            Assignment.ended_at.is_(None),
            sa.case((Ticket.accepted_at.is_not(None), 1), else_=0),
        ),
        (named_in_event, 1),
        else_=0,
    )
    reason = sa.func.coalesce(Assignment.end_reason, "")  # NULL would poison NOT
    declined = reason == EndReason.DECLINED.value
    taken_away = reason.in_((EndReason.REASSIGNED.value, EndReason.UNDELIVERABLE.value))

    def sum_of(value):
        return sa.func.coalesce(sa.func.sum(value), 0)

    cards: dict[int | None, Scorecard] = {}

    def card(contractor_id: int | None) -> Scorecard:
        if contractor_id not in cards:
            cards[contractor_id] = Scorecard(contractor_id, "")
        return cards[contractor_id]

    turns = db.session.execute(
        sa.select(
            Assignment.contractor_id,
            sa.func.count(Assignment.id),
            sum_of(sa.case((declined, 0), else_=answered)),
            sum_of(sa.case((declined, 1), else_=0)),
            sum_of(sa.case((taken_away, 1 - answered), else_=0)),
        )
        .join(Ticket, Ticket.id == Assignment.ticket_id)
        .where(where)
        .group_by(Assignment.contractor_id)
    ).all()
    for contractor_id, total, accepted, declined_count, unanswered in turns:
        entry = card(contractor_id)
        entry.assignments, entry.accepted = int(total), int(accepted)
        entry.declined, entry.unanswered = int(declined_count), int(unanswered)

    done, due, _urgency = CLOCKS["urgent_on_site"]
    arrivals = db.session.execute(
        sa.select(Ticket.contractor_id, *_outcome_sums(done, due, now, pausable=True))
        .where(where, Ticket.contractor_id.is_not(None))
        .group_by(Ticket.contractor_id)
    ).all()
    for contractor_id, *counts in arrivals:
        card(contractor_id).on_site = Compliance(*(int(c) for c in counts))
    arrivals_paused_time = db.session.execute(
        sa.select(
            Ticket.contractor_id,
            *_outcome_sums(done, due, now, pausable=True, paused_time=True),
        )
        .where(where, Ticket.contractor_id.is_not(None))
        .group_by(Ticket.contractor_id)
    ).all()
    for contractor_id, *counts in arrivals_paused_time:
        card(contractor_id).on_site_paused_time = Compliance(*(int(c) for c in counts))
    for contractor_id, (count, seconds) in pauses_by_contractor(where, now).items():
        entry = card(contractor_id)
        entry.pauses, entry.paused_seconds = count, seconds

    # The last reopen of each ticket: few rows, joined instead of a probe per event.
    last_reopen = (
        sa.select(
            TicketEvent.ticket_id.label("ticket_id"),
            sa.func.max(TicketEvent.id).label("event_id"),
        )
        .where(TicketEvent.action == "reopen")
        .group_by(TicketEvent.ticket_id)
        .subquery()
    )
    completes = aliased(TicketEvent)
    reopened_later = sa.and_(
        last_reopen.c.event_id.is_not(None), last_reopen.c.event_id > completes.id
    )
    completions = db.session.execute(
        sa.select(
            completes.actor_id,
            sa.func.count(completes.id),
            sa.func.count(sa.case((reopened_later, completes.id))),
        )
        .join(Ticket, Ticket.id == completes.ticket_id)
        .outerjoin(last_reopen, last_reopen.c.ticket_id == completes.ticket_id)
        .where(
            where,
            completes.action == "complete",
            completes.actor_type == ActorType.CONTRACTOR,
        )
        .group_by(completes.actor_id)
    ).all()
    for contractor_id, completed, reopened in completions:
        entry = card(contractor_id)
        entry.completed, entry.reopened = int(completed), int(reopened)

    names = dict(
        db.session.execute(
            sa.select(Contractor.id, Contractor.name).where(
                Contractor.id.in_([i for i in cards if i is not None])
            )
        ).all()
    )
    for contractor_id, entry in cards.items():
        entry.name = names.get(contractor_id, "—")
    return sorted(cards.values(), key=lambda c: (-c.assignments, c.name))


def satisfaction(where) -> Satisfaction:
    """Returns the residents' ratings of the tickets in range."""
    rows = db.session.execute(
        sa.select(Rating.stars, Contractor.name)
        .join(Ticket, Rating.ticket_id == Ticket.id)
        .outerjoin(Contractor, Ticket.contractor_id == Contractor.id)
        .where(where)
    ).all()
    return summarize_ratings((stars, name) for stars, name in rows)


def follow_up_compliance(where, now: datetime) -> Compliance:
    """Returns how the follow-up calls (回访) of the tickets in range fared against
    their deadlines: done on time, done late, overdue and open, not yet due."""
    row = db.session.execute(
        sa.select(*_outcome_sums(FollowUpTask.done_at, FollowUpTask.due_at, now))
        .select_from(FollowUpTask)
        .join(Ticket, FollowUpTask.ticket_id == Ticket.id)
        .where(where)
    ).one()
    return Compliance(*(int(value) for value in row))


@dataclass(frozen=True)
class CostRow:
    """The repair record's costs of one group of tickets, in fen."""

    label: str
    tickets: int
    materials_fen: int
    labour_fen: int
    total_fen: int
    labour_minutes: int


def _cost_columns():
    return (
        sa.func.count(Ticket.id),
        sa.func.coalesce(sa.func.sum(Ticket.materials_cost_fen), 0),
        sa.func.coalesce(sa.func.sum(Ticket.labour_cost_fen), 0),
        sa.func.coalesce(sa.func.sum(Ticket.total_cost_fen), 0),
        sa.func.coalesce(sa.func.sum(Ticket.labour_minutes), 0),
    )


def _cost_rows(rows, label) -> list[CostRow]:
    costed = [
        CostRow(label(*row[:-5]), *(int(value) for value in row[-5:])) for row in rows
    ]
    return sorted(costed, key=lambda row: (-row.total_fen, row.label))


def costs_by(where, locale: str, with_community: bool) -> dict[str, list[CostRow]]:
    """Returns the recorded cost of the tickets (those with a repair record) by
    category, place (building, or common area on its own) and contractor, the
    costliest first; summed in SQL, in fen."""
    costed = sa.and_(where, Ticket.total_cost_fen.is_not(None))
    categories = db.session.execute(
        sa.select(Category.name, Category.name_en, *_cost_columns())
        .select_from(Ticket)
        .outerjoin(Category, Ticket.category_id == Category.id)
        .where(costed)
        .group_by(Category.id, Category.name, Category.name_en)
    ).all()
    places = _by_place(costed, _cost_columns(), locale, with_community)
    contractors = db.session.execute(
        sa.select(Contractor.name, *_cost_columns())
        .select_from(Ticket)
        .outerjoin(Contractor, Ticket.contractor_id == Contractor.id)
        .where(costed)
        .group_by(Contractor.id, Contractor.name)
    ).all()

    return {
        "category": _cost_rows(
            categories,
            lambda name, en: (
                localised_name(name, en, locale) if name else _("No category")
            ),
        ),
        "building": _cost_rows(places, lambda label: label),
        "contractor": _cost_rows(contractors, lambda name: name or _("Not assigned")),
    }

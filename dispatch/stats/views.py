"""Statistics for the board: counts, SLA compliance, response times, scorecards, CSV.

The pure functions at the top take plain values (timestamps, durations, `now`) and
are tested without an app; the views below run the SQL aggregates that feed them.

Definitions (also shown on the page):
- A ticket is in the range when it was *submitted* on one of the range's local
  days (its community's time zone). Rejected and duplicate tickets end without
  work: they are counted by category, building and contractor but on no SLA clock.
- A clock is *met* when it stopped by its deadline, *late* when it stopped after,
  *overdue* when it has not stopped and its deadline has passed (a miss), and
  *not yet due* otherwise (not counted). Compliance = met / (met + late + overdue).
- Contractor acceptance counts assignments (one contractor's turn at one ticket):
  declined = ended by the contractor declining (even after accepting); accepted =
  the contractor accepted, arrived or completed during that assignment; no answer =
  taken away (backup after the contact deadline, officer reassignment, SMS
  undeliverable) before accepting. Open or withdrawn turns without an answer are
  not counted. Rate = accepted / (accepted + declined + no answer).
- Reopen rate = the contractor's completions (complete events) after which the
  ticket was reopened / all their completions.
"""

from __future__ import annotations

import csv
import io
import math
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    render_template,
    request,
    stream_with_context,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import aliased
from sqlalchemy.sql.functions import FunctionElement

from dispatch.board.auth import staff_only, visible_communities
from dispatch.board.nav import STAFF, add_board_link
from dispatch.models import Assignment
from dispatch.stats import charts
from repair.db import db, utcnow
from repair.i18n import current_locale
from repair.models import (
    WORKING_STATUSES,
    ActorType,
    Building,
    Category,
    Community,
    Contractor,
    Entrance,
    Rating,
    Ticket,
    TicketEvent,
    TicketStatus,
    Urgency,
)

bp = Blueprint("stats", __name__, url_prefix="/board")
S = TicketStatus
DEFAULT_DAYS = 30
DEFAULT_TIMEZONE = "Asia/Shanghai"
#: Bars drawn per chart; the rest are summed into one "others" bar (the table has all).
CHART_ROWS = 12
ENDED_WITHOUT_WORK = (S.REJECTED, S.DUPLICATE)
DONE = (S.COMPLETED, S.CLOSED)

# --- pure computations -------------------------------------------------------------

MET, LATE, OVERDUE, PENDING = "met", "late", "overdue", "pending"


def clock_outcome(
    done_at: datetime | None, due_at: datetime | None, now: datetime
) -> str | None:
    """Returns met, late, overdue or pending for one clock; None if it has no due."""
    if due_at is None:
        return None
    if done_at is not None:
        return MET if done_at <= due_at else LATE
    return OVERDUE if due_at < now else PENDING


@dataclass(frozen=True)
class Compliance:
    """How one SLA clock fared over a set of tickets."""

    met: int = 0
    late: int = 0
    overdue: int = 0
    pending: int = 0

    @property
    def missed(self) -> int:
        return self.late + self.overdue

    @property
    def decided(self) -> int:
        return self.met + self.missed

    @property
    def rate(self) -> float | None:
        """Returns met / decided, or None when no clock was decided yet."""
        return ratio(self.met, self.decided)


def tally(clocks: Iterable[tuple[datetime | None, datetime | None]], now) -> Compliance:
    """Returns the compliance of (done_at, due_at) pairs at ``now``."""
    counts = {MET: 0, LATE: 0, OVERDUE: 0, PENDING: 0}
    for done_at, due_at in clocks:
        outcome = clock_outcome(done_at, due_at, now)
        if outcome is not None:
            counts[outcome] += 1
    return Compliance(**counts)


def ratio(part: int, whole: int) -> float | None:
    """Returns part / whole, or None for an empty whole (shown as a dash)."""
    return part / whole if whole else None


def percentile(ordered: Sequence[float], fraction: float) -> float | None:
    """Returns the percentile of sorted values, interpolated linearly between the
    closest ranks (as PostgreSQL's percentile_cont and numpy's default)."""
    if not ordered:
        return None
    position = (len(ordered) - 1) * fraction
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass(frozen=True)
class Durations:
    """The count, median and 90th percentile of a set of durations in seconds."""

    count: int
    median: float | None
    p90: float | None


def summarize(seconds: Iterable[float | None]) -> Durations:
    """Returns count, median and p90 of the durations (missing ones are skipped)."""
    ordered = sorted(value for value in seconds if value is not None)
    return Durations(len(ordered), percentile(ordered, 0.5), percentile(ordered, 0.9))


def duration_parts(seconds: float) -> tuple[int, int, int]:
    """Returns (days, hours, minutes) of a duration, rounded to the minute; a
    duration of a day or more is rounded to the hour."""
    minutes = max(0, round(seconds / 60))
    if minutes >= 24 * 60:
        minutes = round(minutes / 60) * 60
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    return days, hours, minutes


def local_bounds(start: date, end: date, timezone: str) -> tuple[datetime, datetime]:
    """Returns the UTC instants of local midnight on ``start`` and after ``end``."""
    zone = ZoneInfo(timezone)
    first = datetime.combine(start, time(), zone)
    after = datetime.combine(end + timedelta(days=1), time(), zone)
    return first.astimezone(ZoneInfo("UTC")), after.astimezone(ZoneInfo("UTC"))


@dataclass(frozen=True)
class DateRange:
    start: date
    end: date
    error: str | None = None


def parse_range(
    start: str | None, end: str | None, today: date, days: int = DEFAULT_DAYS
) -> DateRange:
    """Returns the range asked for (YYYY-MM-DD strings), or the last ``days`` days
    ending today with an error code when the input is unusable."""
    default = DateRange(today - timedelta(days=days - 1), today)
    if not start and not end:
        return default
    try:
        first = date.fromisoformat(start) if start else default.start
        last = date.fromisoformat(end) if end else default.end
    except ValueError:
        return DateRange(default.start, default.end, "invalid")
    if first > last:
        return DateRange(default.start, default.end, "reversed")
    return DateRange(first, last)


@dataclass
class Scorecard:
    """One contractor's record over the range (counts; rates are derived)."""

    contractor_id: int | None
    name: str
    assignments: int = 0
    accepted: int = 0
    declined: int = 0
    unanswered: int = 0
    on_site: Compliance = field(default_factory=Compliance)
    completed: int = 0
    reopened: int = 0

    @property
    def acceptance_rate(self) -> float | None:
        return ratio(self.accepted, self.accepted + self.declined + self.unanswered)

    @property
    def on_time_rate(self) -> float | None:
        return self.on_site.rate

    @property
    def reopen_rate(self) -> float | None:
        return ratio(self.reopened, self.completed)


# --- SQL -----------------------------------------------------------------------------


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
        zones[community.timezone or DEFAULT_TIMEZONE].append(community.id)
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


#: clock → (the column that stops it, the column of its deadline, which tickets)
CLOCKS = {
    "triage": (Ticket.urgency_confirmed_at, Ticket.triage_due_at, None),
    "contact": (
        sa.func.coalesce(Ticket.accepted_at, Ticket.on_site_at, Ticket.completed_at),
        Ticket.contact_due_at,
        Urgency.URGENT,
    ),
    "urgent_on_site": (
        sa.func.coalesce(Ticket.on_site_at, Ticket.completed_at),
        Ticket.on_site_due_at,
        Urgency.URGENT,
    ),
    "general_on_site": (
        sa.func.coalesce(Ticket.on_site_at, Ticket.completed_at),
        Ticket.on_site_due_at,
        Urgency.GENERAL,
    ),
}
CLOCK_TITLES = {
    "triage": _l("Triage: urgency confirmed"),
    "contact": _l("Urgent: contractor contacted"),
    "urgent_on_site": _l("Urgent: on site"),
    "general_on_site": _l("General: on site"),
}


def _outcome_sums(done, due, now: datetime, applies=None) -> list:
    """Returns SUM(CASE …) columns counting met, late, overdue and pending."""
    base = [_with_work(), due.is_not(None)]
    if applies is not None:
        base.append(applies)
    conditions = {
        MET: sa.and_(*base, done.is_not(None), done <= due),
        LATE: sa.and_(*base, done.is_not(None), done > due),
        OVERDUE: sa.and_(*base, done.is_(None), due < now),
        PENDING: sa.and_(*base, done.is_(None), due >= now),
    }
    return [
        sa.func.coalesce(sa.func.sum(sa.case((condition, 1), else_=0)), 0)
        for condition in conditions.values()
    ]


def compliance(where, now: datetime) -> dict[str, Compliance]:
    """Returns each SLA clock's compliance over the tickets ``where`` selects."""
    columns = []
    for done, due, urgency in CLOCKS.values():
        applies = Ticket.urgency == urgency if urgency is not None else None
        columns.extend(_outcome_sums(done, due, now, applies))
    row = db.session.execute(sa.select(*columns).where(where)).one()
    return {
        clock: Compliance(*(int(value) for value in row[i * 4 : i * 4 + 4]))
        for i, clock in enumerate(CLOCKS)
    }


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


def _name(name: str | None, name_en: str | None, locale: str) -> str:
    return (name_en or name or "") if locale.startswith("en") else (name or "")


def counts_by_category(where, locale: str) -> list[tuple[str, int]]:
    rows = db.session.execute(
        sa.select(Category.name, Category.name_en, sa.func.count(Ticket.id))
        .select_from(Ticket)
        .outerjoin(Category, Ticket.category_id == Category.id)
        .where(where)
        .group_by(Category.id, Category.name, Category.name_en)
    ).all()
    return _sorted(
        (_name(name, en, locale) if name else _("No category"), count)
        for name, en, count in rows
    )


def counts_by_building(where, locale: str, with_community: bool):
    rows = db.session.execute(
        sa.select(
            Community.name,
            Community.name_en,
            Building.name,
            Building.name_en,
            sa.func.count(Ticket.id),
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
        )
    ).all()
    counted = []
    for community, community_en, name, name_en, count in rows:
        label = _name(name, name_en, locale) if name else _("No building")
        if with_community:
            label = f"{_name(community, community_en, locale)} {label}"
        counted.append((label, count))
    return _sorted(counted)


def counts_by_contractor(where) -> list[tuple[str, int]]:
    rows = db.session.execute(
        sa.select(Contractor.name, sa.func.count(Ticket.id))
        .select_from(Ticket)
        .outerjoin(Contractor, Ticket.contractor_id == Contractor.id)
        .where(where)
        .group_by(Contractor.id, Contractor.name)
    ).all()
    return _sorted((name or _("Not assigned"), count) for name, count in rows)


def _sorted(rows: Iterable[tuple[str, int]]) -> list[tuple[str, int]]:
    return sorted(rows, key=lambda row: (-row[1], row[0]))


def chart_rows(rows: list[tuple[str, int]], limit: int = CHART_ROWS):
    """Returns at most ``limit`` bars: the largest, then the rest summed as one."""
    if len(rows) <= limit:
        return rows
    rest = sum(count for _label, count in rows[limit - 1 :])
    return rows[: limit - 1] + [(_("Others"), rest)]


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
    declined = reason == "declined"
    taken_away = reason.in_(("reassigned", "undeliverable"))

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
        sa.select(Ticket.contractor_id, *_outcome_sums(done, due, now))
        .where(where, Ticket.contractor_id.is_not(None))
        .group_by(Ticket.contractor_id)
    ).all()
    for contractor_id, *counts in arrivals:
        card(contractor_id).on_site = Compliance(*(int(c) for c in counts))

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


# --- presentation -------------------------------------------------------------------


#: A rating of this many stars or more counts as satisfied.
SATISFIED_STARS = 4
#: The seeds' target: 满意度 ≥ 95%.
SATISFACTION_TARGET = 0.95


@dataclass(frozen=True)
class Satisfaction:
    """Residents' ratings of the tickets in range: overall and per contractor."""

    ratings: int
    satisfied: int
    average: float | None
    by_contractor: list[tuple[str, int, float, float | None]]

    @property
    def rate(self) -> float | None:
        return ratio(self.satisfied, self.ratings)


def summarize_ratings(rows: Iterable[tuple[int, str | None]]) -> Satisfaction:
    """Returns the satisfaction figures of (stars, contractor name) pairs."""
    rows = list(rows)
    per: dict[str, list[int]] = {}
    for stars, name in rows:
        per.setdefault(name or "", []).append(stars)
    stars = [row[0] for row in rows]
    return Satisfaction(
        ratings=len(stars),
        satisfied=sum(1 for s in stars if s >= SATISFIED_STARS),
        average=sum(stars) / len(stars) if stars else None,
        by_contractor=sorted(
            (
                name,
                len(given),
                sum(given) / len(given),
                ratio(sum(1 for s in given if s >= SATISFIED_STARS), len(given)),
            )
            for name, given in per.items()
        ),
    )


def satisfaction(where) -> Satisfaction:
    """Returns the residents' ratings of the tickets in range."""
    rows = db.session.execute(
        sa.select(Rating.stars, Contractor.name)
        .join(Ticket, Rating.ticket_id == Ticket.id)
        .outerjoin(Contractor, Ticket.contractor_id == Contractor.id)
        .where(where)
    ).all()
    return summarize_ratings((stars, name) for stars, name in rows)


def format_duration(seconds: float | None) -> str:
    """Returns a duration for people: '23 min', '1 h 40 min', '2 d 3 h'."""
    if seconds is None:
        return "—"
    if seconds < 60:
        return _("under 1 min")
    days, hours, minutes = duration_parts(seconds)
    if days:
        text = _("%(n)s d", n=days)
        return text + (" " + _("%(n)s h", n=hours) if hours else "")
    if hours:
        text = _("%(n)s h", n=hours)
        return text + (" " + _("%(n)s min", n=minutes) if minutes else "")
    return _("%(n)s min", n=minutes)


def format_percent(rate: float | None) -> str:
    """Returns a rate as '96.5%', or a dash when there is nothing to divide."""
    if rate is None:
        return "—"
    return f"{rate * 100:.1f}".rstrip("0").rstrip(".") + "%"


SHARE_COLOURS = {
    MET: "#146c2e",
    LATE: "#e0892b",
    OVERDUE: "#b3261e",
    PENDING: "#aab3c2",
}


def _selection():
    """Returns (visible communities, chosen ones, chosen community or None, range)."""
    visible = visible_communities()
    chosen_id = request.args.get("community", type=int)
    chosen = None
    if chosen_id:
        chosen = next((c for c in visible if c.id == chosen_id), None)
        if chosen is None:
            abort(404)  # not 403: no hint that it exists
    communities = [chosen] if chosen else visible
    zone = communities[0].timezone if communities else DEFAULT_TIMEZONE
    today = utcnow().astimezone(ZoneInfo(zone or DEFAULT_TIMEZONE)).date()
    period = parse_range(request.args.get("from"), request.args.get("to"), today)
    return visible, communities, chosen, period


RANGE_ERRORS = {
    "invalid": _l("Dates must look like 2026-03-31; showing the last 30 days."),
    "reversed": _l("The start date is after the end date; showing the last 30 days."),
}


@bp.get("/stats")
@staff_only
def stats():
    """Statistics for a date range and community, with charts and tables."""
    visible, communities, chosen, period = _selection()
    where = in_range(communities, period.start, period.end)
    now = utcnow()
    locale = current_locale()
    by = {
        "category": counts_by_category(where, locale),
        "building": counts_by_building(where, locale, len(communities) > 1),
        "contractor": counts_by_contractor(where),
    }
    by_titles = {
        "category": _("Tickets by category"),
        "building": _("Tickets by building"),
        "contractor": _("Tickets by contractor"),
    }
    charts_svg = {
        name: charts.bar_chart(
            chart_rows(rows), title=by_titles[name], chart_id=f"chart-{name}"
        )
        for name, rows in by.items()
        if rows
    }
    clocks = compliance(where, now)
    outcome_labels = {
        MET: _("Met"),
        LATE: _("Late"),
        OVERDUE: _("Not done, past due"),
        PENDING: _("Not yet due"),
    }
    shares = {
        clock: charts.share_bar(
            [
                (outcome_labels[o], getattr(result, o), SHARE_COLOURS[o])
                for o in (MET, LATE, OVERDUE, PENDING)
            ],
            title=str(CLOCK_TITLES[clock]),
        )
        for clock, result in clocks.items()
    }
    return render_template(
        "board/stats.html",
        visible=visible,
        chosen=chosen,
        period=period,
        range_error=RANGE_ERRORS.get(period.error),
        totals=status_totals(where),
        by=by,
        by_titles=by_titles,
        charts=charts_svg,
        clocks=clocks,
        clock_titles=CLOCK_TITLES,
        shares=shares,
        outcome_labels=outcome_labels,
        share_colours=SHARE_COLOURS,
        times=response_times(where),
        scorecards=scorecards(where, now),
        satisfaction=satisfaction(where),
        satisfaction_target=SATISFACTION_TARGET,
        format_duration=format_duration,
        format_percent=format_percent,
    )


#: The CSV's timestamp columns, in the order a ticket passes them.
CSV_TIMES = (
    "created_at",
    "triage_due_at",
    "urgency_confirmed_at",
    "dispatched_at",
    "contact_due_at",
    "accepted_at",
    "on_site_due_at",
    "on_site_at",
    "completed_at",
    "closed_at",
    "updated_at",
)
CSV_HEADER = (
    "number",
    "community",
    "building",
    "entrance",
    "category",
    "urgency",
    "status",
    "contractor",
    "channel",
    *CSV_TIMES,
)
CSV_BATCH = 2000


def csv_rows(where, locale: str) -> Iterator[list[str]]:
    """Yields one CSV row per ticket: names, then every timestamp as local ISO 8601
    with its UTC offset (e.g. 2026-03-01T09:15:00+08:00)."""
    query = (
        sa.select(
            Ticket.number,
            Community.name,
            Community.name_en,
            Community.timezone,
            Building.name,
            Building.name_en,
            Entrance.name,
            Entrance.name_en,
            Category.name,
            Category.name_en,
            Ticket.urgency,
            Ticket.status,
            Contractor.name,
            Ticket.channel,
            *(getattr(Ticket, column) for column in CSV_TIMES),
        )
        .select_from(Ticket)
        .join(Community, Ticket.community_id == Community.id)
        .outerjoin(Entrance, Ticket.entrance_id == Entrance.id)
        .outerjoin(Building, Entrance.building_id == Building.id)
        .outerjoin(Category, Ticket.category_id == Category.id)
        .outerjoin(Contractor, Ticket.contractor_id == Contractor.id)
        .where(where)
        .order_by(Ticket.created_at, Ticket.id)
        .execution_options(yield_per=CSV_BATCH)
    )
    zones: dict[str, ZoneInfo] = {}
    for row in db.session.execute(query):
        (number, community, community_en, zone_name, building, building_en) = row[:6]
        (entrance, entrance_en, category, category_en, urgency, status) = row[6:12]
        contractor, channel, *times = row[12:]
        zone = zones.setdefault(
            zone_name or DEFAULT_TIMEZONE, ZoneInfo(zone_name or DEFAULT_TIMEZONE)
        )
        yield [
            number,
            _name(community, community_en, locale),
            _name(building, building_en, locale),
            _name(entrance, entrance_en, locale),
            _name(category, category_en, locale),
            urgency.value if urgency else "",
            status.value,
            contractor or "",
            channel.value,
            *(t.astimezone(zone).isoformat() if t else "" for t in times),
        ]


def csv_document(rows: Iterable[list[str]]) -> Iterator[str]:
    """Yields a UTF-8 CSV with a BOM (so Excel reads Chinese), in chunks."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    buffer.write("\ufeff")
    writer.writerow(CSV_HEADER)
    for count, row in enumerate(rows, start=1):
        writer.writerow(row)
        if count % CSV_BATCH == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


@bp.get("/stats.csv")
@staff_only
def export_csv():
    """Every ticket submitted in the range, with every timestamp, as CSV."""
    _visible, communities, chosen, period = _selection()
    where = in_range(communities, period.start, period.end)
    name = f"repairdesk-{chosen.slug if chosen else 'all'}-{period.start}-{period.end}"
    body = csv_document(csv_rows(where, current_locale()))
    return Response(
        stream_with_context(body),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )


def init_app(app: Flask) -> None:
    """Registers the stats pages and their link in the board's navigation."""
    app.register_blueprint(bp)
    add_board_link(app, "stats.stats", _l("Statistics"), STAFF)

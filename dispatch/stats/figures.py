"""Statistics figures: pure arithmetic on plain values, tested without an app.

Ratios, percentiles, durations, date ranges, scorecards and satisfaction; the SQL
that feeds them is in `queries`.

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
- Pauses (挂起): an approved pause stops the on-site clock and moves its deadline by
  the time paused; compliance is shown by the moved deadlines and, "counting paused
  time", against the deadlines as they would have been without any pause. A clock
  paused now is not yet due.
- Reopen rate = the contractor's completions (complete events) after which the
  ticket was reopened / all their completions.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask_babel import gettext as _

DEFAULT_DAYS = 30
#: Bars drawn per chart; the rest are summed into one "others" bar (the table has all).
CHART_ROWS = 12

MET, LATE, OVERDUE, PENDING = "met", "late", "overdue", "pending"


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
    #: on time had the paused time counted (as if there had been no pause)
    on_site_paused_time: Compliance = field(default_factory=Compliance)
    completed: int = 0
    reopened: int = 0
    #: approved pauses (挂起) and their total length
    pauses: int = 0
    paused_seconds: float = 0.0

    @property
    def acceptance_rate(self) -> float | None:
        return ratio(self.accepted, self.accepted + self.declined + self.unanswered)

    @property
    def on_time_rate(self) -> float | None:
        return self.on_site.rate

    @property
    def reopen_rate(self) -> float | None:
        return ratio(self.reopened, self.completed)


def by_count(rows: Iterable[tuple[str, int]]) -> list[tuple[str, int]]:
    """Returns (label, count) rows, largest first, then by label."""
    return sorted(rows, key=lambda row: (-row[1], row[0]))


def chart_rows(rows: list[tuple[str, int]], limit: int = CHART_ROWS):
    """Returns at most ``limit`` bars: the largest, then the rest summed as one."""
    if len(rows) <= limit:
        return rows
    rest = sum(count for _label, count in rows[limit - 1 :])
    return rows[: limit - 1] + [(_("Others"), rest)]


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

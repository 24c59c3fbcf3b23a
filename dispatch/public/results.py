"""A community's month for the public: the officer statistics' figures by category
and the completed repairs, with nothing that names or reaches a person.

The figures come from `dispatch.stats.queries`, the officer statistics' own
queries over the same month (tickets *received* in it, local days), so the two
pages never disagree. A month's completed repairs are the tickets received in it
that are repaired (completed or closed) now.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from flask_babel import gettext as _

from dispatch.stats.figures import Compliance, Durations, Satisfaction
from dispatch.stats.queries import (
    DONE,
    compliance,
    in_range,
    response_times,
    satisfaction,
    status_totals,
)
from repair.db import db
from repair.i18n import local_time, localised_name, zone_name
from repair.models import Building, Category, Community, Entrance, Ticket

#: The earliest month anyone can ask for (the security edge's earliest day).
EARLIEST_MONTH = date(2000, 1, 1)
_MONTH = re.compile(r"([0-9]{4})-([0-9]{2})")
#: A numeral as a number may be written: any digit (full-width too), Chinese
#: numerals (幺 for 1 as it is read aloud) and their financial forms (壹贰叁…).
_NUMERAL = r"(?:\d|[零〇一二三四五六七八九幺两壹贰貳叁參肆伍陆陸柒捌玖])"
#: What may stand between a number's numerals: anything but a letter, a numeral
#: or a Chinese character (spaces, - — / _ ， . + and the like), up to three.
_SEPARATOR = r"(?:[^\w]|_)"
#: Runs of 7+ numerals a phone or ID number could hide in (an ID card's final X
#: goes with it).
_NUMERAL_RUN = re.compile(
    rf"\+?{_NUMERAL}(?:{_SEPARATOR}{{0,3}}{_NUMERAL}){{6,}}(?:[Xx](?![A-Za-z0-9]))?"
)
#: A run that is nothing but dates and times (2026-11-22 10:30) is kept.
_DATE = r"(?:19|20)\d{2}[-/.](?:0?[1-9]|1[0-2])[-/.](?:0?[1-9]|[12]\d|3[01])"
_TIME = r"(?:[01]?\d|2[0-3])[:：][0-5]\d(?:[:：][0-5]\d)?"
_DATES_AND_TIMES = re.compile(
    rf"(?:{_DATE}|{_TIME})(?:\s*[-–—~～]?\s*(?:{_DATE}|{_TIME}))*"
)
#: A licence plate: the province's character, the city's letter, five or six more.
_PLATE = re.compile(
    r"[京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼使领]"
    r"[A-Za-z][\s·•\-]?[A-Za-z0-9]{5,6}(?![A-Za-z0-9])"
)
#: Other ways to be reached: an e-mail address, a WeChat or QQ id after one of
#: the usual spellings (微信 威信 薇信 V信 vx wx 加我 加微 …).
_CONTACTS = re.compile(
    r"[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+"
    r"|(?:微信号?|威信|薇信|v信|vx|wx|wechat|weixin|加我|加微|qq|QQ号?)"
    r"[\s:：号是为]*[A-Za-z0-9_\-]{4,}",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Figures:
    """One row of the month: all categories, or one."""

    label: str
    received: int
    completed: int
    ended: int
    clocks: dict[str, Compliance]
    times: dict[str, Durations]
    satisfaction: Satisfaction

    @property
    def with_work(self) -> int:
        """Returns the reports that were worked on (not rejected or merged)."""
        return self.received - self.ended


@dataclass(frozen=True)
class Repair:
    """A completed repair as the public sees it."""

    number: str
    place: str
    category: str
    received_at: datetime
    completed_at: datetime | None
    description: str | None


@dataclass(frozen=True)
class Month:
    """The figures and repairs of one community's month."""

    first: date
    total: Figures
    by_category: list[Figures]
    repairs: list[Repair]
    computed_at: datetime

    @property
    def key(self) -> str:
        return f"{self.first:%Y-%m}"


def parse_month(text: str, today: date) -> date | None:
    """Returns the first day of a 'YYYY-MM' month from 2000 to ``today``'s, else
    None (a malformed, impossible or future month)."""
    match = _MONTH.fullmatch(text)
    if not match:
        return None
    year, month = int(match.group(1)), int(match.group(2))
    if not (1 <= month <= 12 and EARLIEST_MONTH.year <= year <= today.year):
        return None  # date() refuses year 0 (a ValueError, not a month)
    first = date(year, month, 1)
    if first < EARLIEST_MONTH or first > today.replace(day=1):
        return None
    return first


def last_day(first: date) -> date:
    """Returns the last day of the month starting on ``first``."""
    return first.replace(day=calendar.monthrange(first.year, first.month)[1])


def months_published(community: Community, today: date) -> list[date]:
    """Returns the first days of the months from the community's first report to
    ``today``'s month, newest first."""
    earliest = db.session.scalar(
        sa.select(sa.func.min(Ticket.created_at)).where(
            Ticket.community_id == community.id
        )
    )
    current = today.replace(day=1)
    if earliest is None:
        return [current]
    start = local_time(earliest, zone_name(community)).date().replace(day=1)
    start = max(start, EARLIEST_MONTH)
    months = []
    while current >= start:
        months.append(current)
        current = (current - timedelta(days=1)).replace(day=1)
    return months


def _figures(label: str, where, now: datetime) -> Figures:
    totals = status_totals(where)
    return Figures(
        label=label,
        received=totals["total"],
        completed=totals["done"],
        ended=totals["ended"],
        clocks=compliance(where, now),
        times=response_times(where),
        satisfaction=satisfaction(where),
    )


def month_results(
    community: Community, first: date, now: datetime, locale: str
) -> Month:
    """Returns the community's figures and completed repairs of the month."""
    where = in_range([community], first, last_day(first))
    categories = db.session.execute(
        sa.select(Category.id, Category.name, Category.name_en)
        .select_from(Ticket)
        .outerjoin(Category, Ticket.category_id == Category.id)
        .where(where)
        .group_by(Category.id, Category.name, Category.name_en, Category.sort_order)
        .order_by(Category.sort_order.is_(None), Category.sort_order)
    ).all()
    by_category = [
        _figures(
            localised_name(name, name_en, locale) if name else _("No category"),
            sa.and_(
                where,
                Ticket.category_id == category_id
                if category_id is not None
                else Ticket.category_id.is_(None),
            ),
            now,
        )
        for category_id, name, name_en in categories
    ]
    return Month(
        first=first,
        total=_figures(_("All categories"), where, now),
        by_category=by_category,
        repairs=completed_repairs(where, locale),
        computed_at=now,
    )


def completed_repairs(where, locale: str) -> list[Repair]:
    """Returns the repaired tickets ``where`` selects, by completion: the number,
    the place's label (building and entrance, never the resident's own words on
    the spot), the category and the dates; the description only when an officer
    made the ticket public, with digit runs and the reporter's name hidden."""
    rows = db.session.execute(
        sa.select(
            Ticket.number,
            Building.name,
            Building.name_en,
            Entrance.name,
            Entrance.name_en,
            Category.name,
            Category.name_en,
            Ticket.created_at,
            Ticket.completed_at,
            Ticket.made_public_at,
            Ticket.description,
            Ticket.reporter_name,
        )
        .select_from(Ticket)
        .outerjoin(Entrance, Ticket.entrance_id == Entrance.id)
        .outerjoin(Building, Entrance.building_id == Building.id)
        .outerjoin(Category, Ticket.category_id == Category.id)
        .where(where, Ticket.status.in_(DONE))
        .order_by(Ticket.completed_at, Ticket.id)
    ).all()
    repairs = []
    for row in rows:
        (number, building, building_en, entrance, entrance_en) = row[:5]
        (category, category_en, received, completed, public) = row[5:10]
        description, reporter_name = row[10:]
        place = " ".join(
            part
            for part in (
                localised_name(building, building_en, locale),
                localised_name(entrance, entrance_en, locale),
            )
            if part
        )
        repairs.append(
            Repair(
                number=number,
                place=place or "—",
                category=localised_name(category, category_en, locale) or "—",
                received_at=received,
                completed_at=completed,
                description=public_text(description, reporter_name) if public else None,
            )
        )
    return repairs


def public_text(description: str | None, reporter_name: str | None) -> str | None:
    """Returns a description fit to publish: e-mail addresses, WeChat and QQ ids,
    licence plates, runs of 7+ numerals in any writing and with any separators
    (phone and ID numbers; a run of only dates and times stays) and the
    reporter's own name are replaced by asterisks."""
    text = _CONTACTS.sub("****", description or "")
    text = _PLATE.sub("****", text)
    text = _NUMERAL_RUN.sub(_hide_number, text).strip()
    name = (reporter_name or "").strip()
    if name:
        text = text.replace(name, "*" * len(name))
    return text or None


def _hide_number(match: re.Match) -> str:
    run = match.group(0)
    if _DATES_AND_TIMES.fullmatch(run):
        return run
    # A number written next to words that start or end with a numeral (电话
    # 13800001234三楼) leaves them their numeral: one or two Chinese numerals
    # next to digits on one side and to a word on the other.
    text, start, end = match.string, match.start(), match.end()
    head = _HEAD.match(run) if start and _is_word(text[start - 1]) else None
    tail = _TAIL.search(run) if end < len(text) and _is_word(text[end]) else None
    kept_head = head.group(1) if head else ""
    kept_tail = tail.group(1) if tail else ""
    return f"{kept_head}****{kept_tail}"


_CHINESE_NUMERALS = "零〇一二三四五六七八九幺两"
_HEAD = re.compile(rf"([{_CHINESE_NUMERALS}]{{1,2}}{_SEPARATOR}{{0,3}})[0-9０-９]")
_TAIL = re.compile(rf"[0-9０-９]({_SEPARATOR}{{0,3}}[{_CHINESE_NUMERALS}]{{1,2}})$")


def _is_word(char: str) -> bool:
    """Returns whether ``char`` is a Chinese character other than a numeral."""
    return (
        "\u4e00" <= char <= "\u9fff"
        and char not in _CHINESE_NUMERALS + "壹贰貳叁參肆伍陆陸柒捌玖"
    )

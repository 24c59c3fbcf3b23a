"""Statistics export: every ticket in a range as CSV, streamed in batches.

Cells are neutralised against formula injection: a spreadsheet would run a cell
starting with ``= + - @`` (or a tab or carriage return) as a formula.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from repair.db import db
from repair.i18n import localised_name, zone_name
from repair.models import Building, Category, Community, Contractor, Entrance, Ticket

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
#: A cell starting with one of these is a formula to Excel, LibreOffice and Sheets.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


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
    default_zone = zone_name()
    for row in db.session.execute(query):
        (number, community, community_en, zone, building, building_en) = row[:6]
        (entrance, entrance_en, category, category_en, urgency, status) = row[6:12]
        contractor, channel, *times = row[12:]
        zone = zone or default_zone
        zone = zones.setdefault(zone, ZoneInfo(zone))
        yield [
            number,
            localised_name(community, community_en, locale),
            localised_name(building, building_en, locale),
            localised_name(entrance, entrance_en, locale),
            localised_name(category, category_en, locale),
            urgency.value if urgency else "",
            status.value,
            contractor or "",
            channel.value,
            *(t.astimezone(zone).isoformat() if t else "" for t in times),
        ]


def neutralise(cell: str) -> str:
    """Returns the cell with a leading apostrophe when a spreadsheet would read it
    as a formula (OWASP's advice against CSV injection), else unchanged."""
    return "'" + cell if cell.startswith(FORMULA_STARTS) else cell


def csv_document(rows: Iterable[list[str]]) -> Iterator[str]:
    """Yields a UTF-8 CSV with a BOM (so Excel reads Chinese), in chunks, every
    cell neutralised."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    buffer.write("\ufeff")
    writer.writerow(CSV_HEADER)
    for count, row in enumerate(rows, start=1):
        writer.writerow([neutralise(cell) for cell in row])
        if count % CSV_BATCH == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()

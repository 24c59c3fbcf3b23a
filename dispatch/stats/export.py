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
from flask_babel import lazy_gettext as _l

from repair.db import db
from repair.i18n import localised_name, zone_name
from repair.models import (
    Building,
    Category,
    Community,
    Contractor,
    Entrance,
    RepairMaterial,
    Ticket,
)
from repair.money import hours_text, quantity_text, yuan

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
#: The stable English keys of the columns (``?keys=en``: for machines).
CSV_HEADER = (
    "number",
    "community",
    "building",
    "entrance",
    "spot",
    "category",
    "description",
    "urgency",
    "status",
    "contractor",
    "channel",
    *CSV_TIMES,
    # The repair record (summed over every completion); money in yuan, 2 decimals.
    "materials",
    "labour_hours",
    "materials_cost",
    "labour_cost",
    "total_cost",
    # Pauses (挂起): the on-site clock's time stood still, and since when if now.
    "paused_hours",
    "paused_since",
)
#: The columns' names in the officer's language (the default header).
CSV_TITLES = {
    "number": _l("Ticket number"),
    "community": _l("Community"),
    "building": _l("Building"),
    "entrance": _l("Entrance"),
    "spot": _l("Exact spot"),
    "category": _l("Category"),
    "description": _l("Problem"),
    "urgency": _l("Urgency"),
    "status": _l("Status"),
    "contractor": _l("Contractor"),
    "channel": _l("Channel"),
    "created_at": _l("Reported at"),
    "triage_due_at": _l("Urgency to confirm by"),
    "urgency_confirmed_at": _l("Urgency confirmed at"),
    "dispatched_at": _l("Dispatched at"),
    "contact_due_at": _l("To accept by"),
    "accepted_at": _l("Accepted at"),
    "on_site_due_at": _l("On site by"),
    "on_site_at": _l("On site at"),
    "completed_at": _l("Completed at"),
    "closed_at": _l("Closed at"),
    "updated_at": _l("Last change at"),
    "materials": _l("Materials used"),
    "labour_hours": _l("Labour time (hours)"),
    "materials_cost": _l("Materials cost (yuan)"),
    "labour_cost": _l("Labour cost (yuan)"),
    "total_cost": _l("Total cost (yuan)"),
    "paused_hours": _l("Paused (hours, ended pauses)"),
    "paused_since": _l("Paused now, since"),
}
#: Coded values as the officer reads them (the English keys keep the codes).
VALUE_TITLES = {
    "urgent": _l("Urgent"),
    "general": _l("General"),
    "new": _l("Received"),
    "dispatched": _l("Sent to contractor"),
    "accepted": _l("Contractor on the way"),
    "on_site": _l("Contractor on site"),
    "completed": _l("Repaired"),
    "closed": _l("Closed"),
    "rejected": _l("Not accepted"),
    "duplicate": _l("Merged with another report"),
    "qr": _l("QR sticker"),
    "phone": _l("by phone"),
    "walk_in": _l("in person"),
    "board": _l("board"),
    "open311": _l("Open311"),
    "hotline": _l("hotline"),
}
CSV_BATCH = 2000
#: A cell starting with one of these is a formula to Excel, LibreOffice and Sheets.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_rows(where, locale: str, codes: bool = False) -> Iterator[list[str]]:
    """Yields one CSV row per ticket: names, the spot and the description, then
    every timestamp as local ISO 8601 with its UTC offset (e.g.
    2026-03-01T09:15:00+08:00). Urgency, status and channel are codes with
    ``codes`` (the English keys), else words in the officer's language."""

    def word(code: str) -> str:
        return code if codes or code not in VALUE_TITLES else str(VALUE_TITLES[code])

    query = (
        sa.select(
            Ticket.id,
            Ticket.labour_minutes,
            Ticket.materials_cost_fen,
            Ticket.labour_cost_fen,
            Ticket.total_cost_fen,
            Ticket.paused_seconds,
            Ticket.paused_at,
            Ticket.number,
            Community.name,
            Community.name_en,
            Community.timezone,
            Building.name,
            Building.name_en,
            Entrance.name,
            Entrance.name_en,
            Ticket.spot,
            Ticket.description,
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
    for rows in db.session.execute(query).partitions():
        lines = material_texts([row[0] for row in rows])
        for row in rows:
            ticket_id, minutes, materials_fen, labour_fen, total_fen = row[:5]
            paused_seconds, paused_at = row[5:7]
            cells = _ticket_cells(row[7:], word, locale, zones, default_zone)
            zone = zones[row[10] or default_zone]
            yield [
                *cells,
                lines.get(ticket_id, ""),
                hours_text(minutes),
                yuan(materials_fen),
                yuan(labour_fen),
                yuan(total_fen),
                f"{paused_seconds / 3600:.2f}" if paused_seconds else "",
                paused_at.astimezone(zone).isoformat() if paused_at else "",
            ]


def material_texts(ticket_ids: list[int]) -> dict[int, str]:
    """Returns each ticket's material lines as one cell: "name quantity unit ×
    unit price = amount", separated by "; "."""
    texts: dict[int, list[str]] = {}
    rows = db.session.scalars(
        sa.select(RepairMaterial)
        .where(RepairMaterial.ticket_id.in_(ticket_ids))
        .order_by(RepairMaterial.id)
    )
    for line in rows:
        texts.setdefault(line.ticket_id, []).append(
            f"{line.name} {quantity_text(line.quantity_hundredths)}{line.unit or ''}"
            f" × {yuan(line.unit_price_fen)} = {yuan(line.amount_fen)}"
        )
    return {ticket_id: "; ".join(parts) for ticket_id, parts in texts.items()}


def _ticket_cells(row, word, locale: str, zones, default_zone: str) -> list[str]:
    """Returns the cells of one ticket's names, texts, codes and times."""
    (number, community, community_en, zone, building, building_en) = row[:6]
    (entrance, entrance_en, spot, description) = row[6:10]
    (category, category_en, urgency, status) = row[10:14]
    contractor, channel, *times = row[14:]
    zone = zone or default_zone
    zone = zones.setdefault(zone, ZoneInfo(zone))
    return [
        number,
        localised_name(community, community_en, locale),
        localised_name(building, building_en, locale),
        localised_name(entrance, entrance_en, locale),
        spot or "",
        localised_name(category, category_en, locale),
        description or "",
        word(urgency.value) if urgency else "",
        word(status.value),
        contractor or "",
        word(channel.value),
        *(t.astimezone(zone).isoformat() if t else "" for t in times),
    ]


def neutralise(cell: str) -> str:
    """Returns the cell with a leading apostrophe when a spreadsheet would read it
    as a formula (OWASP's advice against CSV injection), else unchanged."""
    return "'" + cell if cell.startswith(FORMULA_STARTS) else cell


def csv_header(keys: bool = False) -> list[str]:
    """Returns the header row: the stable English keys, or the officer's words."""
    return list(CSV_HEADER) if keys else [str(CSV_TITLES[k]) for k in CSV_HEADER]


def csv_document(rows: Iterable[list[str]], keys: bool = False) -> Iterator[str]:
    """Yields a UTF-8 CSV with a BOM (so Excel reads Chinese), in chunks, every
    cell neutralised; ``keys``: the header is the stable English keys."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    buffer.write("\ufeff")
    writer.writerow([neutralise(cell) for cell in csv_header(keys)])
    for count, row in enumerate(rows, start=1):
        writer.writerow([neutralise(cell) for cell in row])
        if count % CSV_BATCH == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()

"""The archive file (档案): each ended ticket's record as NUMBER.json and
NUMBER.pdf, the photos' display copies, an index and SHA256SUMS, in a zip whose
bytes depend on the data alone (fixed timestamps and order)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import IO, Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from dispatch.archive.pdf import render_record
from dispatch.archive.record import FORMAT, Labels, both, ticket_record
from dispatch.stats.export import neutralise
from repair.db import db
from repair.i18n import zone_name
from repair.models import (
    CLOSED_STATUSES,
    Building,
    Community,
    Entrance,
    Ticket,
    TicketPause,
)
from repair.photos.store import photo_store, store_errors

#: Every entry's modification time: the earliest a zip can say, so the same data
#: always makes the same bytes.
FIXED_TIME = (1980, 1, 1, 0, 0, 0)
#: Tickets loaded (with their events, photos, pauses) at a time.
BATCH = 100
INDEX_COLUMNS = (
    "number",
    "status",
    "category",
    "place",
    "reported_at",
    "closed_at",
    "stars",
    "photos",
    "json_sha256",
    "pdf_sha256",
)


def year_window(community: Community, year: int) -> tuple[datetime, datetime]:
    """Returns the UTC start and end of a year in the community's time zone."""
    zone = ZoneInfo(zone_name(community))
    start = datetime(year, 1, 1, tzinfo=zone).astimezone(UTC)
    end = datetime(year + 1, 1, 1, tzinfo=zone).astimezone(UTC)
    return start, end


def ended_in_year(community: Community, year: int) -> sa.Select:
    """Returns the query of the community's tickets that ended (closed, rejected
    or merged) in the local year, by number."""
    start, end = year_window(community, year)
    return (
        sa.select(Ticket.id)
        .where(
            Ticket.community_id == community.id,
            Ticket.status.in_(CLOSED_STATUSES),
            Ticket.closed_at >= start,
            Ticket.closed_at < end,
        )
        .order_by(Ticket.number)
    )


def _loaded(ids: list[int]) -> list[Ticket]:
    tickets = db.session.scalars(
        sa.select(Ticket)
        .where(Ticket.id.in_(ids))
        .options(
            selectinload(Ticket.entrance)
            .selectinload(Entrance.building)
            .selectinload(Building.community),
            selectinload(Ticket.community),
            selectinload(Ticket.category),
            selectinload(Ticket.lift),
            selectinload(Ticket.contractor),
            selectinload(Ticket.events),
            selectinload(Ticket.photos),
            selectinload(Ticket.pauses).selectinload(TicketPause.contractor),
            selectinload(Ticket.rating),
            selectinload(Ticket.followers),
        )
    ).all()
    by_id = {ticket.id: ticket for ticket in tickets}
    return [by_id[ticket_id] for ticket_id in ids if ticket_id in by_id]


def tickets_in_batches(ids: list[int], release: bool = False) -> Iterator[Ticket]:
    """Yields the tickets in order, loaded BATCH at a time; with release, each
    batch leaves the session afterwards (a year's archive stays small in memory)."""
    for start in range(0, len(ids), BATCH):
        yield from _loaded(ids[start : start + BATCH])
        if release:
            db.session.expunge_all()


class _ArchiveZip:
    """A zip written in a fixed order with fixed metadata, counting checksums."""

    def __init__(self, fileobj: IO[bytes]) -> None:
        self.zip = zipfile.ZipFile(fileobj, "w")
        self.sums: dict[str, str] = {}

    def add(self, name: str, data: bytes, compress: bool = True) -> str:
        info = zipfile.ZipInfo(name, FIXED_TIME)
        info.create_system = 3  # Unix, wherever it is made
        info.external_attr = 0o644 << 16
        # JPEGs and PDF streams are compressed already.
        info.compress_type = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
        self.zip.writestr(info, data, compresslevel=6 if compress else None)
        digest = hashlib.sha256(data).hexdigest()
        self.sums[name] = digest
        return digest

    def has(self, name: str) -> bool:
        return name in self.sums

    def close(self) -> None:
        # sha256sum -c reads "<hex>  <path>" lines (two spaces: a text-mode file).
        lines = "".join(f"{self.sums[name]}  {name}\n" for name in sorted(self.sums))
        self.add("SHA256SUMS", lines.encode())
        self.zip.close()


def _photo_reader() -> Callable[[str], bytes | None]:
    store, errors = photo_store(), (FileNotFoundError, ValueError, *store_errors())

    def read(sha256: str) -> bytes | None:
        try:
            return store.read(sha256, "display")
        except errors:
            return None

    return read


def write_archive(
    tickets: Iterable[Ticket],
    fileobj: IO[bytes],
    community: Community,
    year: int | None = None,
    progress: Callable[[int], object] | None = None,
) -> int:
    """Writes the archive of the tickets to fileobj; returns how many it holds."""
    labels = Labels.load(zone_name(community))
    read_photo = _photo_reader()
    archive = _ArchiveZip(fileobj)
    index: list[dict[str, Any]] = []
    for ticket in tickets:
        record = ticket_record(ticket, labels)
        photos: dict[str, bytes] = {}
        for photo in record["photos"]:
            sha = photo["sha256"]
            data = sha and (photos.get(sha) or read_photo(sha))
            if data:
                photos[sha] = data
                photo["file"] = f"photos/{sha}.jpg"
        document = json.dumps(record, ensure_ascii=False, indent=2) + "\n"
        json_sha = archive.add(f"{ticket.number}.json", document.encode())
        pdf = render_record(record, labels, photos.get)
        pdf_sha = archive.add(f"{ticket.number}.pdf", pdf, compress=False)
        for sha, data in photos.items():
            if not archive.has(f"photos/{sha}.jpg"):
                archive.add(f"photos/{sha}.jpg", data, compress=False)
        index.append(_index_entry(record, json_sha, pdf_sha))
        if progress:
            progress(1)
    _write_index(archive, community, year, index)
    archive.close()
    return len(index)


def _index_entry(record: dict[str, Any], json_sha: str, pdf_sha: str) -> dict:
    facts, rating = record["ticket"], record["rating"]
    return {
        "number": record["number"],
        "status": facts["status"],
        "category": facts["category"],
        "place": facts["place"],
        "reported_at": facts["reported_at"],
        "closed_at": facts["closed_at"],
        "stars": rating["stars"] if rating else None,
        "photos": sum(1 for photo in record["photos"] if photo["file"]),
        "json": f"{record['number']}.json",
        "json_sha256": json_sha,
        "pdf": f"{record['number']}.pdf",
        "pdf_sha256": pdf_sha,
    }


def _write_index(
    archive: _ArchiveZip,
    community: Community,
    year: int | None,
    index: list[dict[str, Any]],
) -> None:
    document = {
        "format": FORMAT,
        "community": {
            "slug": community.slug,
            "name": community.name,
            "name_en": community.name_en,
            "timezone": zone_name(community),
        },
        "year": year,
        "count": len(index),
        "tickets": index,
    }
    archive.add(
        "index.json",
        (json.dumps(document, ensure_ascii=False, indent=2) + "\n").encode(),
    )
    buffer = io.StringIO()
    buffer.write("\ufeff")  # so that Excel reads the Chinese
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(INDEX_COLUMNS)
    for entry in index:
        cells = {
            **entry,
            "category": both(entry["category"]) if entry["category"] else "",
            "place": entry["place"]["zh"] if entry["place"] else "",
        }
        writer.writerow(
            [
                neutralise("" if cells[key] is None else str(cells[key]))
                for key in INDEX_COLUMNS
            ]
        )
    archive.add("index.csv", buffer.getvalue().encode())

"""Test data made on the fly (photos as phones produce them) and looked up fresh."""

from __future__ import annotations

import io

import sqlalchemy as sa
from PIL import Image

from repair.db import db
from repair.i18n import local_time, zone_name
from repair.models import Ticket

GPS_IFD = 0x8825


def jpeg_bytes(
    size: tuple[int, int] = (1200, 900),
    color: tuple[int, int, int] = (90, 120, 160),
    gps: bool = False,
    orientation: int | None = None,
) -> bytes:
    """Returns a JPEG like a phone's, optionally with GPS EXIF and an orientation."""
    image = Image.new("RGB", size, color)
    image.paste((230, 40, 40), (0, 0, size[0] // 4, size[1] // 4))
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    exif[0x0110] = "Phone 15"
    if orientation:
        exif[0x0112] = orientation
    if gps:
        exif[GPS_IFD] = {
            1: "N",
            2: (22.0, 32.0, 33.6),
            3: "E",
            4: (113.0, 56.0, 12.5),
        }
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=88, exif=exif)
    return buffer.getvalue()


def png_bytes(size: tuple[int, int] = (400, 300)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGBA", size, (10, 200, 90, 128)).save(buffer, "PNG")
    return buffer.getvalue()


def find_ticket(number: str) -> Ticket | None:
    """Returns the ticket with this number as the database has it now (in an app
    context; everything loaded earlier is expired first)."""
    db.session.expire_all()
    return db.session.scalar(sa.select(Ticket).where(Ticket.number == number))


def local_day(ticket: Ticket) -> str:
    """Returns the day the ticket was reported on, in its community's time zone,
    as the statistics' from/to want it (YYYY-MM-DD): from 16:00 UTC China is
    already on the next day."""
    zone = zone_name(ticket.community)
    return local_time(ticket.created_at, zone).date().isoformat()

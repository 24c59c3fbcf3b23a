"""Ticket numbers such as YG-20261122-0042: per community and local day, race-free."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.dialects import postgresql, sqlite

from repair.db import db
from repair.i18n import zone_name
from repair.models import Community, TicketCounter

_INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


def local_day(community: Community, now: datetime) -> str:
    """Returns the community's local calendar day of ``now`` as YYYYMMDD."""
    return now.astimezone(ZoneInfo(zone_name(community))).strftime("%Y%m%d")


def next_ticket_number(community: Community, now: datetime) -> str:
    """Takes the next number in the current transaction (an atomic upsert)."""
    day = local_day(community, now)
    insert = _INSERTS[db.session.get_bind().dialect.name]
    statement = (
        insert(TicketCounter)
        .values(community_id=community.id, day=day, last=1)
        .on_conflict_do_update(
            index_elements=["community_id", "day"],
            set_={"last": TicketCounter.last + 1},
        )
        .returning(TicketCounter.last)
    )
    sequence = db.session.execute(statement).scalar_one()
    return f"{community.ticket_prefix}-{day}-{sequence:04d}"

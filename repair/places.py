"""Places (entrances and common areas): sticker codes, their rotation and URLs."""

from __future__ import annotations

import secrets

import sqlalchemy as sa
from flask import current_app
from sqlalchemy import orm

from repair.db import db, utcnow
from repair.models import Entrance, EntranceCode

# No 0/O, 1/l/I: a code read aloud over the phone or typed from the sticker's text
# line must not be ambiguous.
CODE_ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"
CODE_LENGTH = 8


def new_code() -> str:
    """Returns a fresh random entrance code (about 40 bits; unguessable, short)."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def assign_new_code(entrance: Entrance) -> str:
    """Gives the entrance a new code, retiring the old one; the caller commits."""
    now = utcnow()
    if entrance.code:
        old = db.session.get(EntranceCode, entrance.code)
        if old is not None:
            old.retired_at = now
    while True:
        code = new_code()
        if db.session.get(EntranceCode, code) is None:
            break
    entrance.code = code
    db.session.add(EntranceCode(code=code, entrance=entrance, created_at=now))
    return code


def landing_url(entrance_or_code: Entrance | str) -> str:
    """Returns the public QR landing URL printed on the entrance's sticker."""
    code = (
        entrance_or_code if isinstance(entrance_or_code, str) else entrance_or_code.code
    )
    return f"{current_app.config['PUBLIC_URL']}/q/{code}"


def find_entrance_code(code: str) -> EntranceCode | None:
    """Returns the code's row (current or retired), or None for an unknown code;
    its entrance, community and building come in the same query (every page a
    sticker opens names all three)."""
    return db.session.get(EntranceCode, code.strip().lower(), options=_WITH_PLACE)


#: An entrance code's entrance with its community and building, in one query.
_WITH_PLACE = (
    orm.joinedload(EntranceCode.entrance).joinedload(Entrance.community),
    orm.joinedload(EntranceCode.entrance).joinedload(Entrance.building),
)


def all_entrances(community_id: int | None = None) -> list[Entrance]:
    """Returns the places in use (not retired), ordered by community, then each
    building's entrances, then the community's common areas."""
    from repair.models import Building

    query = (
        sa.select(Entrance)
        .outerjoin(Entrance.building)
        .where(Entrance.retired_at.is_(None))
        .order_by(
            Entrance.community_id,
            Entrance.building_id.is_(None),
            Building.sort_order,
            Building.id,
            Entrance.sort_order,
            Entrance.id,
        )
    )
    if community_id is not None:
        query = query.where(Entrance.community_id == community_id)
    return list(db.session.scalars(query))

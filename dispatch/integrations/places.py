"""Finding the entrance a report means: by coordinates, or by free place text."""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass

import sqlalchemy as sa

from dispatch.integrations.models import EntrancePlace
from repair.db import db
from repair.models import Entrance

EARTH_RADIUS_METRES = 6_371_000


def distance_metres(lat1: float, long1: float, lat2: float, long2: float) -> float:
    """Returns the great-circle distance between two WGS84 points (haversine)."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi = phi2 - phi1
    dlambda = math.radians(long2 - long1)
    a = (
        math.sin(dphi / 2) ** 2
        + math.cos(phi1) * math.cos(phi2) * math.sin(dlambda / 2) ** 2
    )
    return 2 * EARTH_RADIUS_METRES * math.asin(math.sqrt(a))


def nearest_entrance(
    lat: float, long: float, community_ids: list[int], max_metres: float
) -> Entrance | None:
    """Returns the nearest entrance with coordinates in the communities, if it lies
    within ``max_metres``."""
    rows = db.session.execute(
        sa.select(Entrance, EntrancePlace.lat, EntrancePlace.long)
        .join(EntrancePlace, EntrancePlace.entrance_id == Entrance.id)
        .where(
            Entrance.community_id.in_(community_ids),
            Entrance.retired_at.is_(None),
            EntrancePlace.lat.is_not(None),
            EntrancePlace.long.is_not(None),
        )
    ).all()
    best: tuple[float, Entrance] | None = None
    for entrance, e_lat, e_long in rows:
        metres = distance_metres(lat, long, e_lat, e_long)
        if best is None or metres < best[0]:
            best = (metres, entrance)
    if best is None or best[0] > max_metres:
        return None
    return best[1]


def normalize(text: str) -> str:
    """Returns text folded for matching: full-width to ASCII, lower case, no spaces."""
    folded = unicodedata.normalize("NFKC", text or "").lower()
    return re.sub(r"[\s\-_,，。、·]+", "", folded)


def _contains(text: str, name: str) -> bool:
    # "3栋" must not match inside "13栋": a name starting with a digit needs a
    # non-digit (or the start) before it.
    name = normalize(name)
    if not name:
        return False
    pattern = re.escape(name)
    if name[0].isdigit():
        pattern = r"(?<!\d)" + pattern
    return re.search(pattern, text) is not None


@dataclass(frozen=True)
class PlaceMatch:
    entrance: Entrance
    score: float


def score_entrance(text: str, entrance: Entrance, aliases: list[str]) -> float:
    """Returns how well normalized place text names the entrance, from 0 to 1:
    an alias is certain; else community 0.4, building 0.3, entrance 0.3 (a
    common area, in no building, names itself: 0.6)."""
    if any(_contains(text, alias) for alias in aliases):
        return 1.0
    community, building = entrance.community, entrance.building
    score = 0.0
    if any(_contains(text, n) for n in (community.name, community.name_en) if n):
        score += 0.4
    if building is None:
        if any(_contains(text, n) for n in (entrance.name, entrance.name_en) if n):
            score += 0.6
    elif any(_contains(text, n) for n in (building.name, building.name_en) if n):
        score += 0.3
        # An entrance name ("2单元") means something only with its building.
        if any(_contains(text, n) for n in (entrance.name, entrance.name_en) if n):
            score += 0.3
    return round(score, 2)


def match_place(
    place: str, community_ids: list[int] | None, min_score: float
) -> tuple[Entrance | None, float]:
    """Returns the one best-matching entrance (None if below ``min_score`` or tied)
    and the best score."""
    text = normalize(place)
    query = sa.select(Entrance).where(Entrance.retired_at.is_(None))
    if community_ids:
        query = query.where(Entrance.community_id.in_(community_ids))
    entrances = list(db.session.scalars(query))
    aliases = {
        row.entrance_id: row.alias_list()
        for row in db.session.scalars(
            sa.select(EntrancePlace).where(
                EntrancePlace.entrance_id.in_([e.id for e in entrances])
            )
        )
    }
    scored = sorted(
        (
            (score_entrance(text, entrance, aliases.get(entrance.id, [])), entrance)
            for entrance in entrances
        ),
        key=lambda item: -item[0],
    )
    if not scored:
        return None, 0.0
    best_score, best = scored[0]
    tied = len(scored) > 1 and scored[1][0] == best_score
    if best_score < min_score or tied:
        return None, best_score
    return best, best_score

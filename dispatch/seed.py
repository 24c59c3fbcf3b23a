"""Dispatch's part of the demo: the community's default route and its backup, and
the central garden's greenery going to the second contractor."""

from __future__ import annotations

import sqlalchemy as sa

from dispatch.models import Route
from repair.db import db
from repair.models import Category, Community, Contractor, Entrance, PlaceKind

#: A common area's own route in the demo: its greenery goes to the second contractor.
DEMO_GARDEN = "中心花园"


def seed_demo_routes(community: Community) -> None:
    """Routes every category to the community's first contractor, backed by its
    second."""
    if db.session.scalar(sa.select(Route).where(Route.community_id == community.id)):
        return
    contractors = db.session.scalars(
        sa.select(Contractor)
        .where(Contractor.serving([community.id]))
        .order_by(Contractor.id)
    ).all()
    if not contractors:
        return
    db.session.add(
        Route(
            community_id=community.id,
            primary=contractors[0],
            backup=contractors[1] if len(contractors) > 1 else None,
        )
    )
    garden = db.session.scalar(
        sa.select(Entrance).where(
            Entrance.community_id == community.id,
            Entrance.kind == PlaceKind.COMMON_AREA,
            Entrance.name == DEMO_GARDEN,
        )
    )
    greenery = db.session.scalar(sa.select(Category).where(Category.slug == "greenery"))
    if garden is not None and greenery is not None and len(contractors) > 1:
        db.session.add(
            Route(
                community_id=community.id,
                category_id=greenery.id,
                entrance_id=garden.id,
                primary=contractors[1],
                backup=contractors[0],
            )
        )

"""Dispatch's part of the demo: the community's default route and its backup."""

from __future__ import annotations

import sqlalchemy as sa

from dispatch.models import Route
from repair.db import db
from repair.models import Community, Contractor


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

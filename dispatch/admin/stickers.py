"""Sticker downloads: one place, a building, a community's common areas or the
whole community, as PDF.

Officers and supervisors download the stickers of their own communities too."""

from __future__ import annotations

import io

import sqlalchemy as sa
from flask import abort, flash, redirect, render_template, send_file, url_for
from flask_babel import gettext as _

from dispatch.admin.blueprint import bp
from dispatch.board.auth import scoped, staff_only, visible_communities
from printables.commands import stickers_for
from printables.stickers import render_pdf
from repair.db import db
from repair.models import Building, Community, Entrance
from repair.places import all_entrances, landing_url


@bp.get("/stickers")
@staff_only
def stickers():
    """Sticker downloads for every community the user may see."""
    communities = visible_communities()
    return render_template(
        "board/admin/stickers.html",
        communities=communities,
        landing_url=landing_url,
    )


def _scoped_one(query: sa.Select, community_id=Building.community_id):
    found = db.session.scalar(scoped(query, community_id))
    if found is None:
        abort(404)
    return found


def _pdf(entrances: list[Entrance], filename: str):
    if not entrances:
        flash(_("There are no places to print yet."), "error")
        return redirect(url_for("admin.stickers"), code=303)
    pdf = render_pdf(stickers_for(entrances))
    response = send_file(
        io.BytesIO(pdf),
        mimetype="application/pdf",
        as_attachment=True,
        download_name=filename,
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/stickers/entrance/<int:entrance_id>.pdf")
@staff_only
def entrance_stickers(entrance_id: int):
    """The sticker of one place (an entrance or a common area), as a PDF."""
    entrance = _scoped_one(
        sa.select(Entrance).where(
            Entrance.id == entrance_id, Entrance.retired_at.is_(None)
        ),
        Entrance.community_id,
    )
    return _pdf([entrance], f"sticker-{entrance.community.slug}-{entrance.code}.pdf")


@bp.get("/stickers/building/<int:building_id>.pdf")
@staff_only
def building_stickers(building_id: int):
    """The stickers of every entrance of one building, as a PDF."""
    building = _scoped_one(sa.select(Building).where(Building.id == building_id))
    return _pdf(
        [e for e in building.entrances if e.retired_at is None],
        f"stickers-{building.community.slug}-building-{building.id}.pdf",
    )


def _community(community_id: int) -> Community:
    community = db.session.scalar(
        scoped(sa.select(Community).where(Community.id == community_id), Community.id)
    )
    if community is None:
        abort(404)
    return community


@bp.get("/stickers/community/<int:community_id>.pdf")
@staff_only
def community_stickers(community_id: int):
    """The stickers of every place of a community, as a PDF."""
    community = _community(community_id)
    return _pdf(all_entrances(community.id), f"stickers-{community.slug}.pdf")


@bp.get("/stickers/community/<int:community_id>/common-areas.pdf")
@staff_only
def common_area_stickers(community_id: int):
    """The stickers of a community's common areas, as a PDF."""
    community = _community(community_id)
    return _pdf(
        [a for a in community.common_areas if a.retired_at is None],
        f"stickers-{community.slug}-common-areas.pdf",
    )

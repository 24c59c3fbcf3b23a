"""Administration of places: communities, buildings, entrances and code rotation."""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa
from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_wtf import FlaskForm

from dispatch.admin.blueprint import all_communities, bp, done, form_page, save_form
from dispatch.admin.forms import CommunityForm, ConfirmForm, LiftForm, PlaceForm
from dispatch.board.auth import admin_only
from dispatch.models import Route
from repair.db import db, utcnow
from repair.models import Building, Community, Entrance, Lift, PlaceKind, Ticket
from repair.places import assign_new_code, landing_url

#: A community's fields that are NULL when left empty.
COMMUNITY_OPTIONAL = (
    "name_en",
    "service_phone",
    "lift_emergency_phone",
    "gas_emergency_phone",
)


@bp.get("")
@admin_only
def index():
    """Every community with its places and routing at a glance."""
    communities = all_communities()
    counts = dict(
        db.session.execute(
            sa.select(Entrance.community_id, sa.func.count(Entrance.id))
            .where(Entrance.retired_at.is_(None))
            .group_by(Entrance.community_id)
        ).all()
    )
    routed = set(
        db.session.scalars(
            sa.select(Route.community_id).where(
                Route.category_id.is_(None),
                Route.building_id.is_(None),
                Route.entrance_id.is_(None),
            )
        )
    )
    return render_template(
        "board/admin/index.html",
        communities=communities,
        entrance_counts=counts,
        routed=routed,
    )


@bp.route("/communities/new", methods=["GET", "POST"])
@admin_only
def new_community():
    """Creates a community; its places and routes are added next."""
    form = CommunityForm()
    if form.validate_on_submit():
        community = Community()
        save_form(form, community, *COMMUNITY_OPTIONAL)
        db.session.add(community)
        db.session.commit()
        return done(
            _(
                "Community %(name)s created. Add its buildings next.",
                name=community.name,
            ),
            "admin.places",
            community_id=community.id,
        )
    return form_page("board/admin/community.html", form, community=None)


@bp.route("/communities/<int:community_id>", methods=["GET", "POST"])
@admin_only
def community(community_id: int):
    """Edits a community's names, ticket prefix, time zone and service phone."""
    community = db.get_or_404(Community, community_id)
    form = CommunityForm(obj=community)
    form.editing_id = community.id
    if form.validate_on_submit():
        save_form(form, community, *COMMUNITY_OPTIONAL)
        db.session.commit()
        return done(_("Community saved."), "admin.community", community_id=community.id)
    return form_page("board/admin/community.html", form, community=community)


@bp.get("/communities/<int:community_id>/places")
@admin_only
def places(community_id: int):
    """Buildings, entrances and common areas with their codes, landing URLs and
    stickers."""
    return _places_page(db.get_or_404(Community, community_id))


def _places_page(community: Community, failed: tuple[str, FlaskForm] | None = None):
    forms: dict[str, FlaskForm] = {"building-new": PlaceForm(formdata=None)}
    for building in community.buildings:
        forms[f"building-{building.id}"] = PlaceForm(formdata=None, obj=building)
        forms[f"entrance-new-{building.id}"] = PlaceForm(formdata=None)
        for entrance in building.entrances:
            forms[f"entrance-{entrance.id}"] = PlaceForm(formdata=None, obj=entrance)
            forms[f"lift-new-{entrance.id}"] = LiftForm(formdata=None)
    forms["common-new"] = PlaceForm(formdata=None)
    for area in community.common_areas:
        forms[f"entrance-{area.id}"] = PlaceForm(formdata=None, obj=area)
    if failed is not None:
        forms[failed[0]] = failed[1]
    return (
        render_template(
            "board/admin/places.html",
            community=community,
            forms=forms,
            failed=failed[0] if failed else None,
            landing_url=landing_url,
        ),
        422 if failed else 200,
    )


def _next_position(items: Iterable) -> int:
    return max((item.sort_order for item in items), default=0) + 1


def _write_place(place: Building | Entrance, form: PlaceForm, position=None) -> None:
    """Writes the form's names and position onto a building or an entrance; a new
    place without a position goes to ``position`` (the end of its list)."""
    place.name = form.name.data
    place.name_en = form.name_en.data or None
    if form.sort_order.data is not None:
        place.sort_order = form.sort_order.data
    elif position is not None:
        place.sort_order = position


def _saved(message: str, community_id: int, anchor: str):
    return done(message, "admin.places", community_id=community_id, _anchor=anchor)


@bp.post("/communities/<int:community_id>/buildings")
@admin_only
def add_building(community_id: int):
    """Adds a building at the end of the community's list."""
    community = db.get_or_404(Community, community_id)
    form = PlaceForm()
    if not form.validate():
        return _places_page(community, ("building-new", form))
    building = Building()
    _write_place(building, form, _next_position(community.buildings))
    building.community = community
    db.session.add(building)
    db.session.commit()
    return _saved(
        _("Building %(name)s added.", name=building.name),
        community.id,
        f"building-{building.id}",
    )


@bp.post("/buildings/<int:building_id>")
@admin_only
def edit_building(building_id: int):
    """Renames or moves a building."""
    building = db.get_or_404(Building, building_id)
    return _edit_place(building, f"building-{building.id}", _("Building saved."))


@bp.post("/buildings/<int:building_id>/entrances")
@admin_only
def add_entrance(building_id: int):
    """Adds an entrance with a fresh QR code."""
    building = db.get_or_404(Building, building_id)
    form = PlaceForm()
    if not form.validate():
        return _places_page(building.community, (f"entrance-new-{building.id}", form))
    entrance = Entrance(code="")
    _write_place(entrance, form, _next_position(building.entrances))
    entrance.building = building
    db.session.add(entrance)
    assign_new_code(entrance)
    db.session.commit()
    return _saved(
        _(
            "Entrance %(name)s added with code %(code)s.",
            name=entrance.name,
            code=entrance.code,
        ),
        building.community_id,
        f"entrance-{entrance.id}",
    )


@bp.post("/communities/<int:community_id>/common-areas")
@admin_only
def add_common_area(community_id: int):
    """Adds a common area (gate, car park, playground...) with a fresh QR code."""
    community = db.get_or_404(Community, community_id)
    form = PlaceForm()
    if not form.validate():
        return _places_page(community, ("common-new", form))
    area = Entrance(code="", kind=PlaceKind.COMMON_AREA, community=community)
    _write_place(area, form, _next_position(community.common_areas))
    db.session.add(area)
    assign_new_code(area)
    db.session.commit()
    return _saved(
        _(
            "Common area %(name)s added with code %(code)s.",
            name=area.name,
            code=area.code,
        ),
        community.id,
        f"entrance-{area.id}",
    )


@bp.post("/entrances/<int:entrance_id>/retire")
@admin_only
def retire_place(entrance_id: int):
    """Retires a common area (its sticker takes no new reports) or brings it back;
    its tickets and statistics stay. The form says which (``retire`` 1 or 0), so a
    second tap or two at once change nothing more (it was a toggle: the outside
    tester's double post brought a retired place back). Building entrances are not
    retired here: their building's stickers and routes depend on them."""
    place = db.get_or_404(Entrance, entrance_id)
    anchor = f"entrance-{place.id}"
    wanted = request.form.get("retire")
    if not ConfirmForm().validate_on_submit() or wanted not in ("0", "1"):
        return _saved(_("Nothing was changed."), place.community_id, anchor)
    if not place.is_common_area:
        abort(404)
    if wanted == "1":
        if place.retired_at is None:
            place.retired_at = utcnow()
        message = _(
            "%(name)s retired: its sticker takes no new reports.", name=place.name
        )
    else:
        place.retired_at = None
        message = _("%(name)s takes reports again.", name=place.name)
    db.session.commit()
    return _saved(message, place.community_id, anchor)


@bp.post("/entrances/<int:entrance_id>")
@admin_only
def edit_entrance(entrance_id: int):
    """Renames or moves an entrance or a common area; its code stays."""
    entrance = db.get_or_404(Entrance, entrance_id)
    message = (
        _("Common area saved.") if entrance.is_common_area else _("Entrance saved.")
    )
    return _edit_place(entrance, f"entrance-{entrance.id}", message)


def _edit_place(place: Building | Entrance, anchor: str, message: str):
    form = PlaceForm()
    if not form.validate():
        return _places_page(place.community, (anchor, form))
    _write_place(place, form)
    db.session.commit()
    return _saved(message, place.community.id, anchor)


@bp.route("/entrances/<int:entrance_id>/rotate", methods=["GET", "POST"])
@admin_only
def rotate_code(entrance_id: int):
    """Asks, then gives the entrance a new QR code; the old sticker stops working."""
    entrance = db.get_or_404(Entrance, entrance_id)
    form = ConfirmForm()
    if form.validate_on_submit():
        old = entrance.code
        new = assign_new_code(entrance)
        db.session.commit()
        flash(
            _(
                "Code %(old)s replaced by %(new)s. Print the new sticker and put it up"
                " in place of the old one.",
                old=old,
                new=new,
            ),
            "ok",
        )
        return redirect(
            url_for(
                "admin.places",
                community_id=entrance.community.id,
                _anchor=f"entrance-{entrance.id}",
            ),
            code=303,
        )
    return render_template(
        "board/admin/rotate.html",
        entrance=entrance,
        form=form,
        url=landing_url(entrance),
    )


@bp.post("/entrances/<int:entrance_id>/lifts")
@admin_only
def add_lift(entrance_id: int):
    """Lists a lift at an entrance, so residents and messages can name it."""
    entrance = db.get_or_404(Entrance, entrance_id)
    form = LiftForm()
    if not form.validate():
        return _places_page(entrance.community, (f"lift-new-{entrance.id}", form))
    lift = Lift(entrance=entrance, sort_order=_next_position(entrance.lifts))
    save_form(form, lift, "certificate_number", "emergency_phone")
    db.session.add(lift)
    db.session.commit()
    return _saved(
        _("Lift %(name)s added.", name=lift.name),
        entrance.community.id,
        f"entrance-{entrance.id}",
    )


@bp.post("/lifts/<int:lift_id>/delete")
@admin_only
def delete_lift(lift_id: int):
    """Removes a lift no ticket names (a named one stays on its tickets' record)."""
    lift = db.get_or_404(Lift, lift_id)
    community_id, anchor = lift.entrance.community.id, f"entrance-{lift.entrance_id}"
    back = url_for("admin.places", community_id=community_id, _anchor=anchor)
    if not ConfirmForm().validate_on_submit():
        return redirect(back, code=303)
    if db.session.scalar(sa.select(Ticket.id).where(Ticket.lift_id == lift.id)):
        flash(_("Tickets name this lift, so it stays listed."), "error")
        return redirect(back, code=303)
    db.session.delete(lift)
    db.session.commit()
    return _saved(_("Lift removed."), community_id, anchor)

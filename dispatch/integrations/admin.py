"""Pages for the integrations: API keys, hotline systems and entrance places for
administrators; the "待定位" list of hotline orders for officers to place."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, Flask, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import (
    FloatField,
    IntegerField,
    PasswordField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import URL, DataRequired, Length, NumberRange, Optional

from dispatch.board.auth import admin_only, community_ids, staff_only
from dispatch.board.nav import STAFF, add_board_badge, add_board_link
from dispatch.integrations import keys
from dispatch.integrations.hotline import place_order
from dispatch.integrations.models import (
    ApiKey,
    EntrancePlace,
    HotlineSystem,
    HotlineWorkOrder,
    hotline_system_community,
)
from repair import lifecycle
from repair.db import db, utcnow
from repair.models import ActorType, Channel, Community, Entrance, Role
from repair.places import all_entrances
from repair.security import INT_MAX

bp = Blueprint("integrations", __name__, url_prefix="/board")


class KeyForm(FlaskForm):
    name = StringField(_l("Client name"), validators=[DataRequired(), Length(max=120)])
    communities = SelectMultipleField(
        _l("Communities"), coerce=int, validators=[DataRequired()]
    )


class HotlineForm(FlaskForm):
    name = StringField(_l("Hotline name"), validators=[DataRequired(), Length(max=120)])
    reply_url = StringField(
        _l("Reply address"), validators=[DataRequired(), URL(require_tld=False)]
    )
    secret = PasswordField(
        _l("Shared secret"), validators=[DataRequired(), Length(min=16, max=200)]
    )
    communities = SelectMultipleField(_l("Communities"), coerce=int)


class PlaceForm(FlaskForm):
    entrance = IntegerField(
        _l("Entrance"), validators=[DataRequired(), NumberRange(1, INT_MAX)]
    )
    lat = FloatField(_l("Latitude"), validators=[Optional(), NumberRange(-90, 90)])
    long = FloatField(_l("Longitude"), validators=[Optional(), NumberRange(-180, 180)])
    aliases = TextAreaField(_l("Other names, one per line"), validators=[Optional()])


class LocateForm(FlaskForm):
    entrance = IntegerField(
        _l("Entrance"), validators=[DataRequired(), NumberRange(1, INT_MAX)]
    )


def _community_choices() -> list[tuple[int, str]]:
    return [
        (c.id, c.name)
        for c in db.session.scalars(sa.select(Community).order_by(Community.name))
    ]


@bp.route("/admin/integrations", methods=["GET", "POST"])
@admin_only
def integrations():
    """API keys, hotline systems and entrance places; a new key is shown once."""
    key_form = KeyForm(prefix="key")
    hotline_form = HotlineForm(prefix="hotline")
    place_form = PlaceForm(prefix="place")
    choices = _community_choices()
    key_form.communities.choices = choices
    hotline_form.communities.choices = choices
    new_key = None
    if key_form.name.data and key_form.validate_on_submit():
        scope = [db.session.get(Community, i) for i in key_form.communities.data]
        _key, new_key = keys.issue_key(key_form.name.data.strip(), scope)
        db.session.commit()
        flash(_("Key issued. Copy it now: it is not shown again."), "ok")
    elif hotline_form.name.data and hotline_form.validate_on_submit():
        system = db.session.scalar(
            sa.select(HotlineSystem).where(HotlineSystem.name == hotline_form.name.data)
        ) or HotlineSystem(name=hotline_form.name.data.strip())
        system.reply_url = hotline_form.reply_url.data.strip()
        system.secret = hotline_form.secret.data
        system.is_active = True
        system.communities = [
            db.session.get(Community, i) for i in hotline_form.communities.data
        ]
        db.session.add(system)
        db.session.commit()
        flash(_("Hotline saved."), "ok")
        return redirect(url_for("integrations.integrations"), code=303)
    elif place_form.entrance.data and place_form.validate_on_submit():
        entrance = db.session.get(Entrance, place_form.entrance.data)
        if entrance is None:
            abort(404)
        place = db.session.get(EntrancePlace, entrance.id) or EntrancePlace(
            entrance_id=entrance.id
        )
        place.lat, place.long = place_form.lat.data, place_form.long.data
        place.aliases = (place_form.aliases.data or "").strip() or None
        db.session.add(place)
        db.session.commit()
        flash(_("Entrance place saved."), "ok")
        return redirect(url_for("integrations.integrations"), code=303)
    places = {p.entrance_id: p for p in db.session.scalars(sa.select(EntrancePlace))}
    return render_template(
        "board/admin/integrations.html",
        keys=list(db.session.scalars(sa.select(ApiKey).order_by(ApiKey.id))),
        hotlines=list(
            db.session.scalars(sa.select(HotlineSystem).order_by(HotlineSystem.id))
        ),
        entrances=all_entrances(),
        places=places,
        key_form=key_form,
        hotline_form=hotline_form,
        place_form=place_form,
        new_key=new_key,
    )


@bp.post("/admin/integrations/keys/<int:key_id>/revoke")
@admin_only
def revoke(key_id: int):
    """Revokes a key at once."""
    key = db.session.get(ApiKey, key_id)
    if key is None or not FlaskForm().validate_on_submit():
        abort(404 if key is None else 400)
    keys.revoke_key(key)
    db.session.commit()
    flash(_("Key revoked."), "ok")
    return redirect(url_for("integrations.integrations"), code=303)


def _unplaced_query() -> sa.Select:
    """Returns the unplaced orders (待定位) the current user is the one to place.

    An order is placed by someone who looks after the place it may be in. A
    hotline limited to communities: their officers and supervisors. A hotline
    limited to none could be anywhere, so no officer owns it: supervisors and
    administrators see its orders (an officer would see every district's)."""
    query = sa.select(HotlineWorkOrder).where(HotlineWorkOrder.ticket_id.is_(None))
    allowed = community_ids()
    if allowed is None:
        return query
    limited = sa.select(hotline_system_community.c.hotline_system_id)
    mine = HotlineWorkOrder.system_id.in_(
        limited.where(hotline_system_community.c.community_id.in_(allowed))
    )
    if current_user.role is Role.SUPERVISOR:
        return query.where(sa.or_(mine, HotlineWorkOrder.system_id.not_in(limited)))
    return query.where(mine)


def count_unplaced() -> int:
    """Returns how many unplaced orders wait for the current user."""
    return db.session.scalar(
        sa.select(sa.func.count()).select_from(_unplaced_query().subquery())
    )


def _entrances() -> list[Entrance]:
    allowed = community_ids()
    entrances = all_entrances()
    if allowed is None:
        return entrances
    return [e for e in entrances if e.community_id in allowed]


@bp.get("/hotline/unplaced")
@staff_only
def unplaced():
    """The hotline orders whose place matched no entrance: 待定位."""
    orders = list(
        db.session.scalars(_unplaced_query().order_by(HotlineWorkOrder.received_at))
    )
    return render_template(
        "board/admin/hotline_unplaced.html",
        orders=orders,
        entrances=_entrances(),
        form=LocateForm(),
    )


@bp.post("/hotline/unplaced/<int:order_id>")
@staff_only
def locate(order_id: int):
    """Places an order at the entrance the officer chose and opens its ticket."""
    order = db.session.scalar(
        _unplaced_query().where(HotlineWorkOrder.id == order_id).with_for_update()
    )
    form = LocateForm()
    if order is None:
        abort(404)
    allowed = {e.id: e for e in _entrances()}
    if not form.validate_on_submit() or form.entrance.data not in allowed:
        flash(_("Choose an entrance."), "error")
        return redirect(url_for("integrations.unplaced"), code=303)
    officer = lifecycle.Actor(
        ActorType.OFFICER,
        Channel.BOARD,
        id=current_user.id,
        name=current_user.display_name or current_user.username,
    )
    ticket = place_order(order, allowed[form.entrance.data], utcnow(), officer)
    db.session.commit()
    flash(_("Placed: ticket %(number)s.", number=ticket.number), "ok")
    return redirect(url_for("integrations.unplaced"), code=303)


def init_app(app: Flask) -> None:
    """Registers the pages and their links in the board's navigation."""
    app.register_blueprint(bp)
    add_board_link(app, "integrations.unplaced", _l("To be located"), STAFF)
    add_board_badge(app, "integrations.unplaced", count_unplaced)
    add_board_link(app, "integrations.integrations", _l("Integrations"), (Role.ADMIN,))

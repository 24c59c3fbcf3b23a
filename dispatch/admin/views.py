"""Administration: communities, places and QR codes, stickers, routing, contractors,
users and each community's SLA policy."""

from __future__ import annotations

import io
import re
from collections.abc import Iterable
from datetime import timedelta
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import sqlalchemy as sa
from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    send_file,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from werkzeug.security import generate_password_hash
from wtforms import (
    BooleanField,
    IntegerField,
    PasswordField,
    SelectField,
    SelectMultipleField,
    StringField,
    TelField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import (
    DataRequired,
    Length,
    NumberRange,
    Optional,
    Regexp,
    ValidationError,
)
from wtforms.widgets import CheckboxInput, ListWidget

from dispatch.assignment.routes import route_for
from dispatch.board.auth import admin_only, scoped, staff_only, visible_communities
from dispatch.board.nav import STAFF, add_board_link
from dispatch.models import Route, SlaPolicy
from dispatch.sla.escalation import policy_for
from printables.commands import stickers_for
from printables.stickers import render_pdf
from repair.config import parse_duration
from repair.db import db
from repair.i18n import current_locale
from repair.models import (
    Building,
    Category,
    Community,
    Contractor,
    Entrance,
    Role,
    Ticket,
    User,
)
from repair.places import all_entrances, assign_new_code, landing_url
from repair.resident.views import validate_phone as e164_phone

bp = Blueprint("admin", __name__, url_prefix="/board/admin")

SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$")
USERNAME = re.compile(r"^[A-Za-z0-9_.-]+$")
#: The SLA clocks an administrator sets: (form field, SlaPolicy column, setting).
SLA_CLOCKS = (
    ("triage", "triage_seconds", "SLA_TRIAGE"),
    ("urgent_contact", "urgent_contact_seconds", "SLA_URGENT_CONTACT"),
    ("urgent_on_site", "urgent_on_site_seconds", "SLA_URGENT_ON_SITE"),
    ("general_on_site", "general_on_site_seconds", "SLA_GENERAL_ON_SITE"),
)
LONGEST_SLA = timedelta(days=30)
ROLE_LABELS = {
    Role.OFFICER.value: _l("Repair officer"),
    Role.SUPERVISOR.value: _l("Supervisor"),
    Role.ADMIN.value: _l("Administrator"),
}
LANGUAGE_LABELS = {"zh_CN": "中文", "en": "English"}


def _strip(value):
    return value.strip() if isinstance(value, str) else value


def _upper(value):
    return value.upper() if isinstance(value, str) else value


def _lower(value):
    return value.lower() if isinstance(value, str) else value


@cache
def time_zones() -> tuple[str, ...]:
    """Returns the IANA time zone names this system knows, sorted."""
    return tuple(sorted(available_timezones()))


def validate_timezone(form, field) -> None:
    """Accepts an IANA time zone name such as Asia/Shanghai."""
    message = _l("Unknown time zone: use a name like Asia/Shanghai.")
    try:
        ZoneInfo(field.data or "")
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(message) from None
    if field.data not in time_zones():
        raise ValidationError(message)


def validate_duration(form, field) -> None:
    """Accepts an empty value (the global setting) or a duration like 30m or 2h."""
    if not field.data:
        return
    try:
        value = parse_duration(field.data)
    except ValueError:
        raise ValidationError(_l("Write a duration like 45s, 30m or 2h.")) from None
    if value < timedelta(seconds=1):
        raise ValidationError(_l("A duration must be at least one second."))
    if value > LONGEST_SLA:
        raise ValidationError(_l("A duration can be at most 30 days."))


def format_duration(value: timedelta | int | None) -> str:
    """Returns '45s', '30m' or '2h' for a duration, in the largest whole unit."""
    if value is None:
        return ""
    seconds = int(value.total_seconds() if isinstance(value, timedelta) else value)
    for unit, size in (("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


class CommunityForm(FlaskForm):
    name = StringField(
        _l("Name"),
        validators=[DataRequired(_l("Enter the community's name.")), Length(max=120)],
        filters=[_strip],
    )
    name_en = StringField(
        _l("English name (optional)"),
        validators=[Optional(), Length(max=120)],
        filters=[_strip],
    )
    slug = StringField(
        _l("Short name (slug)"),
        validators=[
            DataRequired(_l("Enter a short name.")),
            Length(max=64),
            Regexp(
                SLUG,
                message=_l(
                    "Use lowercase letters, digits and hyphens, e.g. yangguang."
                ),
            ),
        ],
        filters=[_strip, _lower],
    )
    ticket_prefix = StringField(
        _l("Ticket number prefix"),
        validators=[
            DataRequired(_l("Enter a ticket number prefix.")),
            Regexp(r"^[A-Z]{2,4}$", message=_l("Use 2 to 4 capital letters, e.g. YG.")),
        ],
        filters=[_strip, _upper],
    )
    timezone = StringField(
        _l("Time zone"),
        default="Asia/Shanghai",
        validators=[DataRequired(_l("Enter a time zone.")), validate_timezone],
        filters=[_strip],
    )
    service_phone = StringField(
        _l("Service phone, printed on stickers (optional)"),
        validators=[Optional(), Length(max=32)],
        filters=[_strip],
    )

    #: The community being edited (None while creating one), for uniqueness checks.
    editing_id: int | None = None

    def _taken(self, column, value) -> bool:
        query = sa.select(Community.id).where(column == value)
        if self.editing_id is not None:
            query = query.where(Community.id != self.editing_id)
        return db.session.scalar(query) is not None

    def validate_slug(self, field) -> None:
        if self._taken(Community.slug, field.data):
            raise ValidationError(_l("Another community already has this short name."))

    def validate_ticket_prefix(self, field) -> None:
        if self._taken(Community.ticket_prefix, field.data):
            raise ValidationError(_l("Another community already uses this prefix."))


class PlaceForm(FlaskForm):
    """A building or an entrance: its names and its position in lists."""

    name = StringField(
        _l("Name"),
        validators=[DataRequired(_l("Enter a name.")), Length(max=64)],
        filters=[_strip],
    )
    name_en = StringField(
        _l("English name"), validators=[Optional(), Length(max=64)], filters=[_strip]
    )
    sort_order = IntegerField(
        _l("Position"), validators=[Optional(), NumberRange(min=0, max=9999)]
    )


class ConfirmForm(FlaskForm):
    """A button that only needs its CSRF token."""


class CategoryForm(FlaskForm):
    name = StringField(
        _l("Chinese name"),
        validators=[DataRequired(_l("Enter the Chinese name.")), Length(max=64)],
        filters=[_strip],
    )
    name_en = StringField(
        _l("English name"),
        validators=[DataRequired(_l("Enter the English name.")), Length(max=64)],
        filters=[_strip],
    )


class RouteForm(FlaskForm):
    category = SelectField(_l("Category"))
    building = SelectField(_l("Building"))
    primary = SelectField(
        _l("Contractor"), validators=[DataRequired(_l("Choose a contractor."))]
    )
    backup = SelectField(_l("Backup contractor (AB岗)"))

    def validate_backup(self, field) -> None:
        if field.data and field.data == self.primary.data:
            raise ValidationError(_l("The backup must be a different contractor."))


class ContractorForm(FlaskForm):
    name = StringField(
        _l("Company name"),
        validators=[DataRequired(_l("Enter the company's name.")), Length(max=120)],
        filters=[_strip],
    )
    contact_name = StringField(
        _l("Contact person (optional)"),
        validators=[Optional(), Length(max=64)],
        filters=[_strip],
    )
    phone = TelField(
        _l("Mobile phone for job SMS"),
        validators=[DataRequired(_l("Enter a phone number.")), e164_phone],
        filters=[_strip],
    )
    language = SelectField(
        _l("Language of their SMS"),
        choices=[SelectChoice(code, label) for code, label in LANGUAGE_LABELS.items()],
        default="zh_CN",
    )
    is_active = BooleanField(_l("Active: can be sent new tickets"), default=True)

    editing_id: int | None = None

    def validate_phone(self, field) -> None:
        query = sa.select(Contractor.id).where(Contractor.phone == field.data)
        if self.editing_id is not None:
            query = query.where(Contractor.id != self.editing_id)
        if db.session.scalar(query) is not None:
            # Replies by SMS are matched to the contractor by this number.
            raise ValidationError(_l("Another contractor already has this number."))


class CheckboxesField(SelectMultipleField):
    """A multiple choice shown as checkboxes."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class UserEditForm(FlaskForm):
    display_name = StringField(
        _l("Display name (optional)"),
        validators=[Optional(), Length(max=64)],
        filters=[_strip],
    )
    role = SelectField(
        _l("Role"),
        choices=[SelectChoice(value, label) for value, label in ROLE_LABELS.items()],
        default=Role.OFFICER.value,
    )
    communities = CheckboxesField(_l("Communities"), coerce=int)
    phone = TelField(
        _l("Mobile phone for SLA alerts (optional)"),
        validators=[Optional(), e164_phone],
        filters=[_strip],
    )

    def validate_communities(self, field) -> None:
        if self.role.data != Role.ADMIN.value and not field.data:
            raise ValidationError(
                _l("Officers and supervisors need at least one community.")
            )


class UserCreateForm(UserEditForm):
    username = StringField(
        _l("Username"),
        validators=[
            DataRequired(_l("Enter a username.")),
            Length(min=2, max=64),
            Regexp(
                USERNAME,
                message=_l("Use letters, digits, dots, hyphens and underscores."),
            ),
        ],
        filters=[_strip],
    )
    password = PasswordField(
        _l("Initial password"),
        validators=[
            DataRequired(_l("Enter a password.")),
            Length(min=8, message=_l("The password needs at least 8 characters.")),
        ],
    )

    def validate_username(self, field) -> None:
        if db.session.scalar(sa.select(User.id).where(User.username == field.data)):
            raise ValidationError(_l("This username is taken."))


class PasswordForm(FlaskForm):
    password = PasswordField(
        _l("New password"),
        validators=[
            DataRequired(_l("Enter a password.")),
            Length(min=8, message=_l("The password needs at least 8 characters.")),
        ],
    )


class SlaForm(FlaskForm):
    triage = StringField(
        _l("Triage (officer confirms urgency)"),
        validators=[validate_duration],
        filters=[_strip],
    )
    urgent_contact = StringField(
        _l("Urgent: contractor accepts"),
        validators=[validate_duration],
        filters=[_strip],
    )
    urgent_on_site = StringField(
        _l("Urgent: contractor on site"),
        validators=[validate_duration],
        filters=[_strip],
    )
    general_on_site = StringField(
        _l("General: contractor on site"),
        validators=[validate_duration],
        filters=[_strip],
    )


def _get_or_404(model, ident: int):
    found = db.session.get(model, ident)
    if found is None:
        abort(404)
    return found


def _done(message: str, endpoint: str, **values):
    flash(message, "ok")
    return redirect(url_for(endpoint, **values), code=303)


def _communities() -> list[Community]:
    return list(db.session.scalars(sa.select(Community).order_by(Community.name)))


def _contractors() -> list[Contractor]:
    return list(db.session.scalars(sa.select(Contractor).order_by(Contractor.name)))


# --- Communities ---------------------------------------------------------------


@bp.get("")
@admin_only
def index():
    """Every community with its places and routing at a glance."""
    communities = _communities()
    counts = dict(
        db.session.execute(
            sa.select(Building.community_id, sa.func.count(Entrance.id))
            .select_from(Entrance)
            .join(Entrance.building)
            .group_by(Building.community_id)
        ).all()
    )
    routed = set(
        db.session.scalars(
            sa.select(Route.community_id).where(
                Route.category_id.is_(None), Route.building_id.is_(None)
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
        form.populate_obj(community)
        community.name_en = community.name_en or None
        community.service_phone = community.service_phone or None
        db.session.add(community)
        db.session.commit()
        return _done(
            _(
                "Community %(name)s created. Add its buildings next.",
                name=community.name,
            ),
            "admin.places",
            community_id=community.id,
        )
    return _form_page("board/admin/community.html", form, community=None)


@bp.route("/communities/<int:community_id>", methods=["GET", "POST"])
@admin_only
def community(community_id: int):
    """Edits a community's names, ticket prefix, time zone and service phone."""
    community = _get_or_404(Community, community_id)
    form = CommunityForm(obj=community)
    form.editing_id = community.id
    if form.validate_on_submit():
        form.populate_obj(community)
        community.name_en = community.name_en or None
        community.service_phone = community.service_phone or None
        db.session.commit()
        return _done(
            _("Community saved."), "admin.community", community_id=community.id
        )
    return _form_page("board/admin/community.html", form, community=community)


def _form_page(template: str, form: FlaskForm, **context):
    # A failed POST answers 422 with the page, the typed values and the messages.
    status = 422 if form.is_submitted() else 200
    return render_template(template, form=form, **context), status


# --- Buildings, entrances and QR codes -----------------------------------------


@bp.get("/communities/<int:community_id>/places")
@admin_only
def places(community_id: int):
    """Buildings and entrances with their codes, landing URLs and stickers."""
    return _places_page(_get_or_404(Community, community_id))


def _places_page(community: Community, failed: tuple[str, FlaskForm] | None = None):
    forms: dict[str, FlaskForm] = {"building-new": PlaceForm(formdata=None)}
    for building in community.buildings:
        forms[f"building-{building.id}"] = PlaceForm(formdata=None, obj=building)
        forms[f"entrance-new-{building.id}"] = PlaceForm(formdata=None)
        for entrance in building.entrances:
            forms[f"entrance-{entrance.id}"] = PlaceForm(formdata=None, obj=entrance)
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


@bp.post("/communities/<int:community_id>/buildings")
@admin_only
def add_building(community_id: int):
    """Adds a building at the end of the community's list."""
    community = _get_or_404(Community, community_id)
    form = PlaceForm()
    if not form.validate():
        return _places_page(community, ("building-new", form))
    building = Building(
        community=community,
        name=form.name.data,
        name_en=form.name_en.data or None,
        sort_order=(
            form.sort_order.data
            if form.sort_order.data is not None
            else _next_position(community.buildings)
        ),
    )
    db.session.add(building)
    db.session.commit()
    return _done(
        _("Building %(name)s added.", name=building.name),
        "admin.places",
        community_id=community.id,
        _anchor=f"building-{building.id}",
    )


@bp.post("/buildings/<int:building_id>")
@admin_only
def edit_building(building_id: int):
    """Renames or moves a building."""
    building = _get_or_404(Building, building_id)
    form = PlaceForm()
    if not form.validate():
        return _places_page(building.community, (f"building-{building.id}", form))
    building.name = form.name.data
    building.name_en = form.name_en.data or None
    if form.sort_order.data is not None:
        building.sort_order = form.sort_order.data
    db.session.commit()
    return _done(
        _("Building saved."),
        "admin.places",
        community_id=building.community_id,
        _anchor=f"building-{building.id}",
    )


@bp.post("/buildings/<int:building_id>/entrances")
@admin_only
def add_entrance(building_id: int):
    """Adds an entrance with a fresh QR code."""
    building = _get_or_404(Building, building_id)
    form = PlaceForm()
    if not form.validate():
        return _places_page(building.community, (f"entrance-new-{building.id}", form))
    entrance = Entrance(
        building=building,
        name=form.name.data,
        name_en=form.name_en.data or None,
        sort_order=(
            form.sort_order.data
            if form.sort_order.data is not None
            else _next_position(building.entrances)
        ),
        code="",
    )
    db.session.add(entrance)
    assign_new_code(entrance)
    db.session.commit()
    return _done(
        _(
            "Entrance %(name)s added with code %(code)s.",
            name=entrance.name,
            code=entrance.code,
        ),
        "admin.places",
        community_id=building.community_id,
        _anchor=f"entrance-{entrance.id}",
    )


@bp.post("/entrances/<int:entrance_id>")
@admin_only
def edit_entrance(entrance_id: int):
    """Renames or moves an entrance; its code stays."""
    entrance = _get_or_404(Entrance, entrance_id)
    form = PlaceForm()
    if not form.validate():
        return _places_page(entrance.community, (f"entrance-{entrance.id}", form))
    entrance.name = form.name.data
    entrance.name_en = form.name_en.data or None
    if form.sort_order.data is not None:
        entrance.sort_order = form.sort_order.data
    db.session.commit()
    return _done(
        _("Entrance saved."),
        "admin.places",
        community_id=entrance.community.id,
        _anchor=f"entrance-{entrance.id}",
    )


@bp.route("/entrances/<int:entrance_id>/rotate", methods=["GET", "POST"])
@admin_only
def rotate_code(entrance_id: int):
    """Asks, then gives the entrance a new QR code; the old sticker stops working."""
    entrance = _get_or_404(Entrance, entrance_id)
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


# --- Stickers (officers of the community too) ----------------------------------


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


def _scoped_one(query: sa.Select):
    found = db.session.scalar(scoped(query, Building.community_id))
    if found is None:
        abort(404)
    return found


def _pdf(entrances: list[Entrance], filename: str):
    if not entrances:
        flash(_("There are no entrances to print yet."), "error")
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
    """The sticker of one entrance, as a PDF."""
    entrance = _scoped_one(
        sa.select(Entrance).join(Entrance.building).where(Entrance.id == entrance_id)
    )
    return _pdf([entrance], f"sticker-{entrance.community.slug}-{entrance.code}.pdf")


@bp.get("/stickers/building/<int:building_id>.pdf")
@staff_only
def building_stickers(building_id: int):
    """The stickers of every entrance of one building, as a PDF."""
    building = _scoped_one(sa.select(Building).where(Building.id == building_id))
    return _pdf(
        list(building.entrances),
        f"stickers-{building.community.slug}-building-{building.id}.pdf",
    )


@bp.get("/stickers/community/<int:community_id>.pdf")
@staff_only
def community_stickers(community_id: int):
    """The stickers of every entrance of a community, as a PDF."""
    community = db.session.scalar(
        scoped(sa.select(Community).where(Community.id == community_id), Community.id)
    )
    if community is None:
        abort(404)
    return _pdf(all_entrances(community.id), f"stickers-{community.slug}.pdf")


# --- Categories and routing -----------------------------------------------------


def _categories() -> list[Category]:
    return list(db.session.scalars(sa.select(Category).order_by(Category.sort_order)))


@bp.get("/categories")
@admin_only
def categories():
    """The categories with their Chinese and English names."""
    return _categories_page()


def _categories_page(failed: tuple[int, CategoryForm] | None = None):
    forms = {c.id: CategoryForm(formdata=None, obj=c) for c in _categories()}
    if failed is not None:
        forms[failed[0]] = failed[1]
    return (
        render_template(
            "board/admin/categories.html",
            categories=_categories(),
            forms=forms,
            failed=failed[0] if failed else None,
        ),
        422 if failed else 200,
    )


@bp.post("/categories/<int:category_id>")
@admin_only
def edit_category(category_id: int):
    """Renames a category (its slug, which the classifier uses, stays)."""
    category = _get_or_404(Category, category_id)
    form = CategoryForm()
    if not form.validate():
        return _categories_page((category.id, form))
    form.populate_obj(category)
    db.session.commit()
    return _done(
        _("Category saved."), "admin.categories", _anchor=f"category-{category.id}"
    )


def _route_form(community: Community, formdata=None) -> RouteForm:
    form = RouteForm() if formdata is None else RouteForm(formdata=formdata)
    locale = current_locale()
    form.category.choices = [SelectChoice("", _("Every category"))] + [
        SelectChoice(str(c.id), c.display_name(locale)) for c in _categories()
    ]
    form.building.choices = [SelectChoice("", _("Every building"))] + [
        SelectChoice(str(b.id), _building_name(b, locale)) for b in community.buildings
    ]
    active = [c for c in _contractors() if c.is_active]
    form.primary.choices = [SelectChoice("", "—")] + [
        SelectChoice(str(c.id), c.name) for c in active
    ]
    form.backup.choices = [SelectChoice("", _("No backup"))] + [
        SelectChoice(str(c.id), c.name) for c in active
    ]
    return form


def _building_name(building: Building, locale: str) -> str:
    if locale == "en" and building.name_en:
        return building.name_en
    return building.name


def _routes(community_id: int) -> list[Route]:
    routes = db.session.scalars(
        sa.select(Route).where(Route.community_id == community_id)
    ).all()
    categories = {c.id: c.sort_order for c in _categories()}
    return sorted(
        routes,
        key=lambda r: (
            r.category_id is not None,
            categories.get(r.category_id, 0),
            r.building_id is not None,
            r.building_id or 0,
        ),
    )


def _routes_page(community: Community, form: RouteForm, status: int = 200):
    categories = _categories()
    # Where a report from an entrance of no particular building rule would go.
    outcome = [
        (
            category,
            route_for(Ticket(community_id=community.id, category_id=category.id)),
        )
        for category in categories
    ]
    return (
        render_template(
            "board/admin/routes.html",
            community=community,
            routes=_routes(community.id),
            categories={c.id: c for c in categories},
            buildings={b.id: b for b in community.buildings},
            outcome=outcome,
            form=form,
            delete_form=ConfirmForm(formdata=None),
        ),
        status,
    )


@bp.route("/communities/<int:community_id>/routes", methods=["GET", "POST"])
@admin_only
def routes(community_id: int):
    """The community's routes; saving one for an existing scope replaces it."""
    community = _get_or_404(Community, community_id)
    form = _route_form(community)
    if not form.validate_on_submit():
        return _routes_page(community, form, 422 if form.is_submitted() else 200)
    category_id = int(form.category.data) if form.category.data else None
    building_id = int(form.building.data) if form.building.data else None
    route = db.session.scalar(
        sa.select(Route).where(
            Route.community_id == community.id,
            Route.category_id.is_(None)
            if category_id is None
            else Route.category_id == category_id,
            Route.building_id.is_(None)
            if building_id is None
            else Route.building_id == building_id,
        )
    )
    if route is None:
        route = Route(
            community_id=community.id, category_id=category_id, building_id=building_id
        )
        db.session.add(route)
    route.primary_contractor_id = int(form.primary.data)
    route.backup_contractor_id = int(form.backup.data) if form.backup.data else None
    db.session.commit()
    return _done(_("Route saved."), "admin.routes", community_id=community.id)


@bp.post("/routes/<int:route_id>/delete")
@admin_only
def delete_route(route_id: int):
    """Deletes a route; its reports fall back to a less specific one."""
    route = _get_or_404(Route, route_id)
    community_id = route.community_id
    if ConfirmForm().validate_on_submit():
        db.session.delete(route)
        db.session.commit()
        flash(_("Route deleted."), "ok")
    return redirect(url_for("admin.routes", community_id=community_id), code=303)


# --- Contractors ----------------------------------------------------------------


@bp.get("/contractors")
@admin_only
def contractors():
    """Every contractor with the routes that send them work."""
    uses: dict[int, list[tuple[Route, str]]] = {}
    for route in db.session.scalars(sa.select(Route)):
        uses.setdefault(route.primary_contractor_id, []).append((route, "primary"))
        if route.backup_contractor_id:
            uses.setdefault(route.backup_contractor_id, []).append((route, "backup"))
    return render_template(
        "board/admin/contractors.html",
        contractors=_contractors(),
        uses=uses,
        communities={c.id: c for c in _communities()},
        categories={c.id: c for c in _categories()},
        buildings={b.id: b for b in db.session.scalars(sa.select(Building))},
        languages=LANGUAGE_LABELS,
    )


@bp.route("/contractors/new", methods=["GET", "POST"])
@admin_only
def new_contractor():
    """Adds a contractor; routes then send them work."""
    form = ContractorForm()
    if form.validate_on_submit():
        contractor = Contractor()
        form.populate_obj(contractor)
        contractor.contact_name = contractor.contact_name or None
        db.session.add(contractor)
        db.session.commit()
        return _done(
            _("Contractor %(name)s added.", name=contractor.name), "admin.contractors"
        )
    return _form_page("board/admin/contractor.html", form, contractor=None)


@bp.route("/contractors/<int:contractor_id>", methods=["GET", "POST"])
@admin_only
def contractor(contractor_id: int):
    """Edits a contractor's name, contact, phone, language and active flag."""
    contractor = _get_or_404(Contractor, contractor_id)
    form = ContractorForm(obj=contractor)
    form.editing_id = contractor.id
    if form.validate_on_submit():
        form.populate_obj(contractor)
        contractor.contact_name = contractor.contact_name or None
        db.session.commit()
        return _done(
            _("Contractor %(name)s saved.", name=contractor.name), "admin.contractors"
        )
    return _form_page("board/admin/contractor.html", form, contractor=contractor)


# --- Users and roles ------------------------------------------------------------


@bp.get("/users")
@admin_only
def users():
    """Every account with its role, communities and state."""
    return render_template(
        "board/admin/users.html",
        users=db.session.scalars(sa.select(User).order_by(User.username)).all(),
        roles=ROLE_LABELS,
        toggle_form=ConfirmForm(formdata=None),
    )


def _community_choices(form: UserEditForm) -> None:
    form.communities.choices = [
        SelectChoice(c.id, c.display_name()) for c in _communities()
    ]


def _chosen_communities(ids: list[int]) -> list[Community]:
    if not ids:
        return []
    return list(db.session.scalars(sa.select(Community).where(Community.id.in_(ids))))


@bp.route("/users/new", methods=["GET", "POST"])
@admin_only
def new_user():
    """Creates an account with a role, communities and an initial password."""
    form = UserCreateForm()
    _community_choices(form)
    if form.validate_on_submit():
        user = User(
            username=form.username.data,
            display_name=form.display_name.data or None,
            role=Role(form.role.data),
            phone=form.phone.data or None,
            password_hash=generate_password_hash(form.password.data),
            communities=_chosen_communities(form.communities.data),
        )
        db.session.add(user)
        db.session.commit()
        return _done(_("Account %(name)s created.", name=user.username), "admin.users")
    return _form_page("board/admin/user.html", form, user=None)


@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
@admin_only
def user(user_id: int):
    """Changes an account's name, role, communities and phone."""
    user = _get_or_404(User, user_id)
    form = UserEditForm(
        data={
            "display_name": user.display_name,
            "role": user.role.value,
            "communities": [c.id for c in user.communities],
            "phone": user.phone,
        }
    )
    _community_choices(form)
    valid = form.validate_on_submit()
    demoting_self = user.id == current_user.id and form.role.data != Role.ADMIN.value
    if form.is_submitted() and demoting_self:
        # An administrator who demoted themselves could not undo it.
        form.role.errors = [
            *form.role.errors,
            _("You cannot take the administrator role from yourself."),
        ]
        valid = False
    if valid:
        user.display_name = form.display_name.data or None
        user.role = Role(form.role.data)
        user.phone = form.phone.data or None
        user.communities = _chosen_communities(form.communities.data)
        db.session.commit()
        return _done(_("Account %(name)s saved.", name=user.username), "admin.users")
    return _user_page(user, form)


def _user_page(user: User, form: UserEditForm, password_form=None, status=None):
    if status is None:
        status = 422 if form.is_submitted() else 200
    return (
        render_template(
            "board/admin/user.html",
            form=form,
            user=user,
            password_form=password_form or PasswordForm(formdata=None),
            toggle_form=ConfirmForm(formdata=None),
        ),
        status,
    )


@bp.post("/users/<int:user_id>/password")
@admin_only
def reset_password(user_id: int):
    """Sets a new password for an account."""
    user = _get_or_404(User, user_id)
    form = PasswordForm()
    if not form.validate():
        edit = UserEditForm(
            formdata=None,
            data={
                "display_name": user.display_name,
                "role": user.role.value,
                "communities": [c.id for c in user.communities],
                "phone": user.phone,
            },
        )
        _community_choices(edit)
        return _user_page(user, edit, password_form=form, status=422)
    user.password_hash = generate_password_hash(form.password.data)
    db.session.commit()
    return _done(
        _("New password set for %(name)s.", name=user.username),
        "admin.user",
        user_id=user.id,
    )


@bp.post("/users/<int:user_id>/disable")
@admin_only
def disable_user(user_id: int):
    """Disables an account: it cannot log in, and open sessions end."""
    user = _get_or_404(User, user_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    if user.id == current_user.id:
        flash(_("You cannot disable your own account."), "error")
        return redirect(url_for("admin.users"), code=303)
    user.is_active = False
    db.session.commit()
    return _done(_("Account %(name)s disabled.", name=user.username), "admin.users")


@bp.post("/users/<int:user_id>/enable")
@admin_only
def enable_user(user_id: int):
    """Enables a disabled account again."""
    user = _get_or_404(User, user_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    user.is_active = True
    db.session.commit()
    return _done(_("Account %(name)s enabled.", name=user.username), "admin.users")


# --- SLA policy -----------------------------------------------------------------


@bp.route("/communities/<int:community_id>/sla", methods=["GET", "POST"])
@admin_only
def sla(community_id: int):
    """The community's own SLA durations; an empty field uses the global setting."""
    community = _get_or_404(Community, community_id)
    policy = db.session.get(SlaPolicy, community.id)
    form = SlaForm(
        data={
            field: format_duration(getattr(policy, column, None))
            for field, column, _setting in SLA_CLOCKS
        }
    )
    if form.validate_on_submit():
        if policy is None:
            policy = SlaPolicy(community_id=community.id)
            db.session.add(policy)
        for field, column, _setting in SLA_CLOCKS:
            value = form[field].data
            seconds = int(parse_duration(value).total_seconds()) if value else None
            setattr(policy, column, seconds)
        db.session.commit()
        return _done(
            _("SLA policy saved; it applies to new tickets."),
            "admin.sla",
            community_id=community.id,
        )
    effective = policy_for(community.id)
    config = current_app.config
    clocks = [
        {
            "field": form[field],
            "default": format_duration(config[setting]),
            "effective": format_duration(getattr(effective, field)),
        }
        for field, _column, setting in SLA_CLOCKS
    ]
    return _form_page("board/admin/sla.html", form, community=community, clocks=clocks)


def init_app(app: Flask) -> None:
    """Registers the admin pages and their links in the board's navigation."""
    app.register_blueprint(bp)
    app.jinja_env.globals["time_zones"] = time_zones
    add_board_link(app, "admin.index", _l("Administration"), (Role.ADMIN,))
    add_board_link(app, "admin.stickers", _l("Stickers"), STAFF)

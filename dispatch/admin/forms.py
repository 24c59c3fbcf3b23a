"""Administration forms: communities, places, categories, routes, contractors,
accounts and SLA durations, with their validators."""

from __future__ import annotations

import re
import unicodedata
from datetime import timedelta
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
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

from dispatch.models import Route
from repair import phones
from repair.config import parse_duration
from repair.db import db
from repair.forms import lower, password_validators, strip, upper
from repair.i18n import current_locale
from repair.models import Community, Contractor, Role, User

SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$")
USERNAME = re.compile(r"^[A-Za-z0-9_.-]+$")
LONGEST_SLA = timedelta(days=30)
ROLE_LABELS = {
    Role.OFFICER.value: _l("Repair officer"),
    Role.SUPERVISOR.value: _l("Supervisor"),
    Role.ADMIN.value: _l("Administrator"),
}
LANGUAGE_LABELS = {"zh_CN": "中文", "en": "English"}


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


def required_text(label, message, max_length: int) -> StringField:
    """Returns a stripped text field that must be filled in."""
    return StringField(
        label,
        validators=[DataRequired(message), Length(max=max_length)],
        filters=[strip],
    )


def optional_text(label, max_length: int) -> StringField:
    """Returns a stripped text field that may stay empty."""
    return StringField(
        label, validators=[Optional(), Length(max=max_length)], filters=[strip]
    )


#: A number to dial as people write one: digits, spaces, dashes, brackets, a +.
_DIALABLE = re.compile(r"\+?[0-9 ()\-]+")


def _ascii_digits(value: str | None) -> str | None:
    """Returns the value with full-width digits and signs as ASCII (０７５５→0755)."""
    return unicodedata.normalize("NFKC", value) if value else value


def validate_dialable(_form, field) -> None:
    """A number a phone can dial from a tel: link: digits, at least three ("九六三三三"
    gave the resident a button that called nothing)."""
    value = field.data or ""
    digits = sum(ch.isdigit() for ch in value)
    if value and (not _DIALABLE.fullmatch(value) or digits < 3):
        raise ValidationError(
            _l("Write the number in digits, e.g. 96333 or 0755-8888 6666.")
        )


def phone_line(label, max_length: int = 32) -> StringField:
    """Returns an optional number field a resident's phone will dial."""
    return StringField(
        label,
        validators=[Optional(), Length(max=max_length), validate_dialable],
        filters=[strip, _ascii_digits],
    )


def emergency_phone(label, default: str) -> StringField:
    """Returns a number field that falls back to the national number when empty."""
    return StringField(
        label,
        default=default,
        validators=[Length(max=32), validate_dialable],
        filters=[strip, _ascii_digits, lambda value: value or default],
    )


class CommunityForm(FlaskForm):
    name = required_text(_l("Name"), _l("Enter the community's name."), 120)
    name_en = optional_text(_l("English name (optional)"), 120)
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
        filters=[strip, lower],
    )
    ticket_prefix = StringField(
        _l("Ticket number prefix"),
        validators=[
            DataRequired(_l("Enter a ticket number prefix.")),
            Regexp(r"^[A-Z]{2,4}$", message=_l("Use 2 to 4 capital letters, e.g. YG.")),
        ],
        filters=[strip, upper],
    )
    timezone = StringField(
        _l("Time zone"),
        default=lambda: current_app.config["DEFAULT_TIMEZONE"],
        validators=[DataRequired(_l("Enter a time zone.")), validate_timezone],
        filters=[strip],
    )
    service_phone = optional_text(
        _l("Service phone, printed on stickers (optional)"), 32
    )
    # The numbers a resident who declares a danger is shown before sending.
    fire_phone = emergency_phone(_l("Fire"), "119")
    police_phone = emergency_phone(_l("Police"), "110")
    ambulance_phone = emergency_phone(_l("Ambulance"), "120")
    lift_emergency_phone = phone_line(_l("Lift emergency line, e.g. 96333 (optional)"))
    gas_emergency_phone = phone_line(_l("Gas company emergency line (optional)"))
    publishes_results = BooleanField(
        _l("Publish the monthly repair results at /p/<short name> (信息公开)"),
        default=True,
    )
    asks_arrival_location = BooleanField(
        _l("Ask contractors to share their location on arrival (with consent)"),
        default=False,
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

    name = required_text(_l("Name"), _l("Enter a name."), 64)
    name_en = optional_text(_l("English name"), 64)
    sort_order = IntegerField(
        _l("Position"), validators=[Optional(), NumberRange(min=0, max=9999)]
    )


class LiftForm(FlaskForm):
    """A lift at an entrance: its name and the number on its use certificate."""

    name = required_text(_l("Lift name"), _l("Enter the lift's name, e.g. 1号梯."), 64)
    certificate_number = optional_text(_l("Use certificate number (使用标志编号)"), 64)
    emergency_phone = phone_line(
        _l("Maintenance company's emergency number (optional)")
    )


class ConfirmForm(FlaskForm):
    """A button that only needs its CSRF token."""


class CategoryForm(FlaskForm):
    name = required_text(_l("Chinese name"), _l("Enter the Chinese name."), 64)
    name_en = required_text(_l("English name"), _l("Enter the English name."), 64)


class CheckboxesField(SelectMultipleField):
    """A multiple choice shown as checkboxes."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


#: Said when a route would name a contractor of another community.
NOT_THIS_COMMUNITYS = _l(
    "This contractor does not serve this community: choose one of its contractors "
    "(an administrator adds communities on the contractor's page)."
)


class RouteForm(FlaskForm):
    """A route of one community: its contractors are offered, and posted ones are
    checked against them with a clear message."""

    category = SelectField(_l("Category"))
    building = SelectField(_l("Building or common area"))
    primary = SelectField(
        _l("Contractor"),
        validators=[DataRequired(_l("Choose a contractor."))],
        validate_choice=False,
    )
    backup = SelectField(_l("Backup contractor (AB岗)"), validate_choice=False)

    #: The ids (as text) of the active contractors serving the route's community.
    allowed_contractors: frozenset[str] = frozenset()

    def validate_primary(self, field) -> None:
        if field.data not in self.allowed_contractors:
            raise ValidationError(NOT_THIS_COMMUNITYS)

    def validate_backup(self, field) -> None:
        if field.data and field.data not in self.allowed_contractors:
            raise ValidationError(NOT_THIS_COMMUNITYS)
        if field.data and field.data == self.primary.data:
            raise ValidationError(_l("The backup must be a different contractor."))


class ContractorForm(FlaskForm):
    name = required_text(_l("Company name"), _l("Enter the company's name."), 120)
    contact_name = optional_text(_l("Contact person (optional)"), 64)
    phone = TelField(
        _l("Mobile phone for job SMS"),
        validators=[DataRequired(_l("Enter a phone number.")), phones.validate_mobile],
        filters=[strip],
    )
    language = SelectField(
        _l("Language of their SMS"),
        choices=[SelectChoice(code, label) for code, label in LANGUAGE_LABELS.items()],
        default="zh_CN",
    )
    is_active = BooleanField(_l("Active: can be sent new tickets"), default=True)
    communities = CheckboxesField(_l("Communities served"), coerce=int)

    editing_id: int | None = None

    def validate_communities(self, field) -> None:
        """Requires a community; keeps those whose routes still name the contractor."""
        if not field.data:
            raise ValidationError(_l("Choose the communities this contractor serves."))
        if self.editing_id is None:
            return
        routed = db.session.scalars(
            sa.select(Community)
            .join(Route, Route.community_id == Community.id)
            .where(
                sa.or_(
                    Route.primary_contractor_id == self.editing_id,
                    Route.backup_contractor_id == self.editing_id,
                ),
                Community.id.not_in(field.data),
            )
            .distinct()
            .order_by(Community.name)
        ).all()
        if routed:
            raise ValidationError(
                _l(
                    "Routes of %(communities)s still send work to this contractor: "
                    "change those routes first.",
                    communities=(
                        "、" if current_locale().startswith("zh") else ", "
                    ).join(c.display_name(current_locale()) for c in routed),
                )
            )

    def validate_phone(self, field) -> None:
        """Rejects a number another contractor has."""
        query = sa.select(Contractor.id).where(Contractor.phone == field.data)
        if self.editing_id is not None:
            query = query.where(Contractor.id != self.editing_id)
        if db.session.scalar(query) is not None:
            # Replies by SMS are matched to the contractor by this number.
            raise ValidationError(_l("Another contractor already has this number."))


class UserEditForm(FlaskForm):
    display_name = optional_text(_l("Display name (optional)"), 64)
    role = SelectField(
        _l("Role"),
        choices=[SelectChoice(value, label) for value, label in ROLE_LABELS.items()],
        default=Role.OFFICER.value,
    )
    communities = CheckboxesField(_l("Communities"), coerce=int)
    phone = TelField(
        _l("Mobile phone for SLA alerts (optional)"),
        validators=[Optional(), phones.validate_mobile],
        filters=[strip],
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
        filters=[strip],
    )
    password = PasswordField(
        _l("Initial password"),
        validators=password_validators(),
    )

    def validate_username(self, field) -> None:
        if db.session.scalar(sa.select(User.id).where(User.username == field.data)):
            raise ValidationError(_l("This username is taken."))


class PasswordForm(FlaskForm):
    password = PasswordField(
        _l("New password"),
        validators=password_validators(),
    )


class SlaForm(FlaskForm):
    triage = StringField(
        _l("Triage (officer confirms urgency)"),
        validators=[validate_duration],
        filters=[strip],
    )
    urgent_contact = StringField(
        _l("Urgent: contractor accepts"),
        validators=[validate_duration],
        filters=[strip],
    )
    urgent_on_site = StringField(
        _l("Urgent: contractor on site"),
        validators=[validate_duration],
        filters=[strip],
    )
    general_on_site = StringField(
        _l("General: contractor on site"),
        validators=[validate_duration],
        filters=[strip],
    )


def user_form_data(user: User) -> dict:
    """Returns an account's current values as the data of a UserEditForm."""
    return {
        "display_name": user.display_name,
        "role": user.role.value,
        "communities": [c.id for c in user.communities],
        "phone": user.phone,
    }

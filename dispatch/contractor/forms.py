"""The contractor's forms on the job page: accept or arrive, decline, complete."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    HiddenField,
    MultipleFileField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional

from repair.forms import strip

DECLINE_REASONS = [
    ("busy", _l("No crew free in time")),
    ("not_ours", _l("Not our kind of work")),
    ("too_far", _l("Too far / cannot reach the site")),
    ("other", _l("Other")),
]


class ActionForm(FlaskForm):
    """One tap: accept or arrive (the CSRF token is its only field)."""


class DeclineForm(FlaskForm):
    reason = SelectField(
        _l("Why?"),
        choices=[SelectChoice(value, label) for value, label in DECLINE_REASONS],
    )
    detail = StringField(
        _l("Details (optional)"), validators=[Optional(), Length(max=200)]
    )


class CompleteForm(FlaskForm):
    photos = MultipleFileField(_l("Completion photos"))
    kept_photos = HiddenField()
    worker_name = StringField(
        _l("Repaired by"),
        validators=[DataRequired(_l("Please give the worker's name.")), Length(max=64)],
        filters=[strip],
    )
    note = TextAreaField(
        _l("What was done (optional)"),
        validators=[Optional(), Length(max=1000)],
        filters=[strip],
    )

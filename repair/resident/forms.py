"""The resident's forms: the report, confirm / not fixed / rating, "me too"."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import (
    HiddenField,
    MultipleFileField,
    RadioField,
    StringField,
    TelField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional, Regexp

from repair.dangers import DANGERS, NO_DANGER
from repair.forms import strip, written
from repair.phones import validate_mobile
from repair.security import SafeForm


class ReportForm(SafeForm):
    danger = RadioField(
        _l("Is anyone in danger now?"),
        choices=[
            *[(danger.slug, danger.label) for danger in DANGERS.values()],
            (NO_DANGER, _l("No danger")),
        ],
        validators=[Optional()],
    )
    #: Choices are the entrance's lifts (set by the view); none when it lists none.
    lift = RadioField(_l("Which lift?"), validators=[Optional()], choices=[])
    photos = MultipleFileField(_l("Photos"))
    kept_photos = HiddenField()
    spot = StringField(
        _l("Exact spot"),
        validators=[Optional(), Length(max=200)],
        filters=[strip],
    )
    description = TextAreaField(
        _l("What is wrong?"),
        validators=[
            DataRequired(_l("Please describe the problem.")),
            written(2000),
        ],
        filters=[strip],
    )
    category = RadioField(_l("Category (optional)"), validators=[Optional()])
    phone = TelField(
        _l("Phone for progress SMS (optional)"),
        validators=[Optional(), validate_mobile],
    )
    name = StringField(
        _l("Your name (optional)"), validators=[Optional(), Length(max=64)]
    )
    submission_key = HiddenField(
        validators=[
            Optional(),
            Regexp(
                r"^[0-9a-f]{32}$",
                message=_l("The form was damaged in transit; please press Send again."),
            ),
        ]
    )


class ResidentActionForm(SafeForm):
    """Confirm, not fixed, rate: each carries the resident's private key."""

    k = HiddenField()


class NotFixedForm(ResidentActionForm):
    note = TextAreaField(
        _l("What is still wrong?"),
        validators=[
            DataRequired(_l("Please say what is still wrong.")),
            written(2000),
        ],
        filters=[strip],
    )
    photos = MultipleFileField(_l("Photo (optional)"))
    kept_photos = HiddenField()


class AddPhotoForm(ResidentActionForm):
    """A photo the resident adds after reporting (the officer may ask for one)."""

    photos = MultipleFileField(_l("Photo"))
    kept_photos = HiddenField()


class RatingForm(ResidentActionForm):
    stars = RadioField(
        _l("How satisfied are you?"),
        choices=[SelectChoice(str(n), str(n)) for n in range(5, 0, -1)],
        validators=[DataRequired(_l("Please choose 1 to 5 stars."))],
    )
    comment = TextAreaField(
        _l("Comment (optional)"),
        validators=[Optional(), written(1000)],
        filters=[strip],
    )


class FollowForm(SafeForm):
    phone = TelField(
        _l("Phone for progress SMS (optional)"),
        validators=[Optional(), validate_mobile],
    )

"""The contractor's forms on the job page: accept or arrive, decline, pause,
complete."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    FileField,
    HiddenField,
    MultipleFileField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional

from repair.forms import strip, written
from repair.security import SafeForm

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


PAUSE_REASONS = [
    ("parts", _l("Waiting for parts")),
    ("access", _l("No access to the flat or room")),
    ("weather", _l("Weather or safety")),
    ("other", _l("Other")),
]
#: The furthest ahead a pause may be expected to end.
PAUSE_LONGEST = timedelta(days=14)
LOCAL_INPUT = "%Y-%m-%dT%H:%M"


def parse_local_input(text: str | None, zone: str) -> datetime | None:
    """Returns a datetime-local input's value ("2026-11-22T18:00", the community's
    time) as UTC, or None if it is not one."""
    try:
        local = datetime.strptime((text or "").strip()[:16], LOCAL_INPUT)
        return local.replace(tzinfo=ZoneInfo(zone)).astimezone(UTC)
    except (ValueError, OverflowError):
        return None


class PauseForm(FlaskForm):
    """The contractor's request to pause the on-site clock (挂起)."""

    reason = SelectField(
        _l("Why?"),
        choices=[SelectChoice(value, label) for value, label in PAUSE_REASONS],
    )
    detail = StringField(
        _l("Details"),
        validators=[
            DataRequired(_l("Please say what you are waiting for.")),
            Length(max=150, message=_l("At most 150 characters, please.")),
        ],
        filters=[strip],
    )
    resume_at = StringField(
        _l("Expected to go on at"),
        validators=[DataRequired(_l("Please give the time you expect to go on."))],
    )

    def resume_time(self, zone: str, now: datetime) -> datetime | None:
        """Returns the expected resume time in UTC, or None with the field's error
        set (not a time, in the past, or too far ahead)."""
        when = parse_local_input(self.resume_at.data, zone)
        if when is None:
            self.resume_at.errors = [_l("Please give a date and time.")]
        elif when <= now:
            self.resume_at.errors = [_l("The expected time must be in the future.")]
        elif when > now + PAUSE_LONGEST:
            self.resume_at.errors = [_l("A pause can last at most 14 days.")]
        else:
            return when
        return None


class CompleteForm(SafeForm):
    """The completion: photos after (and before), the worker, a note; the material
    lines and labour are read by dispatch.contractor.record."""

    photos = MultipleFileField(_l("Completion photos"))
    kept_photos = HiddenField()
    before_photos = MultipleFileField(_l("Photos before the repair"))
    kept_before = HiddenField()
    worker_name = StringField(
        _l("Repaired by"),
        validators=[DataRequired(_l("Please give the worker's name.")), Length(max=64)],
        filters=[strip],
    )
    note = TextAreaField(
        _l("What was done (optional)"),
        validators=[Optional(), written(1000)],
        filters=[strip],
    )


_COORDINATE = re.compile(r"^-?\d{1,3}(?:\.\d{1,12})?$")


class ArrivalForm(SafeForm):
    """我已到场: a photo of the place taken there, or why there is none; the
    location only where the community asks for it, with consent."""

    arrival_photo = FileField(_l("Photo of the place"))
    kept_photos = HiddenField()
    no_photo_reason = StringField(
        _l("The camera does not work? Say why"),
        validators=[
            Optional(),
            Length(max=200, message=_l("At most 200 characters, please.")),
        ],
        filters=[strip],
    )
    location_consent = BooleanField(_l("I agree to share where I am for this job"))
    latitude = HiddenField()
    longitude = HiddenField()

    def location(self) -> tuple[float, float] | None:
        """Returns (latitude, longitude) when the contractor agreed and the browser
        gave a position that is one, else None."""
        if not self.location_consent.data:
            return None
        texts = (self.latitude.data or "").strip(), (self.longitude.data or "").strip()
        if not all(_COORDINATE.match(text) for text in texts):
            return None
        latitude, longitude = (float(text) for text in texts)
        if abs(latitude) > 90 or abs(longitude) > 180:
            return None
        return round(latitude, 6), round(longitude, 6)

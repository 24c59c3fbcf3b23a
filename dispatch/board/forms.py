"""The board's forms: a ticket's actions and filing a report for a resident.

The views replace the choices with labelled ones for display; the callables below
are what a posted value is checked against when a view sets none.
"""

from __future__ import annotations

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    HiddenField,
    MultipleFileField,
    RadioField,
    SelectField,
    StringField,
    TelField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from repair.dangers import DANGERS
from repair.db import db
from repair.forms import written
from repair.models import Category, Contractor, Ticket
from repair.phones import validate_phone


def id_text(value) -> str:
    """Coerces a posted id: ASCII digits, kept as text like the choices' values;
    anything else is a form error (not a 500 in the view)."""
    text = str(value)
    if not (text.isascii() and text.isdigit()):
        raise ValueError(text)
    return text


def category_choices() -> list[SelectChoice]:
    """Returns every category, by slug."""
    categories = db.session.scalars(sa.select(Category).order_by(Category.sort_order))
    return [SelectChoice(c.slug, c.display_name()) for c in categories]


def contractors_for(community_id: int) -> list[Contractor]:
    """Returns the contractors that may be sent the community's new tickets: active
    and serving it, by name."""
    return list(
        db.session.scalars(
            sa.select(Contractor)
            .where(
                Contractor.is_active.is_(True),
                Contractor.serving([community_id]),
            )
            .order_by(Contractor.name)
        )
    )


class TriageForm(FlaskForm):
    urgency = RadioField(
        _l("Urgency"),
        choices=[
            SelectChoice("urgent", _l("Urgent")),
            SelectChoice("general", _l("General")),
        ],
        validators=[DataRequired()],
    )
    category = SelectField(_l("Category"), choices=category_choices)


class AssignForm(FlaskForm):
    """Sends a ticket to a contractor: only those of the ticket's community are
    offered, and a posted id is checked against them."""

    contractor = SelectField(_l("Contractor"), coerce=id_text)

    def __init__(self, ticket: Ticket, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.contractor.choices = [
            SelectChoice(str(c.id), c.name)
            for c in contractors_for(ticket.community_id)
        ]


class NoteForm(FlaskForm):
    note = TextAreaField(
        _l("Internal note"), validators=[DataRequired(), written(2000)]
    )


class ReasonForm(FlaskForm):
    reason = StringField(_l("Reason"), validators=[DataRequired(), Length(max=200)])


class DuplicateForm(FlaskForm):
    original = StringField(_l("Original ticket number"), validators=[DataRequired()])


class PauseDecisionForm(FlaskForm):
    """Approve, refuse or end a pause: the request the officer saw, and a note."""

    pause_id = HiddenField()
    note = StringField(_l("Note (optional)"), validators=[Optional(), Length(max=200)])

    def seen_pause_id(self) -> int:
        """Returns the id of the request on the officer's page. The page always
        names it: a missing or implausible id matches no request (0), so nothing is
        decided about a request the officer never saw."""
        text = (self.pause_id.data or "").strip()
        return int(text) if text.isascii() and text.isdigit() and len(text) < 12 else 0


class SimpleForm(FlaskForm):
    note = StringField(_l("Note (optional)"), validators=[Optional(), Length(max=500)])


_CHOOSE_PLACE = _l("Choose the place: a building's entrance or a common area.")
_DANGER_IS_URGENT = _l(
    "Someone in danger makes the report urgent: choose Urgent or let the system judge."
)


class FileForm(FlaskForm):
    # No default: a missed choice must not file the ticket at the first entrance.
    entrance = SelectField(
        _l("Place"),
        validators=[DataRequired(_CHOOSE_PLACE)],
    )
    urgency = RadioField(
        _l("Urgency"),
        choices=[
            SelectChoice("", _l("Let the system judge")),
            SelectChoice("urgent", _l("Urgent")),
            SelectChoice("general", _l("General")),
        ],
        default="",
        validators=[Optional()],
    )
    #: What the resident says of danger now, as the sticker's form asks it: a
    #: declared danger makes the ticket urgent and is marked wherever it is shown.
    #: Nothing ticked at first: the officer asks the caller (outside tester: a
    #: ticked 都没有 answered the question for her).
    danger = RadioField(
        _l("Is anyone in danger now?"),
        choices=[
            *[SelectChoice(d.slug, d.label) for d in DANGERS.values()],
            SelectChoice("none", _l("No danger")),
        ],
        validators=[Optional()],
    )
    channel = RadioField(
        _l("How did the resident reach you?"),
        choices=[
            SelectChoice("phone", _l("By phone")),
            SelectChoice("walk_in", _l("In person")),
        ],
        default="phone",
    )
    spot = StringField(_l("Exact spot"), validators=[Optional(), Length(max=200)])
    description = TextAreaField(
        _l("What is wrong?"),
        validators=[DataRequired(_l("Please describe the problem.")), written(2000)],
    )
    category = SelectField(_l("Category (optional)"), validators=[Optional()])
    phone = TelField(
        _l("Resident's phone (optional)"), validators=[Optional(), validate_phone]
    )
    name = StringField(
        _l("Resident's name (optional)"), validators=[Optional(), Length(max=64)]
    )
    photos = MultipleFileField(_l("Photos (optional)"))
    kept_photos = HiddenField()

    def validate_urgency(self, field) -> None:
        if field.data == "general" and self.danger.data not in (None, "", "none"):
            raise ValidationError(_DANGER_IS_URGENT)

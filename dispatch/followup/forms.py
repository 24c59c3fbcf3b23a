"""The officer's record of a follow-up call."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import RadioField, SelectField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, ValidationError

from dispatch.models import FollowUpOutcome
from repair.forms import strip
from repair.security import SafeForm

REACHED, NOT_REACHED = "yes", "no"

OUTCOME_LABELS = {
    FollowUpOutcome.RESOLVED.value: _l("Solved now; the resident is content"),
    FollowUpOutcome.EXPLAINED.value: _l("Explained; the resident accepts it"),
    FollowUpOutcome.REWORK.value: _l("Needs more work (reopen the ticket)"),
    FollowUpOutcome.UNSATISFIED.value: _l("Still unsatisfied"),
}


class CallForm(SafeForm):
    """Reached or not; what the resident said (when reached); a note."""

    reached = RadioField(
        _l("Did you reach the resident?"),
        choices=[
            SelectChoice(REACHED, _l("Reached")),
            SelectChoice(NOT_REACHED, _l("Not reached")),
        ],
        validators=[InputRequired(_l("Say whether you reached the resident."))],
        validate_choice=False,
    )
    outcome = SelectField(
        _l("Outcome"),
        choices=[
            SelectChoice("", "—"),
            *(SelectChoice(value, label) for value, label in OUTCOME_LABELS.items()),
        ],
        validate_choice=False,
    )
    note = TextAreaField(
        _l("Note"),
        validators=[
            Length(max=1000, message=_l("The note is at most 1000 characters."))
        ],
        filters=[strip],
    )

    def validate_reached(self, field) -> None:
        if field.data not in (REACHED, NOT_REACHED):
            raise ValidationError(_l("Say whether you reached the resident."))

    def validate_outcome(self, field) -> None:
        if field.data and field.data not in OUTCOME_LABELS:
            raise ValidationError(_l("Choose what came of the call."))
        if self.reached.data == REACHED and not field.data:
            raise ValidationError(_l("Choose what came of the call."))
        if self.reached.data == NOT_REACHED and field.data:
            # Not silently dropped (the outside tester's finding): one of the two
            # answers is a slip, and only the officer knows which.
            raise ValidationError(
                _l(
                    "An outcome was chosen but the resident was not reached: choose "
                    '"Reached", or leave the outcome empty.'
                )
            )

    @property
    def is_reached(self) -> bool:
        return self.reached.data == REACHED

    def chosen_outcome(self) -> FollowUpOutcome | None:
        return FollowUpOutcome(self.outcome.data) if self.outcome.data else None

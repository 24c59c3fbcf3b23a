"""Phone numbers: parsing what people type into E.164, for forms and SMS webhooks."""

from __future__ import annotations

import phonenumbers
from flask_babel import lazy_gettext as _l
from wtforms.validators import ValidationError

#: Numbers without a country code are read as mainland Chinese numbers.
DEFAULT_REGION = "CN"


def to_e164(text: str) -> str | None:
    """Returns a valid number as E.164 (+8613800138000), or None if it is not one."""
    try:
        number = phonenumbers.parse(text, DEFAULT_REGION)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize(text: str) -> str:
    """Returns the number as E.164 if it parses at all (valid or not), else as
    given: for matching what a gateway sends against stored numbers."""
    try:
        number = phonenumbers.parse(text, DEFAULT_REGION)
    except phonenumbers.NumberParseException:
        return text
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def validate_phone(form, field) -> None:
    """WTForms validator: accepts a mainland mobile or any international number and
    stores it as E.164; an empty field is left to Optional or DataRequired."""
    if not field.data:
        return
    e164 = to_e164(field.data)
    if e164 is None:
        raise ValidationError(
            _l("Please enter a valid phone number, e.g. 138 0013 8000.")
        )
    field.data = e164

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


#: Numbers a text message never reaches: a mainland landline (0755 8888 6666), a
#: 400/800 service line and the like. Where a country's numbering cannot tell a
#: mobile from a landline (FIXED_LINE_OR_MOBILE: the United States) it is taken.
_NO_SMS = frozenset(
    {
        phonenumbers.PhoneNumberType.FIXED_LINE,
        phonenumbers.PhoneNumberType.TOLL_FREE,
        phonenumbers.PhoneNumberType.PREMIUM_RATE,
        phonenumbers.PhoneNumberType.SHARED_COST,
        phonenumbers.PhoneNumberType.UAN,
        phonenumbers.PhoneNumberType.VOICEMAIL,
        phonenumbers.PhoneNumberType.PAGER,
    }
)


def receives_sms(e164: str) -> bool:
    """Returns whether a valid number (E.164) can receive a text message."""
    number = phonenumbers.parse(e164, DEFAULT_REGION)
    return phonenumbers.number_type(number) not in _NO_SMS


def validate_mobile(form, field) -> None:
    """WTForms validator for a number we send SMS to: validate_phone, and a number
    that can receive them (a landline typed into "phone for progress SMS" had
    every text to it fail at the provider, and nobody told the resident)."""
    if not field.data:
        return
    e164 = to_e164(field.data)
    if e164 is not None and not receives_sms(e164):
        raise ValidationError(  # what was typed stays in the field
            _l(
                "This number cannot receive SMS: please enter a mobile number,"
                " e.g. 138 0013 8000."
            )
        )
    validate_phone(form, field)

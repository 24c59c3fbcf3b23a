"""Form pieces shared by every app's forms: filters, the length of typed text
and the password rule."""

from __future__ import annotations

import regex
from flask_babel import lazy_gettext as _l
from wtforms.validators import DataRequired, Length, ValidationError

#: The shortest password an account may have (the admin pages and `users` commands).
PASSWORD_MIN_LENGTH = 8


def strip(value):
    """Filter: strips surrounding whitespace from text, leaves anything else alone."""
    return value.strip() if isinstance(value, str) else value


def upper(value):
    """Filter: upper-cases text."""
    return value.upper() if isinstance(value, str) else value


def lower(value):
    """Filter: lower-cases text."""
    return value.lower() if isinstance(value, str) else value


#: One character as a writer sees it: a user-perceived character (grapheme
#: cluster), so 👍🏻, a flag or a family emoji is one, as a person counts it.
_CHARACTER = regex.compile(r"\X")
#: Past this many code points per character allowed, text is counted in code
#: points: a few "characters" stacked with thousands of marks are not short.
_MARKS_PER_CHARACTER = 4


def characters(text: str, max_chars: int) -> int:
    """Returns the length of typed text as its writer counts it: one per
    character they see, a line break one even when sent as CRLF."""
    text = text.replace("\r\n", "\n")
    if len(text) > max_chars * _MARKS_PER_CHARACTER:
        return len(text)
    return len(_CHARACTER.findall(text))


def written(max_chars: int):
    """Validator: at most ``max_chars`` characters of typed text, counted as the
    page's counter counts them (characters(): an emoji is one, a line break is
    one), with a message saying how long the text is.

    Not wtforms' Length: that one renders ``maxlength``, which a browser counts
    in UTF-16 units (an emoji is two) and enforces by cutting a paste silently.
    """
    message = _l("This is %(length)d characters long: please shorten it to %(max)d.")

    def check(form, field) -> None:
        text = field.data if isinstance(field.data, str) else ""
        length = characters(text, max_chars)
        if length > max_chars:
            raise ValidationError(message % {"length": length, "max": max_chars})

    return check


def password_validators() -> list:
    """Returns the validators of a new password: required, long enough."""
    return [
        DataRequired(_l("Enter a password.")),
        Length(
            min=PASSWORD_MIN_LENGTH,
            message=_l("The password needs at least 8 characters."),
        ),
    ]

"""Form pieces shared by every app's forms: filters and the password rule."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms.validators import DataRequired, Length

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


def password_validators() -> list:
    """Returns the validators of a new password: required, long enough."""
    return [
        DataRequired(_l("Enter a password.")),
        Length(
            min=PASSWORD_MIN_LENGTH,
            message=_l("The password needs at least 8 characters."),
        ),
    ]

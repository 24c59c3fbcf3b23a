"""Job-link tokens: short, signed, bound to one assignment (the /j/<token> URL)."""

from __future__ import annotations

import base64
import hashlib
import hmac

from flask import current_app

_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"


def job_token(assignment_id: int, secret: str | None = None) -> str:
    """Returns the token for an assignment: its id and a 64-bit signature."""
    return f"{_base36(assignment_id)}-{_signature(assignment_id, secret)}"


def assignment_id_from(token: str, secret: str | None = None) -> int | None:
    """Returns the assignment id a token was made for, or None if it was tampered.

    Only the token exactly as issued is accepted: no other spelling of the id
    (capitals, leading zeros, `+`, `_`, spaces) and no other spelling of the
    signature.
    """
    head, _, signature = token.partition("-")
    if not (0 < len(head) <= 7 and head.isascii() and head.isalnum()):
        return None
    assignment_id = int(head, 36)
    expected = job_token(assignment_id, secret)
    return (
        assignment_id
        if hmac.compare_digest(token.encode(), expected.encode())
        else None
    )


def job_url(assignment_id: int) -> str:
    """Returns the full job link printed in SMS."""
    return f"{current_app.config['PUBLIC_URL']}/j/{job_token(assignment_id)}"


def _signature(assignment_id: int, secret: str | None) -> str:
    key = (secret or current_app.config["SECRET_KEY"]).encode()
    digest = hmac.new(key, f"job:{assignment_id}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:8]).decode().rstrip("=")


def _base36(number: int) -> str:
    out = ""
    while True:
        number, digit = divmod(number, 36)
        out = _DIGITS[digit] + out
        if number == 0:
            return out

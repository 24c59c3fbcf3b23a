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


#: Short job codes: no 0/O, 1/I/L, so a code read aloud or typed is unambiguous.
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 8


def job_code(assignment_id: int) -> str:
    """Returns the assignment's short code (/j/<code>), creating it the first time
    (an assignment made in this transaction has none before: nothing to look up)."""
    made = new_assignments()
    if assignment_id not in made:
        return _short_code(assignment_id=assignment_id)
    if made[assignment_id] is None:
        made[assignment_id] = _short_code(assignment_id=assignment_id, first=True)
    return made[assignment_id]


def new_assignments() -> dict[int, str | None]:
    """Returns the assignments this transaction made, by id, with the job code
    made for each (None until then)."""
    from repair.db import transaction_memo

    return transaction_memo("new assignments")


def resident_code(ticket_id: int) -> str:
    """Returns the short code that opens a ticket's tracking page for its resident."""
    return _short_code(ticket_id=ticket_id)


def _short_code(first: bool = False, **owner: int) -> str:
    import secrets

    import sqlalchemy as sa

    from dispatch.models import JobCode
    from repair.db import db

    [(column, value)] = owner.items()
    if not first:
        existing = db.session.scalar(
            sa.select(JobCode.code).where(getattr(JobCode, column) == value)
        )
        if existing:
            return existing
    while True:
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        if db.session.get(JobCode, code) is None:
            break
    db.session.add(JobCode(code=code, **owner))  # inserted by the next flush
    return code


def normalize_code(text: str) -> str:
    """Returns a typed code in canonical form (upper case, no spaces or dashes)."""
    return "".join(text.split()).upper().replace("-", "")


def code_owner(code: str):
    """Returns the JobCode row a typed short code names, or None."""
    from dispatch.models import JobCode
    from repair.db import db

    code = normalize_code(code)
    if len(code) != CODE_LENGTH or any(c not in CODE_ALPHABET for c in code):
        return None
    return db.session.get(JobCode, code)


def assignment_id_from_code(code: str) -> int | None:
    """Returns the assignment a short job code names, or None."""
    row = code_owner(code)
    return row.assignment_id if row else None

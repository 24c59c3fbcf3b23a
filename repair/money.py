"""Money and quantities as exact integers: fen (分) and hundredths, parsed and shown.

Nothing here is a float: a yuan amount typed as "12.5" is 1250 fen, a quantity
"2.5" is 250 hundredths, and their product is rounded half up to the fen.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from flask import Flask

#: A plain decimal as typed on a phone: digits, one point (or a Chinese comma
#: keyboard's full stop "。" / "，"), at most ``places`` digits after it.
_NUMBER = re.compile(r"^\d{1,12}(?:\.(\d*))?$")
_FULL_WIDTH = str.maketrans("０１２３４５６７８９．。，,", "0123456789....")


def parse_decimal(text: str | None, places: int = 2) -> Decimal | None:
    """Returns the number typed (full-width digits and "。" allowed), or None when
    it is not a non-negative number with at most ``places`` decimals."""
    cleaned = (text or "").strip().translate(_FULL_WIDTH).removeprefix("¥").strip()
    match = _NUMBER.match(cleaned)
    if not match or len(match.group(1) or "") > places:
        return None
    try:
        return Decimal(cleaned.rstrip(".") or "0")
    except InvalidOperation:
        return None


def to_units(value: Decimal, per_unit: int = 100) -> int:
    """Returns the value in whole hundredths (fen), rounded half up."""
    return int((value * per_unit).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def line_amount(quantity_hundredths: int, unit_price_fen: int) -> int:
    """Returns quantity × unit price in fen, rounded half up."""
    exact = Decimal(quantity_hundredths) * Decimal(unit_price_fen) / 100
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def yuan(fen: int | None) -> str:
    """Returns 1250 fen as "12.50" (the empty string for None)."""
    if fen is None:
        return ""
    sign = "-" if fen < 0 else ""
    whole, part = divmod(abs(int(fen)), 100)
    return f"{sign}{whole}.{part:02d}"


def quantity_text(hundredths: int) -> str:
    """Returns 250 hundredths as "2.5", 300 as "3"."""
    whole, part = divmod(int(hundredths), 100)
    return f"{whole}.{part:02d}".rstrip("0").rstrip(".") if part else str(whole)


def hours_text(minutes: int | None) -> str:
    """Returns 90 minutes as "1.5" (hours, for the form and the CSV)."""
    if minutes is None:
        return ""
    return quantity_text(round(minutes * 100 / 60))


def init_app(app: Flask) -> None:
    """Adds the ``yuan``, ``quantity`` and ``hours`` filters to the templates."""
    app.jinja_env.filters["yuan"] = yuan
    app.jinja_env.filters["quantity"] = quantity_text
    app.jinja_env.filters["hours"] = hours_text

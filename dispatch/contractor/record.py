"""The repair record a contractor fills in on completion: material lines, labour
time and labour cost, checked at the edge and summed by the server.

Total cost = materials (each line's quantity × unit price, rounded half up to the
fen) + the labour cost the contractor states. Labour time is recorded as well, but
priced only by that stated cost (rates differ by company and contract). The form
posts the lines as parallel lists; a blank line is ignored; anything wrong comes
back as a message with everything typed kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flask_babel import lazy_gettext as _l
from werkzeug.datastructures import MultiDict

from repair.money import line_amount, parse_decimal, to_units

#: At most this many material lines in one completion.
MAX_LINES = 20
#: Blank lines the form offers when nothing is typed yet.
BLANK_LINES = 1
NAME_MAX, UNIT_MAX = 64, 16
#: 99 999.99 of anything; 1 000 000.00 yuan a unit or of labour; 1 000 hours.
MAX_QUANTITY_HUNDREDTHS = 9_999_999
MAX_PRICE_FEN = 100_000_000
MAX_LABOUR_FEN = 100_000_000
MAX_LABOUR_MINUTES = 60_000
FIELDS = ("name", "quantity", "unit", "price")

MESSAGES = {
    "name": _l("Line %(n)s: please name the material."),
    "name_long": _l("Line %(n)s: the name is too long (at most 64 characters)."),
    "unit_long": _l("Line %(n)s: the unit is too long (at most 16 characters)."),
    "quantity": _l(
        "Line %(n)s: the quantity must be a number above 0 with at most 2 decimals, "
        "up to 99999.99."
    ),
    "price": _l(
        "Line %(n)s: the unit price must be an amount in yuan (e.g. 12.50), "
        "up to 1000000."
    ),
    "control": _l(
        "Line %(n)s: an invisible character that cannot be saved was taken out: "
        "please check the line and send again."
    ),
    "too_many": _l("At most 20 material lines, please."),
    "hours": _l(
        "Please give the labour time in hours (e.g. 1.5), above 0 and at most 1000."
    ),
    "labour_cost": _l(
        "The labour cost must be an amount in yuan (e.g. 80 or 80.50), up to 1000000; "
        "leave it empty if there is none."
    ),
}


@dataclass
class MaterialLine:
    """One line as typed (kept for the form) and, when valid, as stored."""

    name: str = ""
    quantity: str = ""
    unit: str = ""
    price: str = ""
    quantity_hundredths: int | None = None
    unit_price_fen: int | None = None

    @property
    def is_blank(self) -> bool:
        return not (self.name or self.quantity or self.unit or self.price)

    @property
    def amount_fen(self) -> int | None:
        if self.quantity_hundredths is None or self.unit_price_fen is None:
            return None
        return line_amount(self.quantity_hundredths, self.unit_price_fen)


@dataclass
class RepairRecord:
    """The material lines, labour and their costs of one completion."""

    lines: list[MaterialLine] = field(default_factory=list)
    hours: str = ""
    labour_cost: str = ""
    labour_minutes: int | None = None
    labour_cost_fen: int | None = None
    errors: list[str] = field(default_factory=list)

    @property
    def materials(self) -> list[MaterialLine]:
        """Returns the lines that say something (blank ones are ignored)."""
        return [line for line in self.lines if not line.is_blank]

    @property
    def materials_cost_fen(self) -> int:
        return sum(line.amount_fen or 0 for line in self.materials)

    @property
    def total_cost_fen(self) -> int:
        """Materials + the stated labour cost, in fen."""
        return self.materials_cost_fen + (self.labour_cost_fen or 0)

    def form_lines(self, extra: int = 0) -> list[MaterialLine]:
        """Returns the lines to show: those typed, plus ``extra`` blank ones (at
        least one line, never more than MAX_LINES)."""
        shown = self.materials + [MaterialLine() for _ in range(extra)]
        if not shown:
            shown = [MaterialLine() for _ in range(BLANK_LINES)]
        return shown[:MAX_LINES]


def _text(value: str | None) -> tuple[str, bool]:
    """Returns the stripped text without NUL characters, and whether it had any."""
    value = (value or "").strip()
    return value.replace("\x00", ""), "\x00" in value


def read_record(form: MultiDict) -> RepairRecord:
    """Returns the record typed in the form, every line kept as typed and each
    problem as a translated message in ``errors`` (empty when it can be stored)."""
    columns = {name: form.getlist(f"material_{name}") for name in FIELDS}
    count = max((len(values) for values in columns.values()), default=0)
    record = RepairRecord()
    control = set()
    for index in range(count):
        values = {}
        for name in FIELDS:
            typed = columns[name][index] if index < len(columns[name]) else ""
            values[name], had_nul = _text(typed)
            if had_nul:
                control.add(index)
        record.lines.append(MaterialLine(**values))
    record.hours, hours_nul = _text(form.get("labour_hours"))
    record.labour_cost, cost_nul = _text(form.get("labour_cost"))
    materials = record.materials
    if len(materials) > MAX_LINES:
        record.errors.append(MESSAGES["too_many"])
    numbered = (
        (index, line) for index, line in enumerate(record.lines) if not line.is_blank
    )
    for number, (index, line) in enumerate(numbered, start=1):
        record.errors.extend(
            MESSAGES[problem] % {"n": number}
            for problem in _check_line(line, index in control)
        )
    minutes = None
    hours = None if hours_nul else parse_decimal(record.hours, 2)
    if hours is not None:
        minutes = to_units(hours, 60)
    if minutes is None or not 0 < minutes <= MAX_LABOUR_MINUTES:
        record.errors.append(MESSAGES["hours"])
    else:
        record.labour_minutes = minutes
    cost = None if cost_nul else parse_decimal(record.labour_cost or "0", 2)
    fen = to_units(cost) if cost is not None else None
    if fen is None or fen > MAX_LABOUR_FEN:
        record.errors.append(MESSAGES["labour_cost"])
    else:
        record.labour_cost_fen = fen
    return record


def _check_line(line: MaterialLine, had_control: bool) -> list[str]:
    problems = []
    if had_control:
        problems.append("control")
    if not line.name:
        problems.append("name")
    elif len(line.name) > NAME_MAX:
        problems.append("name_long")
    if len(line.unit) > UNIT_MAX:
        problems.append("unit_long")
    quantity = parse_decimal(line.quantity, 2)
    hundredths = to_units(quantity) if quantity is not None else 0
    if 0 < hundredths <= MAX_QUANTITY_HUNDREDTHS:
        line.quantity_hundredths = hundredths
    else:
        problems.append("quantity")
    price = parse_decimal(line.price, 2)
    fen = to_units(price) if price is not None else None
    if fen is not None and fen <= MAX_PRICE_FEN:
        line.unit_price_fen = fen
    else:
        problems.append("price")
    return problems

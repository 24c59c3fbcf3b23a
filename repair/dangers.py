"""The dangers a resident can declare with one tap, and what each one implies."""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import lazy_gettext as _l


@dataclass(frozen=True)
class Danger:
    """One answer to "is anyone in danger now?": its category and its words."""

    slug: str
    #: The category a report takes when the resident chose none.
    category: str
    #: The resident's words in the reason the board shows ("居民报告：有人被困").
    words: str
    label: object
    #: The words in an English message to a contractor or an officer.
    words_en: str = ""


#: In the order the form shows them.
DANGERS: dict[str, Danger] = {
    danger.slug: danger
    for danger in (
        Danger(
            "trapped", "lift", "有人被困", _l("Someone is trapped"), "someone trapped"
        ),
        Danger("gas", "gas", "燃气味", _l("Gas smell"), "gas smell"),
        Danger(
            "electric",
            "electrical",
            "漏电/冒火花",
            _l("Live wires or sparks"),
            "live wires or sparks",
        ),
        Danger(
            "flood",
            "water",
            "大量漏水/水淹",
            _l("Heavy leak or flooding"),
            "heavy leak or flooding",
        ),
        Danger(
            "falling",
            "structure",
            "可能坠落/倒塌",
            _l("Something may fall or collapse"),
            "something may fall",
        ),
    )
}
#: The chip that says there is no danger.
NO_DANGER = "none"


def declared(slug: str | None) -> Danger | None:
    """Returns the danger a report declares, or None (none, unknown or empty)."""
    return DANGERS.get(slug or "")


def declared_problem(ticket, english: bool = False) -> str:
    """Returns a report's problem as a message to the people who act on it says
    it: the danger the resident declared first (it survives the message's cut),
    then their words. "居民报告有人被困：请快来"."""
    danger = declared(ticket.declared_danger)
    text = ticket.description or ""
    if danger is None:
        return text
    if english:
        return f"Resident reports {danger.words_en}: {text}"
    return f"居民报告{danger.words}：{text}"


def declared_reason(danger: Danger, category: str | None = None) -> str:
    """Returns the reason in the classifier's format: ``declared:lift:有人被困``
    (the report's category; the danger's own when none is given)."""
    return f"declared:{category or danger.category}:{danger.words}"


def likely_category(danger: Danger, entrance) -> str | None:
    """Returns the category a declared danger suggests at this place when the
    resident chose none: the text still decides where it says otherwise (a child
    caught in a slide, someone shut behind a fire door). Someone trapped is in a
    lift only where there can be one: not at a common area that lists none (a
    playground, a gate)."""
    if danger.category == "lift" and entrance is not None and entrance.is_common_area:
        return "lift" if entrance.lifts else None
    return danger.category


#: Words of a classifier reason that mean someone is shut in (urgent:lift:困人).
_TRAPPED_WORDS = (
    "困",
    "关人",
    "关在",
    "出不来",
    "出不去",
    "里面有人",
    "出唔到",
    "出唔嚟",
    "trapped",
    "stuck",
    "someone inside",
    "people inside",
    "kids inside",
)


def is_lift_entrapment(ticket) -> bool:
    """Returns whether a ticket is someone trapped in a lift: declared trapped and
    filed for the lift, or classified urgent for the lift because of words that
    say someone is shut in. Someone trapped elsewhere (a fire door, a playground)
    is not: the lift's numbers and advice would send help to the wrong place."""
    if ticket.category is None or ticket.category.slug != "lift":
        return False
    if ticket.declared_danger == "trapped":
        return True
    if ticket.urgency is None or ticket.urgency.value != "urgent":
        return False
    reasons = (ticket.classification or {}).get("reasons") or []
    return any(
        reason.startswith("urgent:lift:") and any(w in reason for w in _TRAPPED_WORDS)
        for reason in reasons
    )


#: Categories whose urgent words mean a danger to life now: the resident is shown
#: the numbers to call even without a chip ("闻到很浓的煤气味，头有点晕").
_LIFE_DANGERS = ("gas", "electrical", "fire")


def words_say_danger(ticket) -> str | None:
    """Returns the category (gas, electrical, fire) in which the classifier's rules
    found an urgent danger to life in the resident's own words, else None."""
    if ticket.urgency is None or ticket.urgency.value != "urgent":
        return None
    for reason in (ticket.classification or {}).get("reasons") or []:
        kind, _, rest = reason.partition(":")
        category = rest.partition(":")[0]
        if kind == "urgent" and category in _LIFE_DANGERS:
            return category
    return None


#: The danger chip that says what the classifier found in the words of a report
#: nobody declared a danger for (a phoned-in or written 困人, 煤气味, 冒火花).
_DANGER_FOR_CATEGORY = {"gas": "gas", "electrical": "electric"}


def danger_in_words(ticket) -> Danger | None:
    """Returns the danger the report's words say where none was declared: someone
    trapped in a lift, a smell of gas, live wires. The contractor's page and the
    board mark it as they mark a declared one (an outside tester's phoned-in lift
    entrapment had no 有人被困 banner)."""
    if declared(ticket.declared_danger) is not None:
        return None
    if is_lift_entrapment(ticket):
        return DANGERS["trapped"]
    category = words_say_danger(ticket)
    return DANGERS.get(_DANGER_FOR_CATEGORY.get(category or "", ""))


@dataclass(frozen=True)
class Number:
    """A number to call now, with what it is."""

    label: object
    phone: str
    #: whose line it is: "national" (119/110/120), "lift", "gas" or "service";
    #: the report form shows only those that help with the danger chosen
    kind: str = "national"

    @property
    def dial(self) -> str:
        """Returns the number as a tel: link wants it (no spaces or dashes)."""
        return "".join(ch for ch in self.phone if ch.isdigit() or ch == "+")


def lift_numbers(community, lifts=()) -> list[Number]:
    """Returns the lifts' maintenance companies' lines and the lift emergency line
    (96333), those that are set."""
    found = [
        Number(
            _l("%(lift)s: maintenance company", lift=lift.label()),
            lift.emergency_phone,
            "lift",
        )
        for lift in lifts
        if lift.emergency_phone
    ]
    if community.lift_emergency_phone:
        found.append(
            Number(_l("Lift emergency line"), community.lift_emergency_phone, "lift")
        )
    return found


def emergency_numbers(
    community,
    lifts=(),
    lifts_first: bool = False,
    gas_first: bool = False,
    with_lifts: bool = True,
    service_first: bool = False,
) -> list[Number]:
    """Returns the numbers to call now: 119/110/120, the lift line and the lifts'
    maintenance companies (unless ``with_lifts`` is False), the gas company, the
    community's service line; the lift lines first for someone trapped in a
    lift, the gas company's for a smell of gas, the community's (the property
    office, who can shut the water off) for a flood."""
    national = [
        Number(_l("Fire"), community.fire_phone or "119"),
        Number(_l("Police"), community.police_phone or "110"),
        Number(_l("Ambulance"), community.ambulance_phone or "120"),
    ]
    lift_lines = lift_numbers(community, lifts) if with_lifts else []
    gas = []
    if community.gas_emergency_phone:
        gas.append(
            Number(
                _l("Gas company emergency line"), community.gas_emergency_phone, "gas"
            )
        )
    service = []
    if community.service_phone:
        service.append(
            Number(_l("Community service line"), community.service_phone, "service")
        )
    if lifts_first:  # someone trapped in a lift: the gas company cannot help
        return [*lift_lines, *national, *service]
    if gas_first:  # nor a lift's line for a smell of gas
        return [*gas, *national, *service]
    if service_first:
        return [*service, *national, *lift_lines, *gas]
    return [*national, *lift_lines, *gas, *service]

"""Residents' personal information (PIPL): masking, reveals, retention, requests."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from typing import Any

import click
import phonenumbers
import sqlalchemy as sa
from flask import Flask, current_app
from flask.cli import with_appcontext

from repair import lifecycle, signals
from repair.db import db, utcnow
from repair.models import (
    ActorType,
    Rating,
    Ticket,
    TicketEvent,
    TicketFollower,
    TicketPause,
)

#: Outbox recipients whose number is a resident's, not staff's or a contractor's.
RESIDENT_RECIPIENTS = ("resident", "follower")
REVEALED = "personal_data_revealed"
ERASED = "personal_data_erased"
MASK = "****"
#: What an erased number or name becomes in the free texts that quoted it.
REMOVED = "[已删除]"
#: Every way a digit is written: Arabic, full-width, Chinese, financial numerals.
_NUMERALS = {
    "0": "0０零〇",
    "1": "1１一幺壹",
    "2": "2２二两贰貳",
    "3": "3３三叁參",
    "4": "4４四肆",
    "5": "5５五伍",
    "6": "6６六陆陸",
    "7": "7７七柒",
    "8": "8８八捌",
    "9": "9９九玖",
}
_ANY_NUMERAL = "[" + "".join(_NUMERALS.values()) + "]"
#: What may stand between a written number's numerals (spaces, - — / _ ， …).
_GAP = r"(?:[^\w]|_){0,3}"
#: A name this short (one character) is not looked for in free text: it would
#: blank every word that starts with the same family name.
SHORTEST_NAME = 2


def mask_phone(phone: str | None) -> str:
    """Returns 138****1234 for +8613800001234: the first three and last four digits.

    A number from abroad keeps its country code in sight: +1 415****0134, not
    141****0134, which reads as a Chinese mobile (outside tester)."""
    if not phone:
        return ""
    digits = re.sub(r"\D", "", phone)
    if phone.startswith("+86") and len(digits) == 13:
        digits = digits[2:]
    elif phone.startswith("+"):
        try:
            parsed = phonenumbers.parse(phone, None)
        except phonenumbers.NumberParseException:
            parsed = None
        national = str(parsed.national_number) if parsed else ""
        if parsed and parsed.country_code != 86 and len(national) >= 8:
            return f"+{parsed.country_code} {national[:3]}{MASK}{national[-4:]}"
    if len(digits) < 8:
        return MASK
    return f"{digits[:3]}{MASK}{digits[-4:]}"


def mask_name(name: str | None) -> str:
    """Returns the family name followed by asterisks (张*, Smith → S****)."""
    if not name:
        return ""
    name = name.strip()
    return name[0] + "*" * max(1, min(len(name) - 1, 4))


def phone_forms(phone: str) -> set[str]:
    """Returns the ways a stored or written number may appear (+86…, 138…)."""
    forms = {phone}
    if phone.startswith("+86"):
        forms.add(phone[3:])
    return {form for form in forms if form}


def phone_pattern(phones: set[str]) -> re.Pattern | None:
    """Returns a pattern finding the numbers in free text however they are
    written: with any separators, with or without +86, in full-width, Chinese
    or financial numerals (138-1234-5678, +86 138…, 一三八一二三四…), or cut
    short after seven numerals at least; None when there is no number (of 7
    digits or more) to find."""
    alternatives = []
    for phone in phones:
        digits = re.sub(r"[^0-9]", "", phone)
        if phone.startswith("+86") and len(digits) > 2:
            digits = digits[2:]
        if len(digits) < 7:
            continue
        classes = [f"[{_NUMERALS[d]}]" for d in digits]
        country = f"(?:[+＋]?{_GAP}[{_NUMERALS['8']}]{_GAP}[{_NUMERALS['6']}]{_GAP})?"
        alternatives.append(country + _GAP.join(classes))
        # A copy cut short (an SMS summary's "一三九一二三四…") is found by its
        # first seven numerals or more, when no numeral follows them.
        rest = ""
        for numeral in reversed(classes[7:-1]):
            rest = f"(?:{_GAP}{numeral}{rest})?"
        cut = _GAP.join(classes[:7]) + rest + f"(?!{_GAP}{_ANY_NUMERAL})"
        alternatives.append(country + cut)
    if not alternatives:
        return None
    return re.compile("|".join(alternatives))


def remove_personal(
    text: str | None, pattern: re.Pattern | None, names: set[str]
) -> str | None:
    """Returns ``text`` with the numbers ``pattern`` finds and the ``names``
    replaced by REMOVED."""
    if not text:
        return text
    if pattern is not None:
        text = pattern.sub(REMOVED, text)
    for name in sorted(names, key=len, reverse=True):
        text = text.replace(name, REMOVED)
    return text


def reveal(ticket: Ticket, actor: lifecycle.Actor, now: datetime | None = None):
    """Records that an officer was shown the resident's full number and name."""
    return lifecycle.record_event(
        ticket,
        REVEALED,
        actor,
        now,
        data={"fields": [f for f in ("phone", "name") if _has(ticket, f)]},
    )


def _has(ticket: Ticket, field: str) -> bool:
    return bool(getattr(ticket, f"reporter_{field}"))


def erase_ticket(
    ticket: Ticket, now: datetime, reason: str, phone: str | None = None
) -> bool:
    """Erases the residents' numbers and names of one ticket (or only `phone`'s),
    and with the whole ticket's the contractor's arrival location; returns False
    when nothing was left to erase. Statistics stay as they were.

    The erased numbers (in any writing) and the reporter's name also leave every
    free text of the ticket that may quote them (``scrub_free_texts``); the
    erasure event lists which kinds of fields changed, never what they said."""
    phones: set[str] = set()
    erased_reporter = False
    name = (ticket.reporter_name or "").strip()
    # The contractor's location on arrival (given with consent) goes with the rest.
    erased_location = phone is None and (
        ticket.arrival_latitude is not None or ticket.arrival_longitude is not None
    )
    if erased_location:
        ticket.arrival_latitude = ticket.arrival_longitude = None
    if phone is None or ticket.reporter_phone == phone:
        if ticket.reporter_phone or ticket.reporter_name:
            erased_reporter = True
        if ticket.reporter_phone:
            phones.add(ticket.reporter_phone)
        ticket.reporter_phone = None
        ticket.reporter_name = None
    for follower in ticket.followers:
        if follower.phone and (phone is None or follower.phone == phone):
            phones.add(follower.phone)
            follower.phone = None
    if not (phones or erased_reporter or erased_location):
        return False
    forget_names = phone is None or erased_reporter
    names = {name} if forget_names and len(name) >= SHORTEST_NAME else set()
    pattern = phone_pattern(phones)
    scrubbed = scrub_free_texts(ticket, pattern, names)
    # Other packages' copies (the SMS outbox, follow-up calls) are scrubbed by
    # their receivers, which return the kinds of fields they changed.
    for _receiver, kinds in signals.personal_data_erased.send(
        ticket, ticket=ticket, phones=phones, pattern=pattern, names=names
    ):
        scrubbed |= set(kinds or ())
    scrubbed |= _scrub_events(ticket, phones, pattern, names, forget_names)
    lifecycle.record_event(
        ticket,
        ERASED,
        lifecycle.Actor.system(),
        now,
        data={"reason": reason, "numbers": len(phones), "scrubbed": sorted(scrubbed)}
        | ({"arrival_location": True} if erased_location else {}),
    )
    return True


def scrub_free_texts(
    ticket: Ticket, pattern: re.Pattern | None, names: set[str]
) -> set[str]:
    """Removes the numbers and names from the ticket's free texts; returns the
    kinds of fields that changed.

    All of them, whoever wrote them: the resident's own words (the description,
    the spot, the rating's comment) and the staff's (the contractor's completion
    note and pause reasons, the officer's decisions on pauses), since a staff
    note that quotes the resident's number or name is still the resident's
    data. Staff's own names (actor and signature fields) are not free text and
    stay. Event notes and data are ``_scrub_events``'."""
    scrubbed: set[str] = set()
    if pattern is None and not names:
        return scrubbed

    def scrub(owner: Any, field: str, kind: str, limit: int | None = None) -> None:
        before = getattr(owner, field)
        after = remove_personal(before, pattern, names)
        if after != before:
            setattr(owner, field, after[:limit] if limit else after)
            scrubbed.add(kind)

    scrub(ticket, "description", "description")
    scrub(ticket, "spot", "spot", Ticket.spot.type.length)
    scrub(ticket, "completion_note", "completion_note")
    rating = db.session.get(Rating, ticket.id)
    if rating is not None:
        scrub(rating, "comment", "rating_comment")
    for pause in db.session.scalars(
        sa.select(TicketPause).where(TicketPause.ticket_id == ticket.id)
    ):
        scrub(pause, "reason", "pause_notes", TicketPause.reason.type.length)
        scrub(
            pause,
            "decision_note",
            "pause_notes",
            TicketPause.decision_note.type.length,
        )
    return scrubbed


def _scrub_events(
    ticket: Ticket,
    phones: set[str],
    pattern: re.Pattern | None,
    names: set[str],
    forget_names: bool,
) -> set[str]:
    forms = set().union(*(phone_forms(p) for p in phones)) if phones else set()
    scrubbed: set[str] = set()
    events = db.session.scalars(
        sa.select(TicketEvent).where(TicketEvent.ticket_id == ticket.id)
    ).all()
    for event in events:
        if forget_names and event.actor_type is ActorType.RESIDENT:
            event.actor_name = None
        if event.note:
            note = scrub_text(remove_personal(event.note, pattern, names), forms)
            if note != event.note:
                event.note = note
                scrubbed.add("event_notes")
        if event.data:
            data = _scrub_value(event.data, forms, pattern, names)
            if forget_names and data.get("recipient_type") in RESIDENT_RECIPIENTS:
                # A failed SMS to a resident named them (sms_failed).
                data["recipient_name"] = None
            if data != event.data:
                event.data = data
                scrubbed.add("event_data")
    return scrubbed


def scrub_text(text: str, forms: set[str]) -> str:
    for form in sorted(forms, key=len, reverse=True):
        if form in text:
            text = text.replace(form, mask_phone(form))
    return text


def _scrub_value(
    value: Any, forms: set[str], pattern: re.Pattern | None, names: set[str]
) -> Any:
    if isinstance(value, str):
        return remove_personal(scrub_text(value, forms), pattern, names)
    if isinstance(value, dict):
        return {k: _scrub_value(v, forms, pattern, names) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub_value(v, forms, pattern, names) for v in value]
    return value


def retention_limit() -> timedelta:
    """Returns how long after a ticket closes its residents' data is kept."""
    return timedelta(days=int(current_app.config["PERSONAL_DATA_DAYS"]))


def erase_expired(now: datetime | None = None) -> int:
    """Erases residents' numbers and names of tickets closed longer than the limit;
    returns how many tickets it erased. Safe to run again and again."""
    now = now or utcnow()
    cutoff = now - retention_limit()
    followers = sa.select(TicketFollower.ticket_id).where(
        TicketFollower.phone.is_not(None)
    )
    tickets = db.session.scalars(
        sa.select(Ticket)
        .where(
            Ticket.closed_at.is_not(None),
            Ticket.closed_at <= cutoff,
            sa.or_(
                Ticket.reporter_phone.is_not(None),
                Ticket.reporter_name.is_not(None),
                Ticket.id.in_(followers),
                Ticket.arrival_latitude.is_not(None),
            ),
        )
        .order_by(Ticket.id)
    ).all()
    erased = {t.id for t in tickets if erase_ticket(t, now, "retention")}
    # Other packages' own copies (the hotline's caller data) have the same limit.
    for _receiver, ids in signals.personal_data_expired.send(
        now, now=now, cutoff=cutoff
    ):
        erased |= set(ids or ())
    db.session.commit()
    return len(erased)


def resident_tickets(phone: str) -> list[Ticket]:
    """Returns the tickets a number reported or followed, oldest first."""
    followed = sa.select(TicketFollower.ticket_id).where(TicketFollower.phone == phone)
    return list(
        db.session.scalars(
            sa.select(Ticket)
            .where(sa.or_(Ticket.reporter_phone == phone, Ticket.id.in_(followed)))
            .order_by(Ticket.id)
        )
    )


def export_resident(phone: str) -> dict[str, Any]:
    """Returns everything kept about a number (PIPL Art. 45), as plain data."""
    tickets = []
    for ticket in resident_tickets(phone):
        tickets.append(
            {
                "number": ticket.number,
                "role": "reporter" if ticket.reporter_phone == phone else "follower",
                "name": ticket.reporter_name
                if ticket.reporter_phone == phone
                else None,
                "description": ticket.description,
                "spot": ticket.spot,
                "status": ticket.status.value,
                "reported_at": ticket.created_at.isoformat(),
                "closed_at": ticket.closed_at.isoformat() if ticket.closed_at else None,
            }
        )
    export = {"phone": phone, "tickets": tickets}
    # Other packages add what they keep about the number (the SMS outbox).
    for _receiver, part in signals.personal_data_exported.send(phone, phone=phone):
        export.update(part or {})
    return export


def erase_resident(phone: str, now: datetime | None = None) -> int:
    """Erases a number and its name from every ticket (PIPL Art. 47); returns how
    many tickets changed."""
    now = now or utcnow()
    erased = {
        ticket.id
        for ticket in resident_tickets(phone)
        if erase_ticket(ticket, now, "request", phone=phone)
    }
    # Other packages keep the number apart from tickets (a hotline's caller).
    for _receiver, ids in signals.personal_data_erase_requested.send(
        phone, phone=phone, now=now
    ):
        erased |= set(ids or ())
    db.session.commit()
    return len(erased)


@click.group("residents")
def residents_command() -> None:
    """Answers a resident's request about their personal information."""


@residents_command.command("export")
@click.argument("phone")
@with_appcontext
def export_command(phone: str) -> None:
    """Prints, as JSON, everything kept about PHONE (PIPL Art. 45)."""
    click.echo(json.dumps(export_resident(_e164(phone)), ensure_ascii=False, indent=2))


@residents_command.command("erase")
@click.argument("phone")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@with_appcontext
def erase_command(phone: str, yes: bool) -> None:
    """Erases PHONE and the name given with it from every ticket (PIPL Art. 47)."""
    number = _e164(phone)
    if not yes:
        click.confirm(f"Erase {number} from every ticket?", abort=True)
    changed = erase_resident(number)
    click.echo(f"erased {number} from {changed} ticket(s)")


@residents_command.command("purge")
@with_appcontext
def purge_command() -> None:
    """Erases residents' data of tickets closed longer than PERSONAL_DATA_DAYS."""
    click.echo(f"erased personal data of {erase_expired()} ticket(s)")


def _e164(phone: str) -> str:
    from repair.phones import normalize

    number = normalize(phone)
    if not number:
        raise click.BadParameter(f"{phone!r} is not a phone number")
    return number


def init_app(app: Flask) -> None:
    """Adds the masking filters to the templates and the `residents` commands."""
    app.jinja_env.filters["mask_phone"] = mask_phone
    app.jinja_env.filters["mask_name"] = mask_name
    app.cli.add_command(residents_command)

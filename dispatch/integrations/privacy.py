"""Hotline callers' personal information (PIPL): the caller's name and number and
the raw pushed work order, erased a set time after the ticket closes or when the
caller asks, and listed in their export (Art. 19, 45, 47)."""

from __future__ import annotations

import json
from datetime import datetime

import sqlalchemy as sa
from flask import Flask

from dispatch.integrations.models import HotlineWorkOrder
from repair import lifecycle, signals
from repair.db import db
from repair.models import Ticket, TicketEvent
from repair.phones import normalize
from repair.privacy import (
    ERASED,
    mask_name,
    phone_forms,
    phone_pattern,
    remove_personal,
    scrub_text,
)

#: The mapping's [order] keys naming the caller's fields in a push (optional).
CALLER_KEYS = ("caller_name", "caller_phone")


def caller_fields(payload: dict) -> dict[str, str | None]:
    """Returns the caller's name and number (E.164) from a pushed work order, as
    the hotline's mapping names their fields; None where it names none."""
    from dispatch.integrations.hotline import mapping

    order = mapping().order
    values = {}
    for key in CALLER_KEYS:
        raw = payload.get(order[key]) if order.get(key) else None
        text = " ".join(str(raw).split()) if raw not in (None, "") else ""
        values[key] = text or None
    if values["caller_name"]:
        values["caller_name"] = values["caller_name"][:100]
    if values["caller_phone"]:
        values["caller_phone"] = normalize(values["caller_phone"])[:32]
    return values


def erase_order(order: HotlineWorkOrder, now: datetime, reason: str) -> None:
    """Erases the caller's name and number and the raw push of one work order, and
    the number wherever the order's ticket repeats it; records the erasure as an
    event of the ticket. Statistics read none of it."""
    pushed = caller_fields(order.payload) if order.payload else {}
    forms = set().union(
        *(
            phone_forms(phone)
            for phone in (order.caller_phone, pushed.get("caller_phone"))
            if phone
        )
    )
    names = {n for n in (order.caller_name, pushed.get("caller_name")) if n}
    # The number as written otherwise (139-…, 一三九…) goes altogether.
    pattern = phone_pattern(forms)

    def scrub(text: str) -> str:
        text = remove_personal(scrub_text(text, forms), pattern, set())
        for name in sorted(names, key=len, reverse=True):
            text = text.replace(name, mask_name(name))
        return text

    order.caller_name = None
    order.caller_phone = None
    order.payload = {}
    order.content = scrub(order.content)
    order.personal_data_erased_at = now
    ticket = order.ticket
    if ticket is None:
        return
    if forms or names:
        ticket.description = scrub(ticket.description or "")
        for event in db.session.scalars(
            sa.select(TicketEvent).where(TicketEvent.ticket_id == ticket.id)
        ):
            if event.note:
                event.note = scrub(event.note)
        _scrub_messages(ticket, scrub)
    if forms:
        signals.personal_data_erased.send(
            ticket, ticket=ticket, phones=forms, pattern=pattern
        )
    lifecycle.record_event(
        ticket,
        ERASED,
        lifecycle.Actor.system(),
        now,
        data={"reason": reason, "hotline_work_order": order.number},
    )


def _scrub_messages(ticket: Ticket, scrub) -> None:
    """Masks the caller in the texts sent about the ticket (its summary quotes them)."""
    from dispatch.models import OutboxMessage

    for message in db.session.scalars(
        sa.select(OutboxMessage).where(OutboxMessage.ticket_id == ticket.id)
    ):
        message.body = scrub(message.body)
        if message.variables:
            message.variables = {k: scrub(v) for k, v in message.variables.items()}


def erase_expired_orders(now: datetime, cutoff: datetime) -> set[int]:
    """Erases the callers' data of work orders whose ticket closed before cutoff;
    returns the ids of those tickets."""
    orders = db.session.scalars(
        sa.select(HotlineWorkOrder)
        .join(Ticket, Ticket.id == HotlineWorkOrder.ticket_id)
        .where(
            HotlineWorkOrder.personal_data_erased_at.is_(None),
            Ticket.closed_at.is_not(None),
            Ticket.closed_at <= cutoff,
        )
        .order_by(HotlineWorkOrder.id)
    ).all()
    for order in orders:
        erase_order(order, now, "retention")
    return {order.ticket_id for order in orders}


def orders_of(phone: str) -> list[HotlineWorkOrder]:
    """Returns the work orders not yet erased whose caller, raw push or text
    carries the number (orders from before the caller was kept apart too)."""
    forms = phone_forms(phone)
    orders = db.session.scalars(
        sa.select(HotlineWorkOrder)
        .where(HotlineWorkOrder.personal_data_erased_at.is_(None))
        .order_by(HotlineWorkOrder.id)
    ).all()
    return [
        order
        for order in orders
        if order.caller_phone == phone
        or any(
            form in json.dumps(order.payload or {}, ensure_ascii=False)
            or form in (order.content or "")
            for form in forms
        )
    ]


def erase_caller(phone: str, now: datetime) -> set[int]:
    """Erases a caller's data from every work order that carries their number;
    returns the ids of the tickets changed."""
    changed = set()
    for order in orders_of(phone):
        erase_order(order, now, "request")
        if order.ticket_id is not None:
            changed.add(order.ticket_id)
    return changed


def exported_orders(phone: str) -> dict:
    """Returns what the hotline bridge keeps about a number, for its export."""
    return {
        "hotline_work_orders": [
            {
                "hotline": order.system.name,
                "work_order": order.number,
                "received_at": order.received_at.isoformat(),
                "caller_name": order.caller_name,
                "caller_phone": order.caller_phone,
                "content": order.content,
                "place": order.place,
                "ticket": order.ticket.number if order.ticket else None,
                "payload": order.payload,
            }
            for order in orders_of(phone)
        ]
    }


def _on_expired(_sender, *, now, cutoff, **_) -> set[int]:
    return erase_expired_orders(now, cutoff)


def _on_erase_requested(_sender, *, phone, now, **_) -> set[int]:
    return erase_caller(phone, now)


def _on_exported(_sender, *, phone, **_) -> dict:
    return exported_orders(phone)


def init_app(app: Flask) -> None:
    """Subscribes the hotline bridge to repair's personal-data signals."""
    signals.personal_data_expired.connect(_on_expired, weak=False)
    signals.personal_data_erase_requested.connect(_on_erase_requested, weak=False)
    signals.personal_data_exported.connect(_on_exported, weak=False)

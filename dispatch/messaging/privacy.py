"""The SMS outbox's part in residents' personal information: scrubbed with the
ticket's erasure, listed in a resident's export (PIPL Art. 45, 47)."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Flask

from dispatch.models import OutboxMessage
from repair import signals
from repair.db import db
from repair.models import Ticket
from repair.privacy import (
    RESIDENT_RECIPIENTS,
    mask_phone,
    phone_forms,
    remove_personal,
    scrub_text,
)


def scrub_messages(
    ticket: Ticket, phones: set[str], pattern=None, names: set[str] = frozenset()
) -> set[str]:
    """Masks the numbers in a ticket's messages and blanks them in their texts,
    with the numbers in other writings and the names ``pattern`` and ``names``
    find (a summary quotes the description); returns {"messages"} if a text
    changed."""
    if not phones and not names:
        return set()
    forms = set().union(*(phone_forms(p) for p in phones)) if phones else set()

    def scrub(text: str) -> str:
        return remove_personal(scrub_text(text, forms), pattern, names)

    changed = False
    messages = db.session.scalars(
        sa.select(OutboxMessage).where(OutboxMessage.ticket_id == ticket.id)
    ).all()
    for message in messages:
        if message.to_phone in phones:
            message.to_phone = mask_phone(message.to_phone)
            # The key named the recipient by number; the row id keeps it unique.
            message.dedupe_key = scrub_text(message.dedupe_key, forms)
            message.dedupe_key = f"{message.dedupe_key[:100]}#{message.id}"
        body, variables = scrub(message.body), message.variables
        if variables:
            variables = {k: scrub(v) for k, v in variables.items()}
        changed |= body != message.body or variables != message.variables
        message.body, message.variables = body, variables
        if message.error_message:
            message.error_message = scrub(message.error_message)
    return {"messages"} if changed else set()


def exported_messages(phone: str) -> dict:
    """Returns the texts sent to a resident's number, for their export."""
    messages = db.session.scalars(
        sa.select(OutboxMessage)
        .where(
            OutboxMessage.to_phone == phone,
            OutboxMessage.recipient_type.in_(RESIDENT_RECIPIENTS),
        )
        .order_by(OutboxMessage.id)
    ).all()
    return {
        "messages": [
            {
                "at": m.created_at.isoformat(),
                "kind": m.template,
                "text": m.body,
                "status": m.status.value,
            }
            for m in messages
        ]
    }


def _on_erased(_sender, *, ticket, phones, pattern=None, names=(), **_) -> set[str]:
    return scrub_messages(ticket, phones, pattern, set(names))


def _on_exported(_sender, *, phone, **_) -> dict:
    return exported_messages(phone)


def init_app(app: Flask) -> None:
    """Subscribes the outbox to repair's personal-data signals (process-wide)."""
    signals.personal_data_erased.connect(_on_erased, weak=False)
    signals.personal_data_exported.connect(_on_exported, weak=False)

"""Who hears about what: SMS outbox rows written with the event that causes them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app, render_template
from jinja2 import TemplateNotFound

from dispatch.models import MessageStatus, OutboxMessage
from repair.db import db, utcnow
from repair.i18n import format_local, zone_name
from repair.models import (
    Contractor,
    Role,
    Ticket,
    TicketEvent,
    Urgency,
    User,
    user_community,
)

CLOCK_LABELS = {"triage": "类型确认", "contact": "接单", "on_site": "到场"}


@dataclass(frozen=True)
class Recipient:
    type: str  # contractor | officer | supervisor | resident
    id: int | None
    phone: str
    locale: str = "zh_CN"
    name: str | None = None


def on_event(ticket: Ticket, event: TicketEvent) -> list[OutboxMessage]:
    """Writes the outbox messages an event calls for; the caller's commit sends them."""
    from dispatch.messaging.outbox import queue_message

    messages = []
    wanted = [*_messages_for(ticket, event), *_resident_requests(ticket, event)]
    for recipient, template, context in wanted:
        message = _outbox_row(ticket, event, recipient, template, context)
        if message is not None:
            messages.append(message)
            queue_message(message)
    return messages


def _messages_for(ticket: Ticket, event: TicketEvent):
    data = event.data or {}
    action = event.action
    urgent = ticket.urgency is Urgency.URGENT
    if action == "classified" and urgent:
        for officer in staff(ticket, Role.OFFICER):
            yield officer, "officer_new_urgent", {}
    elif action == "dispatch" and data.get("assignment_id"):
        contractor = db.session.get(Contractor, data["contractor_id"])
        yield (
            _contractor(contractor),
            "dispatch",
            {"assignment_id": data["assignment_id"]},
        )
        moved_from = data.get("previous_contractor_id")
        if moved_from and moved_from != contractor.id:
            previous = db.session.get(Contractor, moved_from)
            yield _contractor(previous), "job_moved", {}
    elif action == "urgency_confirmed" and ticket.contractor is not None:
        if data.get("urgency") != (data.get("previous") or {}).get("urgency"):
            yield (
                _contractor(ticket.contractor),
                "urgency_changed",
                {"assignment_id": data.get("assignment_id")},
            )
    elif action == "accept":
        if ticket.reporter_phone:
            yield _resident(ticket), "resident_accepted", {}
        for follower in _followers(ticket):
            yield follower, "resident_accepted", {}
    elif action == "complete":
        if ticket.reporter_phone:
            yield _resident(ticket), "resident_completed", {"private": True}
        for follower in _followers(ticket):
            yield follower, "resident_completed", {}
    elif action == "follow_up" and ticket.reporter_phone:
        yield _resident(ticket), "resident_follow_up", {"private": True}
    elif action == "escalated":
        actions = data.get("actions", [])
        if "remind_contractor" in actions and ticket.contractor is not None:
            yield (
                _contractor(ticket.contractor),
                "reminder",
                {"assignment_id": data.get("assignment_id")},
            )
        context = {"clock_label": CLOCK_LABELS.get(data.get("clock"), "")}
        if "alert_officer" in actions:
            for officer in staff(ticket, Role.OFFICER):
                yield officer, "officer_breach", context
        if "alert_supervisor" in actions:
            for supervisor in staff(ticket, Role.SUPERVISOR):
                yield supervisor, "officer_breach", {**context, "supervisor": True}
    elif action == "sms_failed" and data.get("recipient_type") in (
        "contractor",
        "resident",
    ):
        for officer in staff(ticket, Role.OFFICER):
            yield (
                officer,
                "officer_sms_failed",
                {
                    "who": data.get("recipient_name") or "",
                    "phone": data.get("to_phone") or "",
                },
            )


# --- The resident's side: what the officer asks of the resident, the named lift ---


def _resident_requests(ticket: Ticket, event: TicketEvent):
    """The officer asks the resident for a photo: an SMS with their private link."""
    if event.action == "photo_requested" and ticket.reporter_phone:
        yield _resident(ticket), "resident_photo_request", {"private": True}


def place_with_lift(ticket: Ticket) -> str:
    """Returns the ticket's place as on the signs, with the lift the resident named
    (name and use certificate number), so the contractor goes to the right one."""
    place = ticket.entrance.label("zh_CN") if ticket.entrance else ""
    if ticket.lift is not None:
        place = f"{place} {ticket.lift.label()}".strip()
    return place


# ---


def staff(ticket: Ticket, role: Role) -> list[Recipient]:
    """Returns the community's active users of a role who have a phone number.

    Supervisors fall back to administrators when a community has none.
    """
    roles = [role] if role is not Role.SUPERVISOR else [Role.SUPERVISOR, Role.ADMIN]
    for wanted in roles:
        users = db.session.scalars(
            sa.select(User)
            .join(user_community, user_community.c.user_id == User.id)
            .where(
                user_community.c.community_id == ticket.community_id,
                User.role == wanted,
                User.is_active.is_(True),
                User.phone.is_not(None),
            )
            .order_by(User.id)
        ).all()
        if users:
            return [
                Recipient(u.role.value, u.id, u.phone, "zh_CN", u.display_name)
                for u in users
            ]
    return []


def _contractor(contractor: Contractor) -> Recipient:
    return Recipient(
        "contractor",
        contractor.id,
        contractor.phone,
        contractor.language,
        contractor.name,
    )


def _followers(ticket: Ticket) -> list[Recipient]:
    """Returns the residents who said "me too" and left a phone number."""
    return [
        Recipient("follower", f.id, f.phone, f.locale)
        for f in ticket.followers
        if f.phone and f.phone != ticket.reporter_phone
    ]


def _resident(ticket: Ticket) -> Recipient:
    return Recipient(
        "resident", None, ticket.reporter_phone, ticket.reporter_locale or "zh_CN"
    )


def queue_reply(
    recipient: Recipient,
    template: str,
    ticket: Ticket | None,
    dedupe_key: str,
    context: dict | None = None,
) -> OutboxMessage:
    """Writes an answer to an inbound SMS (not caused by an event) to the outbox."""
    from dispatch.messaging.outbox import queue_message

    now = utcnow()
    if ticket is not None:
        body = render_sms(template, recipient.locale, ticket, context or {})
    else:
        language = "en" if recipient.locale.startswith("en") else "zh_CN"
        body = render_template(f"sms/{language}/{template}.txt").strip()
    message = OutboxMessage(
        dedupe_key=dedupe_key[:120],
        ticket_id=ticket.id if ticket is not None else None,
        template=template,
        recipient_type=recipient.type,
        recipient_id=recipient.id,
        to_phone=recipient.phone,
        body=body,
        status=MessageStatus.PENDING,
        next_attempt_at=now,
        created_at=now,
        updated_at=now,
    )
    db.session.add(message)
    db.session.flush()
    queue_message(message)
    return message


def contractor_recipient(contractor: Contractor) -> Recipient:
    """Returns a contractor as the recipient of an SMS."""
    return _contractor(contractor)


def _outbox_row(
    ticket: Ticket,
    event: TicketEvent,
    recipient: Recipient,
    template: str,
    context: dict,
) -> OutboxMessage | None:
    key = f"{event.id}:{template}:{recipient.type}:{recipient.id or recipient.phone}"
    now = utcnow()
    urgent = ticket.urgency is Urgency.URGENT
    validity = _validity(urgent, template)
    message = OutboxMessage(
        dedupe_key=key[:120],
        ticket_id=ticket.id,
        event_id=event.id,
        template=template,
        recipient_type=recipient.type,
        recipient_id=recipient.id,
        to_phone=recipient.phone,
        body=render_sms(template, recipient.locale, ticket, context),
        urgent=urgent,
        status=MessageStatus.PENDING,
        next_attempt_at=now,
        valid_until=now + validity if validity else None,
        created_at=now,
        updated_at=now,
    )
    db.session.add(message)
    db.session.flush()
    return message


def _validity(urgent: bool, template: str) -> timedelta | None:
    # An urgent job offer is worthless once the contact deadline has passed.
    if urgent and template in ("dispatch", "reminder", "officer_new_urgent"):
        return current_app.config["SLA_URGENT_CONTACT"]
    return None


def render_sms(template: str, locale: str, ticket: Ticket, context: dict) -> str:
    """Renders an SMS template in the recipient's language (Chinese as fallback)."""
    from dispatch.contractor.tokens import job_url

    public = current_app.config["PUBLIC_URL"]
    tz = zone_name(ticket.community)
    values = {
        "number": ticket.number,
        # The Chinese label is the shortest and matches the signs on site.
        "place": place_with_lift(ticket),
        "spot": ticket.spot,
        "description": ticket.description,
        "urgent": ticket.urgency is Urgency.URGENT,
        "contact_due": _short_time(ticket.contact_due_at, tz),
        "on_site_due": _short_time(ticket.on_site_due_at, tz),
        "contractor": ticket.contractor.name if ticket.contractor else "",
        "link": f"{public}/t/{ticket.number}",
    }
    if context.get("assignment_id"):
        values["link"] = job_url(context["assignment_id"])
    if context.get("private"):
        values["link"] = f"{public}/t/{ticket.number}?k={ticket.resident_key}"
    values.update({k: v for k, v in context.items() if k not in ("assignment_id",)})
    language = "en" if locale.startswith("en") else "zh_CN"
    try:
        return render_template(f"sms/{language}/{template}.txt", **values).strip()
    except TemplateNotFound:
        return render_template(f"sms/zh_CN/{template}.txt", **values).strip()


def _short_time(value: datetime | None, tz: str) -> str:
    # Deadlines within the day read as HH:MM; further ones carry the date.
    if value is None:
        return ""
    text = format_local(value, tz)
    today = format_local(utcnow(), tz)[:10]
    return text[11:] if text[:10] == today else text[5:]

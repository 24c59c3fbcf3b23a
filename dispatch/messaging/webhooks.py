"""Twilio's webhooks: contractors' SMS replies and delivery status reports."""

from __future__ import annotations

import logging
from datetime import datetime
from functools import wraps

import phonenumbers
import sqlalchemy as sa
from flask import Blueprint, Flask, abort, current_app, request
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

from dispatch.assignment import work
from dispatch.messaging.delivery import message_failed
from dispatch.messaging.notify import contractor_recipient, queue_reply
from dispatch.models import Assignment, InboundSms, OutboxMessage, SmsOptOut
from repair.db import db, utcnow
from repair.models import Channel, Contractor, TicketEvent, TicketStatus
from repair.security import bounded_int, csrf

log = logging.getLogger(__name__)

bp = Blueprint("webhooks", __name__, url_prefix="/sms")

ACCEPT_WORDS = frozenset({"1", "接", "接单", "ACCEPT"})
DECLINE_WORDS = frozenset({"2", "拒", "拒单", "DECLINE"})
#: Twilio's own opt-out and opt-in keywords, plus the common Chinese ones.
STOP_WORDS = frozenset(
    {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "退订", "TD"}
)
START_WORDS = frozenset({"START", "UNSTOP", "YES"})
HELP_WORDS = frozenset({"HELP", "INFO", "帮助", "?", "？"})
JOB_TEMPLATES = ("dispatch", "reminder", "urgency_changed")
#: Delivery statuses in the order they happen; a late report never goes backwards.
STATUS_RANK = {
    "accepted": 0,
    "queued": 1,
    "sending": 2,
    "sent": 3,
    "delivered": 4,
    "undelivered": 4,
    "failed": 4,
    "read": 5,
}


def signed_by_twilio(view):
    """Rejects (403) a request whose X-Twilio-Signature does not match."""

    @wraps(view)
    def checked(*args, **kwargs):
        token = current_app.config["TWILIO_AUTH_TOKEN"]
        signature = request.headers.get("X-Twilio-Signature", "")
        if not token or not signature:
            abort(403)
        # Twilio signed the public URL it called, not whatever a proxy forwarded.
        url = current_app.config["PUBLIC_URL"] + request.full_path.rstrip("?")
        if not RequestValidator(token).validate(url, request.form, signature):
            log.warning("rejected a webhook with a bad signature for %s", url)
            abort(403)
        return view(*args, **kwargs)

    return checked


@bp.post("/inbound")
@signed_by_twilio
def inbound():
    """Handles a contractor's reply: accept or decline the latest job, STOP/START."""
    sid = request.form.get("MessageSid", "")
    sender = _normalize(request.form.get("From", ""))
    body = request.form.get("Body", "").strip()
    if not sid or not sender:
        abort(400)
    if db.session.scalar(sa.select(InboundSms.id).where(InboundSms.provider_id == sid)):
        return _twiml()  # Twilio retried a webhook we already handled
    outcome, ticket_id = handle_reply(sid, sender, body, utcnow())
    db.session.add(
        InboundSms(
            provider_id=sid,
            from_phone=sender,
            body=body[:1600],
            outcome=outcome,
            ticket_id=ticket_id,
        )
    )
    db.session.commit()
    return _twiml()


def handle_reply(
    sid: str, sender: str, body: str, now: datetime
) -> tuple[str, int | None]:
    """Acts on one inbound text; returns what happened and the ticket it concerned."""
    word = body.upper().rstrip("。.!！ ")
    if word in STOP_WORDS:
        if db.session.get(SmsOptOut, sender) is None:
            db.session.add(SmsOptOut(phone=sender, opted_out_at=now))
        return "opted_out", None
    if word in START_WORDS:
        opt_out = db.session.get(SmsOptOut, sender)
        if opt_out is not None:
            db.session.delete(opt_out)
        return "opted_in", None
    contractor = db.session.scalar(
        sa.select(Contractor).where(Contractor.phone == sender)
    )
    if contractor is None:
        return "unknown_sender", None
    recipient = contractor_recipient(contractor)
    key = f"reply:{sid}"
    if word not in ACCEPT_WORDS | DECLINE_WORDS:
        queue_reply(recipient, "reply_help", None, key)
        return "help", None
    assignment = latest_job(sender)
    if assignment is None:
        queue_reply(recipient, "reply_no_job", None, key)
        return "no_job", None
    ticket = assignment.ticket
    context = {"assignment_id": assignment.id}
    if word in ACCEPT_WORDS:
        if work.accept(assignment, Channel.SMS, now):
            queue_reply(recipient, "reply_accepted", ticket, key, context)
            return "accepted", ticket.id
        queue_reply(recipient, "reply_already", ticket, key, context)
        return "already", ticket.id
    if work.decline(assignment, Channel.SMS, "SMS", now):
        queue_reply(recipient, "reply_declined", ticket, key)
        return "declined", ticket.id
    queue_reply(recipient, "reply_already", ticket, key, context)
    return "already", ticket.id


def latest_job(phone: str) -> Assignment | None:
    """Returns the assignment of the newest job offer texted to this number, if it is
    still that contractor's to answer."""
    event_id = db.session.scalar(
        sa.select(OutboxMessage.event_id)
        .where(
            OutboxMessage.to_phone == phone,
            OutboxMessage.template.in_(JOB_TEMPLATES),
            OutboxMessage.event_id.is_not(None),
        )
        .order_by(OutboxMessage.id.desc())
        .limit(1)
    )
    event = db.session.get(TicketEvent, event_id) if event_id else None
    assignment_id = (event.data or {}).get("assignment_id") if event else None
    assignment = db.session.get(Assignment, assignment_id) if assignment_id else None
    if assignment is None or not assignment.is_current:
        return None
    if assignment.ticket.status not in (TicketStatus.DISPATCHED, TicketStatus.ACCEPTED):
        return None
    return assignment


@bp.post("/status")
@signed_by_twilio
def status():
    """Records a delivery report; an undeliverable job offer goes to the backup."""
    sid = request.form.get("MessageSid", "")
    reported = request.form.get("MessageStatus", "").lower()
    message = db.session.scalar(
        sa.select(OutboxMessage).where(OutboxMessage.provider_id == sid)
    )
    if message is None or reported not in STATUS_RANK:
        return "", 204
    current = STATUS_RANK.get(message.provider_status or "", -1)
    if STATUS_RANK[reported] <= current:
        return "", 204  # a repeated or late report changes nothing
    now = utcnow()
    message.provider_status = reported
    message.updated_at = now
    if reported == "delivered":
        message.status = "delivered"
    elif reported in ("undelivered", "failed"):
        message.status = reported
        code = request.form.get("ErrorCode")
        message.error_code = bounded_int(code)
        message.error_message = f"{reported} (Twilio error {(code or 'unknown')[:16]})"
        message_failed(message, now)
    db.session.commit()
    return "", 204


def _normalize(phone: str) -> str:
    try:
        number = phonenumbers.parse(phone, "CN")
    except phonenumbers.NumberParseException:
        return phone
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _twiml():
    # We answer through the outbox (recorded, retried), so the TwiML stays empty.
    return str(MessagingResponse()), 200, {"Content-Type": "text/xml"}


def init_app(app: Flask) -> None:
    """Registers the webhooks; Twilio's signature replaces the CSRF token."""
    csrf.exempt(bp)
    app.register_blueprint(bp)

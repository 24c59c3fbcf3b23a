"""Alibaba Cloud's and Tencent Cloud's push callbacks: delivery reports and replies.

The providers do not sign these pushes: the callback address carries a secret
(`?token=`, REPAIRDESK_SMS_CALLBACK_TOKEN), compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from functools import wraps

import sqlalchemy as sa
from flask import Blueprint, Flask, abort, current_app, jsonify, request

from dispatch.messaging.outbox import (
    UNKNOWN,
    message_by_reference,
    record_delivery_report,
)
from dispatch.messaging.webhooks import handle_reply
from dispatch.models import InboundSms, MessageStatus, OutboxMessage
from repair.db import db, utcnow
from repair.phones import normalize
from repair.security import csrf

log = logging.getLogger(__name__)

bp = Blueprint("sms_callbacks", __name__, url_prefix="/sms")

PROVIDERS = ("aliyun", "tencent")
#: What each provider expects back once a push is handled.
ACKNOWLEDGEMENTS = {
    "aliyun": {"code": 0, "msg": "成功"},
    "tencent": {"result": 0, "errmsg": "OK"},
}


def token_required(view):
    """Rejects (403) a push whose ?token= is missing or wrong; 404 for a provider
    we do not know."""

    @wraps(view)
    def checked(provider: str):
        if provider not in PROVIDERS:
            abort(404)
        expected = current_app.config.get("SMS_CALLBACK_TOKEN") or ""
        given = request.args.get("token", "")
        if not expected or not hmac.compare_digest(
            given.encode("utf-8"), expected.encode("utf-8")
        ):
            log.warning("rejected an SMS callback for %s: wrong token", provider)
            abort(403)
        return view(provider)

    return checked


def _items() -> list[dict]:
    # Alibaba Cloud pushes a JSON array; Tencent Cloud an array (reports) or one
    # object (replies).
    data = request.get_json(silent=True)
    if isinstance(data, dict):
        return [data]
    if isinstance(data, list):
        return [item for item in data if isinstance(item, dict)]
    abort(400)


@bp.post("/<provider>/status")
@token_required
def status(provider: str):
    """Records delivery reports; a failed job offer goes to the backup."""
    now = utcnow()
    changed = False
    for item in _items():
        provider_id, reported, code = delivery_report(provider, item)
        if not provider_id:
            continue
        message = db.session.scalar(
            sa.select(OutboxMessage).where(OutboxMessage.provider_id == provider_id)
        )
        if message is None:
            message = _by_reference(provider, item, provider_id, now)
        if message is not None and record_delivery_report(
            message, reported, code, now, provider=provider
        ):
            changed = True
    if changed:
        db.session.commit()
    return jsonify(ACKNOWLEDGEMENTS[provider])


#: Where each provider's report carries our reference (OutId, SessionContext).
REFERENCE_FIELDS = {"aliyun": "out_id", "tencent": "ext"}


def _by_reference(provider: str, item: dict, provider_id: str, now):
    """Returns the message a report names by our reference when its provider id is
    not ours yet: a send that timed out, which the report shows was taken."""
    message = message_by_reference(str(item.get(REFERENCE_FIELDS[provider]) or ""))
    if message is None:
        return None
    if message.status is MessageStatus.PENDING and message.provider_status == UNKNOWN:
        # Only a message waiting to ask about itself; one being sent is left alone.
        taken = db.session.execute(
            sa.update(OutboxMessage)
            .where(
                OutboxMessage.id == message.id,
                OutboxMessage.status == MessageStatus.PENDING,
                OutboxMessage.provider_status == UNKNOWN,
            )
            .values(
                status=MessageStatus.SENT,
                provider_status="accepted",
                provider_id=provider_id[:64],
                sent_at=now,
                updated_at=now,
            )
        )
        db.session.refresh(message)
        return message if taken.rowcount == 1 else None
    if message.status not in (MessageStatus.PENDING, MessageStatus.SENDING):
        message.provider_id = provider_id[:64]
        return message
    return None


def delivery_report(provider: str, item: dict) -> tuple[str, str, str | None]:
    """Returns (provider message id, delivered|undelivered, error code)."""
    if provider == "aliyun":
        success = item.get("success")
        delivered = success is True or str(success).lower() == "true"
        code = None if delivered else str(item.get("err_code") or "")
        return str(item.get("biz_id") or ""), _outcome(delivered), code
    delivered = str(item.get("report_status", "")).upper() == "SUCCESS"
    code = None if delivered else str(item.get("errmsg") or "")
    return str(item.get("sid") or ""), _outcome(delivered), code


def _outcome(delivered: bool) -> str:
    return "delivered" if delivered else "undelivered"


@bp.post("/<provider>/inbound")
@token_required
def inbound(provider: str):
    """Handles contractors' replies: the same actions as a reply through Twilio."""
    now = utcnow()
    for item in _items():
        reply = inbound_reply(provider, item)
        if reply is None:
            continue
        provider_id, sender, body = reply
        if db.session.scalar(
            sa.select(InboundSms.id).where(InboundSms.provider_id == provider_id)
        ):
            continue  # the provider pushed this reply again
        outcome, ticket_id = handle_reply(provider_id, sender, body, now)
        db.session.add(
            InboundSms(
                provider_id=provider_id,
                from_phone=sender,
                body=body[:1600],
                outcome=outcome,
                ticket_id=ticket_id,
            )
        )
        db.session.commit()
    return jsonify(ACKNOWLEDGEMENTS[provider])


def inbound_reply(provider: str, item: dict) -> tuple[str, str, str] | None:
    """Returns (a stable id for the reply, the sender in E.164, the text)."""
    if provider == "aliyun":
        phone = str(item.get("phone_number") or "")
        body = str(item.get("content") or "").strip()
        sequence = item.get("sequence_id")
        key = f"aliyun:{sequence}" if sequence not in (None, "") else None
        sent = str(item.get("send_time") or "")
    else:
        nation = str(item.get("nationcode") or "86")
        phone = f"+{nation}{item.get('mobile') or ''}" if item.get("mobile") else ""
        body = str(item.get("text") or "").strip()
        key = None
        sent = str(item.get("time") or "")
    sender = normalize(phone) if phone else ""
    if not sender:
        return None
    if key is None:
        # Tencent's replies carry no id: the sender, time and text name one.
        digest = hashlib.sha256(f"{sender}|{sent}|{body}".encode()).hexdigest()
        key = f"{provider}:{digest[:40]}"
    return key[:64], sender, body


def callback_urls(provider: str, public_url: str, token: str) -> dict[str, str]:
    """Returns the addresses to enter in the provider's console."""
    return {
        kind: f"{public_url}/sms/{provider}/{kind}?token={token}"
        for kind in ("status", "inbound")
    }


def init_app(app: Flask) -> None:
    """Registers the callbacks; the token in the address replaces the CSRF token."""
    csrf.exempt(bp)
    app.register_blueprint(bp)

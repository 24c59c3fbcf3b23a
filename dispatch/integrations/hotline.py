"""The 12345 hotline bridge: signed work-order pushes in, signed replies out
through an outbox (retried with back-off, never two for one event)."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from datetime import datetime, timedelta

import requests
import sqlalchemy as sa
from flask import Blueprint, Flask, current_app, jsonify, request
from sqlalchemy.exc import IntegrityError

from dispatch.integrations import media
from dispatch.integrations.mapping import BadWorkOrder, Mapping, load_mapping
from dispatch.integrations.models import HotlineReply, HotlineSystem, HotlineWorkOrder
from dispatch.integrations.places import match_place
from dispatch.worker.queues import enqueue_after_commit, job, schedule_after_commit
from repair import lifecycle, signals
from repair.db import db, utcnow
from repair.models import (
    ActorType,
    Channel,
    Entrance,
    Photo,
    Rating,
    Ticket,
    TicketEvent,
)

log = logging.getLogger(__name__)

bp = Blueprint("hotline", __name__, url_prefix="/integrations/hotline")

#: Our lifecycle events that answer the hotline, and the reply kind each makes.
REPLY_FOR_ACTION = {
    "accept": "accepted",
    "arrive": "on_site",
    "complete": "completed",
    "reject": "returned",
    "rated": "satisfaction",
}
BACKOFF = (
    timedelta(seconds=30),
    timedelta(minutes=2),
    timedelta(minutes=10),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=6),
)
MAX_ATTEMPTS = len(BACKOFF) + 1


def mapping() -> Mapping:
    """Returns the mapping named by REPAIRDESK_HOTLINE_MAPPING."""
    return load_mapping(current_app.config["HOTLINE_MAPPING"])


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """Returns hex HMAC-SHA256 of ``timestamp + "." + body`` with the secret."""
    message = timestamp.encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signed_headers(secret: str, body: bytes, now: float | None = None) -> dict:
    """Returns the headers that sign a body sent to or from a hotline."""
    timestamp = str(int(now if now is not None else time.time()))
    return {
        "Content-Type": "application/json; charset=utf-8",
        "X-Hotline-Timestamp": timestamp,
        "X-Hotline-Signature": sign(secret, timestamp, body),
    }


def _answer(code: int, message: str, status: int = 200, ticket: str | None = None):
    body = {"success": status == 200, "code": code, "message": message}
    if ticket is not None:
        body["ticket"] = ticket
    return jsonify(body), status


def authenticate(body: bytes, now: datetime) -> HotlineSystem | str:
    """Returns the system whose secret signed the body, or why none did."""
    timestamp = request.headers.get("X-Hotline-Timestamp", "")
    signature = request.headers.get("X-Hotline-Signature", "").lower()
    if not timestamp.isdigit() or not signature:
        return "signature"
    window = current_app.config["HOTLINE_REPLAY_WINDOW"].total_seconds()
    if abs(now.timestamp() - int(timestamp)) > window:
        return "stale"
    systems = db.session.scalars(
        sa.select(HotlineSystem).where(HotlineSystem.is_active.is_(True))
    )
    for system in systems:
        if hmac.compare_digest(sign(system.secret, timestamp, body), signature):
            return system
    return "signature"


@bp.post("/work-orders")
def receive_work_order():
    """Takes a pushed work order: one ticket per order number, however often."""
    codes = mapping().answer
    now = utcnow()
    body = request.get_data(cache=True)
    system = authenticate(body, now)
    if system == "stale":
        return _answer(codes["stale_timestamp_code"], "timestamp out of window", 401)
    if not isinstance(system, HotlineSystem):
        return _answer(codes["bad_signature_code"], "bad signature", 401)
    try:
        fields = mapping().parse_order(json.loads(body or b"null"))
    except (BadWorkOrder, ValueError) as error:
        return _answer(codes["bad_request_code"], str(error), 400)
    order = _find_order(system, fields.number)
    if order is None:
        order = _take_order(system, fields, json.loads(body), now)
    return _order_answer(order)


def _find_order(system: HotlineSystem, number: str) -> HotlineWorkOrder | None:
    return db.session.scalar(
        sa.select(HotlineWorkOrder).where(
            HotlineWorkOrder.system_id == system.id, HotlineWorkOrder.number == number
        )
    )


def _order_answer(order: HotlineWorkOrder):
    codes = mapping().answer
    if order.ticket is None:
        return _answer(codes["success_code"], "received; waiting to be located")
    return _answer(codes["success_code"], "received", ticket=order.ticket.number)


def _take_order(system, fields, payload: dict, now: datetime) -> HotlineWorkOrder:
    from dispatch.integrations.privacy import caller_fields

    scope = [c.id for c in system.communities] or None
    entrance, score = match_place(
        fields.place, scope, float(current_app.config["HOTLINE_MATCH_MIN_SCORE"])
    )
    order = HotlineWorkOrder(
        system=system,
        number=fields.number,
        content=fields.content,
        place=fields.place,
        dispatched_at=fields.dispatched_at,
        due_at=fields.due_at,
        attachments=fields.attachments,
        payload=payload,
        **caller_fields(payload),
        match_score=score,
        received_at=now,
    )
    db.session.add(order)
    try:
        db.session.flush()
        if entrance is not None:
            place_order(order, entrance, now)
        db.session.commit()
    except IntegrityError:
        # The same order pushed twice at once: the other request took it.
        db.session.rollback()
        return _find_order(system, fields.number)
    return order


def place_order(
    order: HotlineWorkOrder,
    entrance: Entrance,
    now: datetime | None = None,
    placed_by: lifecycle.Actor | None = None,
) -> Ticket:
    """Opens the order's ticket at the entrance through the lifecycle; the caller
    commits."""
    now = now or utcnow()
    report = lifecycle.Report(
        entrance=entrance,
        spot=order.place[:200],
        description=order.content,
        reporter_locale="zh_CN",
        hotline_due_at=order.due_at,
    )
    actor = lifecycle.Actor(ActorType.SYSTEM, Channel.HOTLINE, name=order.system.name)
    ticket = lifecycle.open_ticket(report, actor, now)
    order.ticket = ticket
    order.placed_at = now
    data = {"work_order": order.number, "hotline": order.system.name}
    if order.due_at is not None:
        data["hotline_due_at"] = order.due_at.isoformat()
    lifecycle.record_event(
        ticket,
        "hotline_order",
        placed_by or actor,
        now,
        note=order.number,
        data=data,
    )
    if order.attachments:
        media.queue_media(ticket, order.attachments)
    return ticket


def hotline_deadline(ticket: Ticket) -> datetime | None:
    """Returns the hotline's own deadline for the ticket (its clock), if any."""
    return ticket.hotline_due_at


# --- Replies -------------------------------------------------------------------


def _photo_urls(ticket_id: int, purpose: str) -> list[str]:
    base = current_app.config["PUBLIC_URL"]
    hashes = db.session.scalars(
        sa.select(Photo.sha256)
        .where(Photo.ticket_id == ticket_id, Photo.purpose == purpose)
        .order_by(Photo.id)
    )
    return [f"{base}/photos/{sha256}/display.jpg" for sha256 in hashes]


def _reply_content(kind: str, ticket: Ticket, event: TicketEvent) -> tuple[str, list]:
    if kind == "accepted":
        name = ticket.contractor.name if ticket.contractor else ""
        return f"已受理，维保单位{name}已接单。工单号 {ticket.number}", []
    if kind == "on_site":
        return "维修人员已到场处理。", []
    if kind == "completed":
        who = ticket.completed_by_name or ""
        note = ticket.completion_note or ""
        text = f"已完成维修。维修人员：{who}。{note}".strip()
        return text, _photo_urls(ticket.id, "completion")
    if kind == "returned":
        return f"退单：{event.note or ''}".strip(), []
    rating = db.session.get(Rating, ticket.id)
    stars = rating.stars if rating else (event.data or {}).get("stars")
    text = f"居民满意度：{stars}星"
    if rating and rating.comment:
        text += f"。{rating.comment}"
    return text, []


def on_event(ticket: Ticket, event: TicketEvent) -> HotlineReply | None:
    """Writes the reply an event owes the hotline, in the event's transaction."""
    kind = REPLY_FOR_ACTION.get(event.action)
    if kind is None:
        return None
    order = db.session.scalar(
        sa.select(HotlineWorkOrder).where(HotlineWorkOrder.ticket_id == ticket.id)
    )
    if order is None:
        return None
    content, attachments = _reply_content(kind, ticket, event)
    body = mapping().reply_body(order.number, kind, content, event.at, attachments)
    reply = HotlineReply(
        dedupe_key=f"{order.id}-{event.id}-{kind}",
        work_order=order,
        event_id=event.id,
        kind=kind,
        body=body,
        created_at=event.at,
        updated_at=event.at,
    )
    db.session.add(reply)
    db.session.flush()
    enqueue_after_commit(send_reply, reply.id, job_id=f"hotline-reply-{reply.id}-0")
    return reply


def _claim(reply_id: int, now: datetime) -> bool:
    claimed = db.session.execute(
        sa.update(HotlineReply)
        .where(
            HotlineReply.id == reply_id,
            HotlineReply.status == "pending",
            sa.or_(
                HotlineReply.next_attempt_at.is_(None),
                HotlineReply.next_attempt_at <= now,
            ),
        )
        .values(status="sending", attempts=HotlineReply.attempts + 1, updated_at=now)
    )
    db.session.commit()
    return claimed.rowcount == 1


@job
def send_reply(reply_id: int, now: datetime | None = None) -> str:
    """POSTs one reply, signed, if it is still due; returns its resulting status."""
    now = now or utcnow()
    if not _claim(reply_id, now):
        reply = db.session.get(HotlineReply, reply_id)
        return reply.status if reply else "missing"
    reply = db.session.get(HotlineReply, reply_id)
    system = reply.work_order.system
    body = json.dumps(reply.body, ensure_ascii=False).encode()
    try:
        response = requests.post(
            system.reply_url,
            data=body,
            headers=signed_headers(system.secret, body, now.timestamp()),
            timeout=current_app.config["HOTLINE_REPLY_TIMEOUT"].total_seconds(),
            allow_redirects=False,
        )
        answer = response.json() if response.status_code == 200 else None
    except (requests.RequestException, ValueError) as error:
        return _retry_later(reply, now, str(error))
    if not mapping().is_reply_accepted(answer):
        return _retry_later(reply, now, f"HTTP {response.status_code}: {answer!r}")
    reply.status, reply.sent_at, reply.updated_at = "sent", now, now
    reply.error_message = None
    db.session.commit()
    return "sent"


def _retry_later(reply: HotlineReply, now: datetime, error: str) -> str:
    reply.error_message = error[:1000]
    reply.updated_at = now
    if reply.attempts >= MAX_ATTEMPTS:
        reply.status = "failed"
        db.session.commit()
        log.warning("hotline reply %s failed for good: %s", reply.id, error)
        return "failed"
    reply.status = "pending"
    reply.next_attempt_at = now + BACKOFF[reply.attempts - 1]
    schedule_after_commit(
        reply.next_attempt_at,
        send_reply,
        reply.id,
        job_id=f"hotline-reply-{reply.id}-{reply.attempts}",
    )
    db.session.commit()
    log.info(
        "hotline reply %s failed (%s); retry at %s",
        reply.id,
        error,
        reply.next_attempt_at,
    )
    return "pending"


def due_replies(now: datetime) -> list[int]:
    """Returns ids of pending replies whose attempt is due (for a sweep)."""
    return list(
        db.session.scalars(
            sa.select(HotlineReply.id)
            .where(
                HotlineReply.status == "pending", HotlineReply.next_attempt_at <= now
            )
            .order_by(HotlineReply.id)
        )
    )


def _on_event_recorded(_sender, *, ticket, event, **_) -> None:
    on_event(ticket, event)


def init_app(app: Flask) -> None:
    """Registers the push endpoint (no CSRF: pushes are signed) and the replies."""
    from repair.security import csrf

    csrf.exempt(bp)
    app.register_blueprint(bp)
    signals.event_recorded.connect(_on_event_recorded, weak=False)
    app.jinja_env.globals["hotline_deadline"] = hotline_deadline

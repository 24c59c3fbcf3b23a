"""Sending the SMS outbox: at most once per message, retried while it can succeed."""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import Flask, current_app

from dispatch.messaging.backends import (
    AmbiguousSmsError,
    PermanentSmsError,
    SendResult,
    SmsBackend,
    SmsError,
    backend_from_settings,
)
from dispatch.models import MessageStatus, OutboxMessage, SmsOptOut
from dispatch.worker.queues import (
    enqueue_after_commit,
    enqueue_now,
    job,
    schedule_after_commit,
)
from repair.db import after_commit, db, object_id, utcnow
from repair.security import bounded_int

log = logging.getLogger(__name__)
M = MessageStatus

_KEY = "repairdesk.sms"
#: Twilio's code for a number that has opted out; used for our own record of STOP.
OPTED_OUT = 21610

#: Waits before the 2nd, 3rd … attempt after a transient failure.
BACKOFF = (
    timedelta(seconds=10),
    timedelta(seconds=30),
    timedelta(minutes=2),
    timedelta(minutes=5),
    timedelta(minutes=15),
)
MAX_ATTEMPTS = len(BACKOFF) + 1
#: A message left "sending" this long was interrupted mid-send (a worker killed, a
#: lost commit): the provider is asked whether it took it before any new attempt.
STUCK_AFTER = timedelta(minutes=2)
#: provider_status while we do not know whether the provider took the message.
UNKNOWN = "unknown"
#: How far before the row was written a copy at the provider may be ours.
FIND_MARGIN = timedelta(minutes=1)


def init_app(app: Flask) -> None:
    """Builds the SMS backend chosen by REPAIRDESK_SMS_BACKEND."""
    app.extensions[_KEY] = backend_from_settings(app.config)


def sms_backend() -> SmsBackend:
    """Returns the current app's SMS backend."""
    return current_app.extensions[_KEY]


def queue_message(message: OutboxMessage) -> None:
    """Queues the send job for an outbox row once the transaction commits; its id is
    read then, so the row need not be flushed before."""
    app = current_app._get_current_object()

    def enqueue() -> None:
        message_id = object_id(message)
        enqueue_now(app, send_message, message_id, job_id=f"sms-{message_id}-0")

    after_commit(enqueue)


def _claim(message_id: int, now: datetime) -> bool:
    claimed = db.session.execute(
        sa.update(OutboxMessage)
        .where(
            OutboxMessage.id == message_id,
            OutboxMessage.status == M.PENDING,
            sa.or_(
                OutboxMessage.next_attempt_at.is_(None),
                OutboxMessage.next_attempt_at <= now,
            ),
        )
        .values(
            status=M.SENDING,
            attempts=OutboxMessage.attempts + 1,
            updated_at=now,
        )
    )
    db.session.commit()
    return claimed.rowcount == 1


@job
def send_message(message_id: int, now: datetime | None = None) -> str:
    """Sends one outbox message if it is still due; returns its resulting status."""
    now = now or utcnow()
    if not _claim(message_id, now):
        message = db.session.get(OutboxMessage, message_id)
        return message.status if message else "missing"
    message = db.session.get(OutboxMessage, message_id)
    if message.valid_until is not None and now > message.valid_until:
        return _finish(message, M.EXPIRED, now, error="no longer valid when it was due")
    if db.session.get(SmsOptOut, message.to_phone) is not None:
        opted_out = PermanentSmsError("the recipient replied STOP", code=OPTED_OUT)
        return _fail(message, now, opted_out)
    if message.provider_status == UNKNOWN:
        # The last attempt may have reached the provider: never send it twice.
        try:
            found = _find_sent(message)
        except SmsError as error:
            return _retry_later(message, now, error)
        if found is not None:
            return _sent(message, found, now)
        message.provider_status = None
        if message.attempts > MAX_ATTEMPTS:
            return _fail(message, now, SmsError("the provider never took it"), True)
    from dispatch.messaging.notify import render_message

    # The row's kind and variables are the message: every backend gets them.
    message.body = render_message(message)
    validity = None
    if message.valid_until is not None:
        validity = max(60, int((message.valid_until - now).total_seconds()))
    try:
        result = sms_backend().send(
            message.to_phone,
            message.body,
            validity_seconds=validity,
            status_callback=status_callback_url(),
            kind=message.template,
            variables=message.variables or {},
            reference=message_reference(message),
        )
    except PermanentSmsError as error:
        return _fail(message, now, error)
    except AmbiguousSmsError as error:
        message.provider_status = UNKNOWN
        return _retry_later(message, now, error)
    except SmsError as error:
        return _retry_later(message, now, error)
    return _sent(message, result, now)


def _find_sent(message: OutboxMessage) -> SendResult | None:
    """Asks the provider whether it took this message (by our reference, which
    Alibaba Cloud keeps as OutId and Tencent Cloud as SessionContext, or by its
    text); None when it did not; raises SmsError when it cannot tell."""
    find_sent = getattr(sms_backend(), "find_sent", None)
    if find_sent is None:
        return None
    return find_sent(
        message.to_phone,
        message.body,
        message.created_at - FIND_MARGIN,
        reference=message_reference(message),
        kind=message.template,
        variables=message.variables or {},
    )


def message_reference(message: OutboxMessage) -> str:
    """Returns our own id of a message for the provider to keep with it: the row
    id and a digest of its key and time, so another deployment's row 7 differs."""
    seed = f"{message.dedupe_key}|{message.created_at.isoformat()}"
    return f"rd{message.id}-{hashlib.sha256(seed.encode()).hexdigest()[:10]}"


def message_by_reference(reference: str) -> OutboxMessage | None:
    """Returns the outbox row a provider's OutId/SessionContext names, or None."""
    head, _, _digest = (reference or "").partition("-")
    if not head.startswith("rd") or not head[2:].isdigit() or len(head) > 20:
        return None
    message = db.session.get(OutboxMessage, int(head[2:]))
    if message is None or message_reference(message) != reference:
        return None
    return message


def _sent(message: OutboxMessage, result: SendResult, now: datetime) -> MessageStatus:
    message.provider_id = result.provider_id
    message.provider_status = "accepted"
    message.sent_at = message.sent_at or now
    if result.status in ("delivered", "undelivered"):
        # Found after an ambiguous send with its delivery report already in.
        message.status = M.SENT
        record_delivery_report(
            message,
            result.status,
            None,
            now,
            provider=current_app.config["SMS_BACKEND"],
        )
        if message.status is not M.SENT:
            message.updated_at = now
            db.session.commit()
            return message.status
    else:
        message.provider_status = result.status
    return _finish(message, M.SENT, now)


def status_callback_url() -> str | None:
    """Returns where Twilio reports delivery, when the app is reachable from outside."""
    if current_app.config["SMS_BACKEND"] != "twilio":
        return None
    return f"{current_app.config['PUBLIC_URL']}/sms/status"


def _finish(
    message: OutboxMessage,
    status: MessageStatus,
    now: datetime,
    error: str | None = None,
) -> MessageStatus:
    message.status = status
    message.updated_at = now
    if error:
        message.error_message = error
    db.session.commit()
    return status


def _retry_later(
    message: OutboxMessage, now: datetime, error: SmsError
) -> MessageStatus:
    message.error_code = error.code
    message.error_message = str(error)
    # After an ambiguous attempt one more attempt always comes: it asks first.
    if message.attempts >= MAX_ATTEMPTS and message.provider_status != UNKNOWN:
        return _fail(message, now, error, gave_up=True)
    message.status = M.PENDING
    message.next_attempt_at = now + BACKOFF[min(message.attempts, len(BACKOFF)) - 1]
    message.updated_at = now
    schedule_after_commit(
        message.next_attempt_at,
        send_message,
        message.id,
        job_id=f"sms-{message.id}-{message.attempts}",
    )
    db.session.commit()
    log.info(
        "SMS %s failed (%s); retry at %s", message.id, error, message.next_attempt_at
    )
    return M.PENDING


def _fail(
    message: OutboxMessage, now: datetime, error: SmsError, gave_up: bool = False
) -> MessageStatus:
    from dispatch.messaging.delivery import message_failed

    message.status = M.FAILED
    message.error_code = error.code
    message.error_message = (
        f"gave up after {message.attempts} attempts: {error}" if gave_up else str(error)
    )
    message.updated_at = now
    message_failed(message, now)
    db.session.commit()
    log.warning("SMS %s to %s failed for good: %s", message.id, message.to_phone, error)
    return M.FAILED


PROVIDER_NAMES = {
    "twilio": "Twilio",
    "aliyun": "Alibaba Cloud",
    "tencent": "Tencent Cloud",
}

#: Delivery statuses in the order they happen; a late report never goes backwards.
REPORT_RANK = {
    "accepted": 0,
    "queued": 1,
    "sending": 2,
    "sent": 3,
    "delivered": 4,
    "undelivered": 4,
    "failed": 4,
    "read": 5,
}


def record_delivery_report(
    message: OutboxMessage,
    reported: str,
    error_code: str | None,
    now: datetime,
    provider: str = "twilio",
) -> bool:
    """Records the provider's delivery report on the message; a failed job offer
    goes to the backup. Returns False for a repeated, late or unknown report."""
    from dispatch.messaging.delivery import message_failed

    if reported not in REPORT_RANK:
        return False
    if REPORT_RANK[reported] <= REPORT_RANK.get(message.provider_status or "", -1):
        return False
    message.provider_status = reported
    message.updated_at = now
    if reported == "delivered":
        message.status = M.DELIVERED
    elif reported in ("undelivered", "failed"):
        message.status = M(reported)
        code = error_code
        message.error_code = bounded_int(code)
        name = PROVIDER_NAMES.get(provider, provider)
        message.error_message = f"{reported} ({name} error {(code or 'unknown')[:16]})"
        message_failed(message, now)
    return True


def due_messages(now: datetime) -> list[int]:
    """Returns ids of pending messages whose attempt is due (for the sweep)."""
    return list(
        db.session.scalars(
            sa.select(OutboxMessage.id)
            .where(
                OutboxMessage.status == M.PENDING,
                OutboxMessage.next_attempt_at <= now,
            )
            .order_by(OutboxMessage.id)
        )
    )


def recover_stuck_messages(now: datetime) -> int:
    """Puts messages interrupted mid-send back in line, marked as unknown, so the
    next attempt asks the provider whether it took them before sending; returns
    how many. Nothing is reported failed and no job moves for an ambiguous send."""
    stuck = db.session.scalars(
        sa.select(OutboxMessage).where(
            OutboxMessage.status == M.SENDING,
            OutboxMessage.updated_at <= now - STUCK_AFTER,
        )
    ).all()
    for message in stuck:
        message.status = M.PENDING
        message.provider_status = UNKNOWN
        message.next_attempt_at = now
        message.error_message = "interrupted while sending; asking the provider"
        message.updated_at = now
        enqueue_after_commit(
            send_message,
            message.id,
            job_id=f"sms-{message.id}-stuck-{message.attempts}",
        )
    db.session.commit()
    return len(stuck)

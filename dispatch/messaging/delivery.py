"""What follows an SMS that cannot be delivered: the officer hears, the backup goes."""

from __future__ import annotations

from datetime import datetime

from dispatch.models import EndReason, OutboxMessage
from repair import lifecycle
from repair.db import db
from repair.models import Contractor, Ticket

#: Templates whose failure means a contractor does not know about a job.
JOB_OFFERS = frozenset({"dispatch", "reminder"})


def message_failed(message: OutboxMessage, now: datetime) -> None:
    """Records a permanent failure on the ticket; a job offer goes to the backup."""
    if message.ticket_id is None:
        return
    ticket = db.session.get(Ticket, message.ticket_id)
    name = None
    if message.recipient_type == "contractor" and message.recipient_id:
        contractor = db.session.get(Contractor, message.recipient_id)
        name = contractor.name if contractor else None
    lifecycle.record_event(
        ticket,
        "sms_failed",
        lifecycle.Actor.system(),
        now,
        data={
            "message_id": message.id,
            "template": message.template,
            "recipient_type": message.recipient_type,
            "recipient_name": name,
            "to_phone": message.to_phone,
            "error_code": message.error_code,
            "error": message.error_message,
        },
    )
    if (
        message.recipient_type == "contractor"
        and message.template in JOB_OFFERS
        and ticket.contractor_id == message.recipient_id
    ):
        from dispatch.assignment.routes import end_assignment
        from dispatch.sla.escalation import dispatch_backup

        end_assignment(ticket, EndReason.UNDELIVERABLE, now)
        dispatch_backup(ticket, now, reason="undeliverable")

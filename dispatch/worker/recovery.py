"""Putting work back into a Redis that lost it (restarted empty, flushed, replaced)."""

from __future__ import annotations

import logging
from datetime import datetime

import sqlalchemy as sa
from flask import current_app

from dispatch.followup.tasks import replan_open
from dispatch.messaging.outbox import due_messages, send_message
from dispatch.sla.escalation import plan_jobs
from dispatch.sla.sweep import sweep
from dispatch.worker.queues import get_queue, job
from repair.db import db, utcnow
from repair.models import WORKING_STATUSES, Ticket

log = logging.getLogger(__name__)

#: Tickets re-planned per transaction.
BATCH = 200


@job
def recover_lost_work(now: datetime | None = None) -> dict:
    """Takes the rungs that are due, queues the messages waiting to be sent, and
    schedules the escalation jobs of every ticket being worked on again."""
    now = now or utcnow()
    swept = sweep(now)
    messages = due_messages(now)
    queue = get_queue()
    for message_id in messages:
        queue.enqueue(send_message, message_id, job_id=f"sms-{message_id}-recovery")
    ids = db.session.scalars(
        sa.select(Ticket.id)
        .where(Ticket.status.in_(WORKING_STATUSES))
        .order_by(Ticket.next_due_at, Ticket.id)
    ).all()
    for start in range(0, len(ids), BATCH):
        batch = ids[start : start + BATCH]
        for ticket in db.session.scalars(sa.select(Ticket).where(Ticket.id.in_(batch))):
            plan_jobs(ticket)
        db.session.commit()  # each plan goes to Redis after the commit
    calls = replan_open(current_app._get_current_object())
    log.warning(
        "Redis had lost its data: %s tickets and %s follow-up calls re-planned, "
        "%s messages requeued",
        len(ids),
        calls,
        len(messages),
    )
    return {
        "replanned": len(ids),
        "follow_up_calls": calls,
        "messages": len(messages),
        "sweep": swept,
    }

"""The sweep: re-derives due escalations, follow-up calls' reminders and missed
marks, and unsent messages from the database (SMS and replies to the hotline), and
processes photos whose job was lost.

It runs every minute (the worker's ticker) and makes losing Redis lose nothing:
whatever a lost job would have done, the next sweep does. Everything it does is
idempotent, so several workers sweeping at once do no harm.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import redis
import sqlalchemy as sa
from flask import current_app

from dispatch.followup.tasks import due_follow_ups
from dispatch.integrations.hotline import due_replies, send_reply
from dispatch.messaging.outbox import due_messages, recover_stuck_messages, send_message
from dispatch.models import SlaPolicy, SlaStep
from dispatch.sla import clock as sla
from dispatch.sla.escalation import escalate_if_overdue, job_id, policy_for, take_rung
from dispatch.sla.pauses import resume_due_pauses
from dispatch.worker.queues import SLA_QUEUE_NAME, get_queue, job
from repair import lifecycle
from repair.db import db, utcnow
from repair.models import (
    OPEN_STATUSES,
    PAUSED_CLOCKS,
    Ticket,
    TicketEvent,
    TicketStatus,
    Urgency,
)
from repair.photos.jobs import sweep_photos
from repair.privacy import erase_expired

log = logging.getLogger(__name__)

#: A message's own job normally sends it; the sweep steps in after this long.
MESSAGE_GRACE = timedelta(seconds=30)


@job
def sweep(now: datetime | None = None) -> dict:
    """Takes every rung that is due and not taken; requeues due messages."""
    now = now or utcnow()
    resumed = resume_due_pauses(now)  # before the rungs: a resumed clock may be due
    taken = take_due_rungs(now)
    calls = due_follow_ups(now)
    followed_up = follow_up_completed(now)
    closed = close_unanswered(now)
    stuck = recover_stuck_messages(now)
    requeued = _requeue(due_messages(now - MESSAGE_GRACE))
    replies = _requeue(due_replies(now - MESSAGE_GRACE), send_reply, "hotline")
    photos = sweep_photos(now)
    erased = erase_expired(now)
    if taken or stuck or requeued or followed_up or closed:
        log.info(
            "sweep: %s rungs, %s follow-ups, %s auto-closed, %s stuck, %s requeued",
            taken,
            followed_up,
            closed,
            stuck,
            requeued,
        )
    return {
        "rungs": taken,
        "pauses_resumed": resumed,
        "follow_up_calls": calls,
        "follow_ups": followed_up,
        "auto_closed": closed,
        "stuck_messages": stuck,
        "requeued_messages": requeued,
        "requeued_hotline_replies": replies,
        "photos": photos,
        "personal_data_erased": erased,
    }


def follow_up_completed(now: datetime) -> int:
    """Sends the follow-up visit (回访) once per completion to residents with a phone
    who have not answered yet; returns how many."""
    after = current_app.config["FOLLOW_UP_AFTER"]
    followed = (
        sa.select(TicketEvent.id)
        .where(
            TicketEvent.ticket_id == Ticket.id,
            TicketEvent.action == "follow_up",
            TicketEvent.at >= Ticket.completed_at,
        )
        .exists()
    )
    tickets = db.session.scalars(
        sa.select(Ticket).where(
            Ticket.status == TicketStatus.COMPLETED,
            Ticket.completed_at <= now - after,
            Ticket.reporter_phone.is_not(None),
            sa.not_(followed),
        )
    ).all()
    for ticket in tickets:
        lifecycle.record_event(ticket, "follow_up", lifecycle.Actor.system(), now)
        db.session.commit()
    return len(tickets)


def close_unanswered(now: datetime) -> int:
    """Closes completed tickets nobody confirmed or disputed in time; returns how
    many. The closing is an event like any other."""
    after = current_app.config["AUTO_CLOSE_AFTER"]
    tickets = db.session.scalars(
        sa.select(Ticket).where(
            Ticket.status == TicketStatus.COMPLETED,
            Ticket.completed_at <= now - after,
        )
    ).all()
    closed = 0
    for ticket in tickets:
        try:
            lifecycle.transition(
                ticket,
                "close",
                lifecycle.Actor.system(),
                now,
                data={"automatic": True, "after_hours": after.total_seconds() / 3600},
            )
        except lifecycle.TransitionNotAllowed:
            db.session.rollback()  # the resident or an officer acted first
            continue
        db.session.commit()
        closed += 1
    return closed


def take_due_rungs(now: datetime) -> int:
    """Finds every rung that is due and not yet taken and gets it taken: queued on
    the SLA queue for the workers to share, or taken here if Redis is unreachable.
    Returns how many."""
    due = list(_due_rungs(now))
    if not due:
        return 0
    try:
        queue = get_queue(name=SLA_QUEUE_NAME)
        with queue.connection.pipeline() as pipe:
            for ticket, rung in due:
                queue.enqueue(
                    escalate_if_overdue,
                    ticket.id,
                    rung.clock,
                    rung.name,
                    job_id=job_id(ticket.id, rung.clock, rung.name),
                    result_ttl=3600,
                    pipeline=pipe,
                )
            pipe.execute()
        return len(due)
    except (redis.RedisError, OSError):
        log.warning("sweep: Redis unavailable, taking %s rungs itself", len(due))
    taken = 0
    for ticket, rung in due:
        taken += take_rung(ticket, rung, now)
        db.session.commit()
    return taken


def _due_rungs(now: datetime):
    """Yields (ticket, rung) for every rung whose time has come and is not taken."""
    tickets = overdue_tickets(now)
    done = _taken_steps([ticket.id for ticket in tickets])
    policies: dict[int, sla.Policy] = {}
    for ticket in tickets:
        urgency = ticket.urgency.value if ticket.urgency else None
        policy = policies.get(ticket.community_id)
        if policy is None:
            policy = policies[ticket.community_id] = policy_for(ticket.community_id)
        for clock in sla.DUE_FIELDS:
            due = sla.due_at(ticket, clock)
            if due is None or sla.is_met(ticket, clock) or sla.is_paused(ticket, clock):
                continue
            for rung in sla.ladder(clock, urgency, policy):
                if (
                    now >= due + rung.delay
                    and (ticket.id, clock, rung.name, due) not in done
                ):
                    yield ticket, rung


def _taken_steps(ticket_ids: list[int]) -> set[tuple]:
    if not ticket_ids:
        return set()
    rows = db.session.execute(
        sa.select(SlaStep.ticket_id, SlaStep.clock, SlaStep.rung, SlaStep.due_at).where(
            SlaStep.ticket_id.in_(ticket_ids)
        )
    )
    return {tuple(row) for row in rows}


def overdue_tickets(now: datetime) -> list[Ticket]:
    """Returns open tickets with a clock whose earliest rung is due and whose ladder
    is not yet complete for the current deadline."""
    # A ladder may start before its deadline (the contact reminder): look as far
    # ahead as the longest contact window of any community asks.
    longest = db.session.scalar(
        sa.select(sa.func.max(SlaPolicy.urgent_contact_seconds))
    )
    widest = sla.Policy(
        urgent_contact=max(
            current_app.config["SLA_URGENT_CONTACT"], timedelta(seconds=longest or 0)
        ),
        hotline_reminder=current_app.config["SLA_HOTLINE_REMINDER"],
    )
    conditions = []
    for clock, due_field in sla.DUE_FIELDS.items():
        due = getattr(Ticket, due_field)
        unmet = [getattr(Ticket, name).is_(None) for name in sla.MET_FIELDS[clock]]
        if clock in PAUSED_CLOCKS:
            unmet.append(Ticket.paused_at.is_(None))  # a paused clock is not due
        steps_taken = (
            sa.select(sa.func.count(SlaStep.id))
            .where(
                SlaStep.ticket_id == Ticket.id,
                SlaStep.clock == clock,
                SlaStep.due_at == due,
            )
            .scalar_subquery()
        )
        rungs = sa.case(
            *[
                (Ticket.urgency == urgency, sla.rung_count(clock, urgency.value))
                for urgency in Urgency
            ],
            else_=sla.rung_count(clock, None),
        )
        horizon = now + sla.lead_time(clock, widest)
        conditions.append(sa.and_(due <= horizon, *unmet, steps_taken < rungs))
    return list(
        db.session.scalars(
            sa.select(Ticket)
            .where(Ticket.status.in_(OPEN_STATUSES), sa.or_(*conditions))
            .order_by(Ticket.id)
        )
    )


def _requeue(message_ids: list[int], send=send_message, kind: str = "sms") -> int:
    if not message_ids:
        return 0
    try:
        queue = get_queue()
        for message_id in message_ids:
            queue.enqueue(send, message_id, job_id=f"{kind}-{message_id}-sweep")
    except (redis.RedisError, OSError):
        log.warning(
            "sweep could not requeue %s messages: Redis unavailable", len(message_ids)
        )
        return 0
    return len(message_ids)

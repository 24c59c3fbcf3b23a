"""Pauses at work (挂起): the clock resumes by itself at the expected time."""

from __future__ import annotations

import contextlib
from datetime import datetime

import redis
import sqlalchemy as sa
from flask import current_app

from dispatch.worker.queues import SLA_QUEUE_NAME, get_queue, job, not_before
from repair import lifecycle
from repair.db import after_commit, db, utcnow
from repair.models import PauseState, Ticket, TicketPause


def resume_job_id(pause_id: int) -> str:
    """Returns the stable rq job id of a pause's automatic resume."""
    return f"pause-{pause_id}-resume"


def plan_resume(ticket: Ticket, pause_id: int, when: datetime) -> None:
    """Schedules the automatic resume at the expected time, after the commit (the
    sweep does it instead if the job is lost)."""
    app = current_app._get_current_object()
    ticket_id = ticket.id

    def schedule() -> None:
        # Without Redis the sweep resumes it (resume_due_pauses).
        with contextlib.suppress(redis.RedisError, OSError):
            get_queue(app, SLA_QUEUE_NAME).enqueue_at(
                not_before(when),
                resume_if_due,
                ticket_id,
                pause_id,
                job_id=resume_job_id(pause_id),
                result_ttl=3600,
            )

    after_commit(schedule, key=("pause-resume", pause_id))


@job
def resume_if_due(ticket_id: int, pause_id: int, now: datetime | None = None) -> bool:
    """Resumes the clocks of a pause whose expected time has come; True if it did.

    A pause already ended (by the contractor or the officer) is left alone."""
    now = now or utcnow()
    ticket = db.session.get(Ticket, ticket_id)
    if ticket is None:
        return False
    lifecycle.lock(ticket)
    pause = lifecycle.open_pause(ticket)
    if (
        pause is None
        or pause.id != pause_id
        or pause.state is not PauseState.ACTIVE
        or now < pause.resume_expected_at
    ):
        db.session.rollback()
        return False
    lifecycle.resume(ticket, lifecycle.Actor.system(), now, how="expected")
    db.session.commit()
    return True


def resume_due_pauses(now: datetime) -> int:
    """Resumes every running pause past its expected time (the sweep's share of the
    work, should a job be lost); returns how many."""
    due = db.session.execute(
        sa.select(TicketPause.ticket_id, TicketPause.id).where(
            TicketPause.state == PauseState.ACTIVE,
            TicketPause.resume_expected_at <= now,
        )
    ).all()
    return sum(resume_if_due(ticket_id, pause_id, now) for ticket_id, pause_id in due)

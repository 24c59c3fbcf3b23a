"""Follow-up tasks (回访): opened once per trigger, their deadline, reminder and
missed mark (an rq job each, the sweep if a job is lost), and the officer's calls."""

from __future__ import annotations

import contextlib
from datetime import datetime

import redis
import sqlalchemy as sa
from flask import Flask, current_app

from dispatch.models import FollowUpOutcome, FollowUpReason, FollowUpTask
from dispatch.worker.queues import (
    SLA_QUEUE_NAME,
    cancel_after_commit,
    get_queue,
    job,
    not_before,
)
from repair import lifecycle, signals
from repair.db import after_commit, db, utcnow
from repair.models import ActorType, Ticket, TicketEvent
from repair.privacy import remove_personal

#: A rating of this many stars or fewer asks for a call.
LOW_STARS = lifecycle.LOW_RATING_STARS
#: The resident's "没有修好" this many times asks for a call.
REOPENS = 2


class TaskDone(Exception):
    """The call was recorded on a task already done (another officer came first)."""


def on_event(ticket: Ticket, event: TicketEvent) -> FollowUpTask | None:
    """Opens the follow-up task an event calls for: a low rating, or the resident's
    second "没有修好". Runs inside the event's transaction, under the ticket's lock."""
    data = event.data or {}
    if event.action == "rated" and int(data.get("stars", LOW_STARS + 1)) <= LOW_STARS:
        return open_task(ticket, FollowUpReason.LOW_RATING, event.at)
    if (
        event.action == "reopen"
        and event.actor_type is ActorType.RESIDENT
        and resident_reopens(ticket) >= REOPENS
    ):
        return open_task(ticket, FollowUpReason.REOPENED, event.at)
    return None


def resident_reopens(ticket: Ticket) -> int:
    """Returns how many times the resident said the repair did not fix it."""
    return db.session.scalar(
        sa.select(sa.func.count(TicketEvent.id)).where(
            TicketEvent.ticket_id == ticket.id,
            TicketEvent.action == "reopen",
            TicketEvent.actor_type == ActorType.RESIDENT,
        )
    )


def open_task(
    ticket: Ticket, reason: FollowUpReason, now: datetime
) -> FollowUpTask | None:
    """Creates the ticket's task for this reason with its deadline and records it;
    None when it exists already (once per ticket and reason, the unique key says
    so even to a writer the lock did not hold back)."""
    exists = db.session.scalar(
        sa.select(FollowUpTask.id).where(
            FollowUpTask.ticket_id == ticket.id, FollowUpTask.reason == reason
        )
    )
    if exists is not None:
        return None
    task = FollowUpTask(
        ticket_id=ticket.id,
        reason=reason,
        created_at=now,
        due_at=now + current_app.config["SLA_FOLLOWUP"],
    )
    try:
        with db.session.begin_nested():
            db.session.add(task)
    except sa.exc.IntegrityError:
        return None
    lifecycle.record_event(
        ticket,
        "follow_up_opened",
        lifecycle.Actor.system(),
        now,
        data={
            "task_id": task.id,
            "reason": reason.value,
            "due_at": task.due_at.isoformat(),
        },
    )
    plan(task)
    return task


def open_tasks(ticket_id: int) -> list[FollowUpTask]:
    """Returns the ticket's tasks, open ones first, then by deadline."""
    return list(
        db.session.scalars(
            sa.select(FollowUpTask)
            .where(FollowUpTask.ticket_id == ticket_id)
            .order_by(FollowUpTask.done_at.is_not(None), FollowUpTask.due_at)
        )
    )


# --- the clock: a reminder ahead of the deadline, a mark when it passes


def reminder_job_id(task_id: int) -> str:
    return f"follow-up-{task_id}-reminder"


def missed_job_id(task_id: int) -> str:
    return f"follow-up-{task_id}-missed"


def plan(task: FollowUpTask) -> None:
    """Schedules the task's reminder and missed mark after the commit (without
    Redis the sweep does both: ``due_follow_ups``)."""
    app = current_app._get_current_object()
    task_id, due = task.id, task.due_at
    remind_at = due - app.config["SLA_FOLLOWUP_REMINDER"]
    after_commit(
        lambda: schedule(app, task_id, due, remind_at), key=("follow-up", task_id)
    )


def schedule(app: Flask, task_id: int, due: datetime, remind_at: datetime) -> None:
    """Puts the task's two jobs on rq's schedule under stable ids."""
    with contextlib.suppress(redis.RedisError, OSError):
        queue = get_queue(app, SLA_QUEUE_NAME)
        if remind_at < due:
            queue.enqueue_at(
                not_before(remind_at),
                remind_if_due,
                task_id,
                job_id=reminder_job_id(task_id),
                result_ttl=3600,
            )
        queue.enqueue_at(
            not_before(due),
            mark_if_missed,
            task_id,
            job_id=missed_job_id(task_id),
            result_ttl=3600,
        )


def replan_open(app: Flask) -> int:
    """Schedules every open task's jobs again (Redis lost them); returns how many."""
    rows = db.session.execute(
        sa.select(FollowUpTask.id, FollowUpTask.due_at).where(
            FollowUpTask.done_at.is_(None), FollowUpTask.missed_at.is_(None)
        )
    ).all()
    lead = app.config["SLA_FOLLOWUP_REMINDER"]
    for task_id, due in rows:
        schedule(app, task_id, due, due - lead)
    return len(rows)


def _claim(task_id: int, column, now: datetime, *conditions) -> FollowUpTask | None:
    """Sets a mark column of an open task to ``now`` if it is still empty and the
    conditions hold, in one conditional UPDATE: of two runs (a job and the sweep,
    two workers) only one gets the row. Returns the task if this run got it."""
    claimed = db.session.execute(
        sa.update(FollowUpTask)
        .where(
            FollowUpTask.id == task_id,
            column.is_(None),
            FollowUpTask.done_at.is_(None),
            *conditions,
        )
        .values({column.key: now})
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:
        db.session.rollback()
        return None
    task = db.session.get(FollowUpTask, task_id)
    db.session.refresh(task)
    return task


@job
def remind_if_due(task_id: int, now: datetime | None = None) -> bool:
    """Reminds the officers (SMS) that a call is due soon, once; True if it did.
    After the deadline a reminder is moot: the missed mark says more."""
    now = now or utcnow()
    lead = current_app.config["SLA_FOLLOWUP_REMINDER"]
    task = _claim(
        task_id,
        FollowUpTask.reminded_at,
        now,
        FollowUpTask.missed_at.is_(None),
        FollowUpTask.due_at <= now + lead,
        FollowUpTask.due_at > now,
    )
    if task is None:
        return False
    lifecycle.record_event(
        task.ticket,
        "follow_up_reminder",
        lifecycle.Actor.system(),
        now,
        data={"task_id": task.id, "due_at": task.due_at.isoformat()},
    )
    db.session.commit()
    return True


@job
def mark_if_missed(task_id: int, now: datetime | None = None) -> bool:
    """Marks a task whose deadline passed without the call done, once (the officers
    and the supervisor hear of it); True if it did."""
    now = now or utcnow()
    task = _claim(task_id, FollowUpTask.missed_at, now, FollowUpTask.due_at <= now)
    if task is None:
        return False
    lifecycle.record_event(
        task.ticket,
        "follow_up_missed",
        lifecycle.Actor.system(),
        now,
        data={"task_id": task.id, "due_at": task.due_at.isoformat()},
    )
    db.session.commit()
    return True


def due_follow_ups(now: datetime) -> dict[str, int]:
    """The sweep's share: reminds and marks whatever is due and not done, should a
    job have been lost; returns how many of each."""
    lead = current_app.config["SLA_FOLLOWUP_REMINDER"]
    open_ = sa.and_(FollowUpTask.done_at.is_(None), FollowUpTask.missed_at.is_(None))
    to_remind = db.session.scalars(
        sa.select(FollowUpTask.id).where(
            open_,
            FollowUpTask.reminded_at.is_(None),
            FollowUpTask.due_at <= now + lead,
            FollowUpTask.due_at > now,
        )
    ).all()
    to_mark = db.session.scalars(
        sa.select(FollowUpTask.id).where(open_, FollowUpTask.due_at <= now)
    ).all()
    return {
        "reminded": sum(remind_if_due(task_id, now) for task_id in to_remind),
        "missed": sum(mark_if_missed(task_id, now) for task_id in to_mark),
    }


# --- the officer's call


def record_call(
    task: FollowUpTask,
    actor: lifecycle.Actor,
    now: datetime | None = None,
    *,
    reached: bool,
    outcome: FollowUpOutcome | None = None,
    note: str | None = None,
) -> TicketEvent:
    """Records a call: reached (the outcome is written and the task is done; its
    jobs go) or not (the attempt is counted and the task stays open).

    Raises TaskDone if the task was done before this call was recorded."""
    ticket = lifecycle.lock(task.ticket)
    db.session.refresh(task)
    if not task.is_open:
        raise TaskDone(task.id)
    now = now or utcnow()
    task.attempts = (task.attempts or 0) + 1
    task.last_attempt_at = now
    data = {"task_id": task.id, "reached": reached, "attempt": task.attempts}
    if not reached:
        return lifecycle.record_event(
            ticket, "follow_up_call", actor, now, note=note, data=data
        )
    task.done_at = now
    task.outcome = outcome
    task.note = note
    task.done_by = actor.name
    cancel_after_commit([reminder_job_id(task.id), missed_job_id(task.id)])
    return lifecycle.record_event(
        ticket,
        "follow_up_done",
        actor,
        now,
        note=note,
        data={
            **data,
            "outcome": outcome.value if outcome else None,
            "late": now > task.due_at,
        },
    )


# --- a resident's erasure (PIPL)


def scrub_notes(ticket: Ticket, pattern, names: set[str]) -> set[str]:
    """Removes an erased resident's numbers and name from the officer's notes of
    the ticket's calls (they recorded what the resident said); returns
    {"follow_up_notes"} if one changed. The calls' events are repair's."""
    changed = set()
    for task in db.session.scalars(
        sa.select(FollowUpTask).where(FollowUpTask.ticket_id == ticket.id)
    ):
        note = remove_personal(task.note, pattern, names)
        if note != task.note:
            task.note = note
            changed.add("follow_up_notes")
    return changed


def _on_erased(_sender, *, ticket, pattern=None, names=(), **_) -> set[str]:
    return scrub_notes(ticket, pattern, set(names))


def init_app(_app: Flask) -> None:
    """Subscribes the follow-up calls to repair's erasure signal (process-wide)."""
    signals.personal_data_erased.connect(_on_erased, weak=False)

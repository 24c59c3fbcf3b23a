"""rq plumbing: the queue, the app context jobs run in, and after-commit enqueueing.

Jobs take ids, re-read their rows and are safe to run twice. They are put on the
queue only after the transaction that made them necessary commits; if Redis is
unreachable then, nothing is lost: the sweep re-derives the work from the database.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import redis
from flask import Flask, current_app
from rq import Queue
from rq.job import Job

from repair.broker import get_redis
from repair.db import after_commit
from repair.jobs import job  # noqa: F401  (dispatch's jobs import it from here)
from repair.photos.jobs import QUEUE_NAME as PHOTO_QUEUE_NAME

log = logging.getLogger(__name__)

QUEUE_NAME = "repairdesk"
#: Escalation rungs have their own queue, which workers always empty first, so a
#: burst of messages can never hold a deadline back.
SLA_QUEUE_NAME = "repairdesk-sla"
#: Photos come last: a display copy may wait a few seconds, a message may not.
QUEUE_NAMES = (SLA_QUEUE_NAME, QUEUE_NAME, PHOTO_QUEUE_NAME)


def get_queue(app: Flask | None = None, name: str = QUEUE_NAME) -> Queue:
    """Returns one of the app's rq queues (messages and sweeps by default)."""
    app = app or current_app._get_current_object()
    return Queue(name, connection=get_redis(app))


def get_queues(app: Flask | None = None) -> list[Queue]:
    """Returns the queues a worker serves, the most urgent first."""
    return [get_queue(app, name) for name in QUEUE_NAMES]


def not_before(when: datetime) -> datetime:
    """Rounds a due time up to the whole second.

    rq's schedule keeps whole seconds and runs a job once its (floored) second has
    begun, so a job due at :00.7 would otherwise run at :00.0, find itself early,
    and do nothing.
    """
    if when.microsecond == 0:
        return when
    return when.replace(microsecond=0) + timedelta(seconds=1)


def enqueue_after_commit(func: Callable, *args: Any, job_id: str | None = None) -> None:
    """Queues ``func(*args)`` once the current transaction commits."""
    app = current_app._get_current_object()
    after_commit(lambda: _safely(app, "enqueue", func, args, job_id, None))


def enqueue_now(app: Flask, func: Callable, *args: Any, job_id: str | None) -> None:
    """Queues ``func(*args)`` at once (from an after-commit callback); if Redis is
    away the sweep finds the work again."""
    _safely(app, "enqueue", func, args, job_id, None)


def schedule_after_commit(
    when: datetime, func: Callable, *args: Any, job_id: str
) -> None:
    """Schedules ``func(*args)`` at ``when`` under a stable id, after the commit."""
    app = current_app._get_current_object()
    after_commit(lambda: _safely(app, "enqueue_at", func, args, job_id, when))


def cancel_after_commit(job_ids: list[str]) -> None:
    """Deletes scheduled jobs (a met clock) once the current transaction commits."""
    app = current_app._get_current_object()
    after_commit(lambda: cancel_jobs(app, job_ids))


def cancel_jobs(app: Flask, job_ids: list[str]) -> None:
    """Deletes the jobs with these ids, if they exist; Redis errors are logged."""
    try:
        connection = get_redis(app)
        existing = [
            found
            for found in Job.fetch_many(job_ids, connection=connection)
            if found is not None
        ]
        if existing:
            with connection.pipeline() as pipe:
                for found in existing:
                    found.delete(pipeline=pipe)
                pipe.execute()
    except (redis.RedisError, OSError):
        log.warning("could not cancel jobs %s; they will find nothing to do", job_ids)


def _safely(
    app: Flask,
    how: str,
    func: Callable,
    args: tuple,
    job_id: str | None,
    when: datetime | None,
) -> None:
    try:
        queue = get_queue(app)
        if how == "enqueue_at":
            queue.enqueue_at(
                not_before(when), func, *args, job_id=job_id, result_ttl=3600
            )
        else:
            queue.enqueue(func, *args, job_id=job_id, result_ttl=3600)
    except (redis.RedisError, OSError):
        # The database holds the truth; the sweep will find this work again.
        log.warning("Redis unavailable; %s(%s) left to the sweep", func.__name__, args)

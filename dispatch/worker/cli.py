"""The ``worker`` console command: an rq worker with the scheduler and the sweep."""

from __future__ import annotations

import logging
import time

import click
import redis
import sqlalchemy.orm
from flask import Flask, current_app
from flask.cli import with_appcontext

from dispatch.messaging import outbox  # noqa: F401  (warm imports: the jobs)
from dispatch.sla import escalation, sweep  # noqa: F401  (warm imports: the jobs)
from dispatch.worker.queues import get_queues
from dispatch.worker.scheduler import SchedulerThread, enqueue_due_once
from dispatch.worker.ticker import SweepTicker
from dispatch.worker.workers import ForkingRepairDeskWorker, RepairDeskWorker

log = logging.getLogger(__name__)


@click.command("worker")
@click.option(
    "--with-scheduler/--without-scheduler",
    default=True,
    show_default=True,
    help="Also move due scheduled jobs (SLA rungs, SMS retries) onto the queue.",
)
@click.option("--burst", is_flag=True, help="Stop when the queues are empty.")
@click.option(
    "--fork",
    is_flag=True,
    help="Run each job in a forked process (isolation at ~100 ms a job).",
)
@with_appcontext
def worker_command(with_scheduler: bool, burst: bool, fork: bool) -> None:
    """Run an rq worker for RepairDesk's jobs, with the minute sweep.

    Jobs are short, idempotent database work, so by default they run in this warm
    process (rq's SimpleWorker); a forked, cold process per job costs ten times more.
    Scheduled jobs are moved onto the queues every REPAIRDESK_SCHEDULER_INTERVAL
    (0.25 s) by one of the workers (dispatch.worker.scheduler).
    """

    app = current_app._get_current_object()
    sqlalchemy.orm.configure_mappers()
    queues = get_queues(app)
    worker_class = ForkingRepairDeskWorker if fork else RepairDeskWorker
    worker = worker_class(queues, connection=queues[0].connection)
    if burst:
        if with_scheduler:
            enqueue_due_once(queues)
        worker.work(burst=True)
        return
    # rq's own scheduler polls once a second; ours, in a thread, more often.
    interval = app.config["SCHEDULER_INTERVAL"].total_seconds()
    threads = [SweepTicker(app)]
    if with_scheduler:
        threads.append(SchedulerThread(queues, interval))
    for thread in threads:
        thread.start()
    try:
        while True:
            try:
                worker.work(with_scheduler=False)
            except (redis.ConnectionError, redis.TimeoutError) as error:
                log.warning("worker stopped by a Redis error (%s)", error)
            if worker.stop_asked:
                break
            # rq's loop ends on a Redis error it meets outside its dequeue (a
            # failover, say); a new worker takes over in this process.
            worker = _next_worker(worker_class, queues)
    finally:
        for thread in threads:
            thread.stop()


def _next_worker(worker_class, queues):
    """Returns a new worker once Redis answers again (a second between tries)."""
    while True:
        time.sleep(1)
        try:
            return worker_class(queues, connection=queues[0].connection)
        except (redis.ConnectionError, redis.TimeoutError) as error:
            log.warning("Redis unavailable (%s); retrying", error)


def init_app(app: Flask) -> None:
    """Adds the ``worker`` command to the app's CLI group."""
    app.cli.add_command(worker_command)

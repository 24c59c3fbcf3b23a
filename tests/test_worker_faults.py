"""Workers across Redis faults: lost data put back at once, workers listed again,
deadlines taken during an outage, the scheduler handed over within seconds."""

from __future__ import annotations

from datetime import timedelta

import pytest
import redis
import sqlalchemy as sa
from freezegun import freeze_time
from rq import Worker

from dispatch.models import SlaStep
from dispatch.worker.queues import get_queues
from dispatch.worker.scheduler import LOCK_SECONDS, RETRY_SECONDS, SchedulerThread
from dispatch.worker.ticker import MARKER_KEY, SweepTicker
from dispatch.worker.workers import RepairDeskWorker
from repair.db import db
from repair.models import Ticket

START = "2026-11-22 02:00:00"
URGENT_TEXT = "电梯坏了，停在5楼不动了"  # urgent, nobody trapped: the 2-hour clock


@pytest.fixture
def clock():
    with freeze_time(START) as frozen:
        yield frozen


def _rung_jobs(jobs) -> set[str]:
    return {job_id for job_id in jobs.scheduled_ids() if job_id.startswith("sla-")}


def test_redis_that_restarted_empty_gets_every_rung_job_back_at_once(
    app, resident, jobs, clock, redis_url
):
    resident.report(description=URGENT_TEXT, spot="5楼")
    planned = _rung_jobs(jobs)
    assert planned
    watch, other = SweepTicker(app), SweepTicker(app)
    assert watch.tick() == "recovery"  # a new Redis: the first watch plans it all
    assert other.tick() != "recovery"
    jobs.run_due()
    redis.Redis.from_url(redis_url).flushdb()  # Redis restarts without its data
    assert _rung_jobs(jobs) == set()

    assert other.tick() == "recovery"  # the first watch to notice, at once ...
    assert watch.tick() != "recovery"  # ... and only that one
    jobs.run_due()
    assert _rung_jobs(jobs) == planned
    assert redis.Redis.from_url(redis_url).exists(MARKER_KEY)


def test_worker_lists_itself_again_after_redis_lost_its_registry(app, redis_url):
    with app.app_context():
        queues = get_queues(app)
    connection = queues[0].connection
    worker = RepairDeskWorker(queues, connection=connection)
    worker.register_birth()
    assert worker.key in {w.key for w in Worker.all(connection=connection)}
    redis.Redis.from_url(redis_url).flushdb()
    assert Worker.all(connection=connection) == []  # /healthz said "missing"
    worker.heartbeat()
    assert [w.name for w in Worker.all(connection=connection)] == [worker.name]


def test_a_heartbeat_is_one_round_trip_to_redis_and_one_a_second_at_most(app):
    # rq beats several times for every job; its heartbeat sent three commands one
    # by one and ours asked about the registry in a fourth round trip. And rq beats
    # before and after every dequeue: with an SMS job per report in a burst, that
    # was two round trips a job for a key that lives seven minutes (60 Redis
    # commands a job, 48 now).
    with app.app_context():
        queues = get_queues(app)
    connection = queues[0].connection
    with freeze_time("2026-11-27 09:00:00") as clock:
        worker = RepairDeskWorker(queues, connection=connection)
        worker.register_birth()
        worker.heartbeat()  # (a new connection's own handshake is not the heartbeat's)
        sent = []
        pool = connection.connection_pool
        original = pool.connection_class
        real_send = original.send_packed_command

        def counting(self, command, check_health=True):
            sent.append(command)
            return real_send(self, command, check_health)

        original.send_packed_command = counting
        try:
            clock.tick(0.5)
            worker.heartbeat()
            assert sent == []  # half a second after the last: none
            clock.tick(0.5)
            worker.heartbeat()
            assert len(sent) == 1
            worker.heartbeat(timeout=600)  # rq's beat with a timeout of its own
            assert len(sent) == 2
        finally:
            original.send_packed_command = real_send
    assert connection.ttl(worker.key) > worker.worker_ttl


def test_rq_backs_off_at_most_a_second_between_reconnects():
    assert RepairDeskWorker.max_connection_wait_time <= 1.0
    assert RepairDeskWorker.exponential_backoff_factor == 1.0


def test_while_redis_is_away_the_watch_takes_due_rungs_itself(
    settings, resident, clock
):
    from repair import create_app

    down = create_app({**settings, "REDIS_URL": "redis://127.0.0.1:1/0"})
    number = resident.report(description=URGENT_TEXT, spot="5楼")
    clock.tick(timedelta(minutes=31))  # the contact deadline passed during an outage
    watch = SweepTicker(down)
    assert watch.tick(now=100.0) == "outage-sweep"
    assert watch.tick(now=100.5) == "nothing"  # not more often than every 2 s
    with down.app_context():
        ticket = db.session.scalar(sa.select(Ticket).where(Ticket.number == number))
        steps = db.session.scalars(
            sa.select(SlaStep.rung).where(SlaStep.ticket_id == ticket.id)
        ).all()
        db.engine.dispose()
    assert "breach" in steps


def test_a_dead_schedulers_locks_expire_within_seconds(app, redis_url):
    with app.app_context():
        queues = get_queues(app)
    holder, other = SchedulerThread(queues, 0.05), SchedulerThread(queues, 0.05)
    holder.step(0.0)
    other.step(0.0)
    assert holder.holds_locks and not other.holds_locks
    connection = redis.Redis.from_url(redis_url)
    keys = [holder.scheduler.get_locking_key(q.name) for q in queues]
    assert all(0 < connection.ttl(key) <= LOCK_SECONDS for key in keys)
    holder.step(RETRY_SECONDS)  # the heartbeat keeps them short, too
    assert all(0 < connection.ttl(key) <= LOCK_SECONDS for key in keys)
    # The holder is killed -9: no release. Its locks run out (here: now) ...
    connection.delete(*keys)
    other.step(RETRY_SECONDS)  # ... and the next attempt of another takes them
    assert other.holds_locks


def _note_done() -> str:
    return "done"


def test_a_worker_goes_on_when_redis_goes_away_as_a_job_ends(
    app, redis_url, monkeypatch
):
    """The fault run lost both workers this way: Redis was killed while rq wrote a
    job's end, and the ConnectionError took the worker out of rq's loop."""
    from rq.worker.base import BaseWorker

    with app.app_context():
        queues = get_queues(app)
    connection = queues[0].connection
    worker = RepairDeskWorker(queues, connection=connection)
    worker.register_birth()
    job = queues[0].enqueue(_note_done)

    def redis_away(*args, **kwargs):
        raise redis.exceptions.ConnectionError("Error 111 connecting: refused")

    monkeypatch.setattr(BaseWorker, "_finalize_success", redis_away)
    monkeypatch.setattr(BaseWorker, "_finalize_failure", redis_away)
    worker.execute_job(job, queues[0])  # no exception: rq's loop goes on
    monkeypatch.undo()
    worker.register_death()


def test_a_redis_failover_while_rq_records_a_job_does_not_end_the_worker(
    app, monkeypatch
):
    from types import SimpleNamespace

    from rq import SimpleWorker

    with app.app_context():
        queues = get_queues(app)
    worker = RepairDeskWorker(queues, connection=queues[0].connection)

    def failed_over(*args, **kwargs):
        raise redis.ConnectionError("Connection closed by server.")

    for step in ("execute_job", "check_for_suspension", "run_maintenance_tasks"):
        monkeypatch.setattr(SimpleWorker, step, failed_over)
    # rq's own loop quits on any of these; ours goes on to its next dequeue.
    worker.execute_job(SimpleNamespace(id="photos-1"), queues[0])
    worker.check_for_suspension(False)
    worker.run_maintenance_tasks()

    def broken(*args, **kwargs):
        raise ValueError("a bug, not Redis")

    monkeypatch.setattr(SimpleWorker, "execute_job", broken)
    with pytest.raises(ValueError):  # nothing but Redis's errors is swallowed
        worker.execute_job(SimpleNamespace(id="photos-1"), queues[0])

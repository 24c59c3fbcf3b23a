"""Redis Sentinel: the app, the limiter, the scheduler and the workers follow a
failover to the new master, and no ticket is lost on the way."""

from __future__ import annotations

import time

import pytest
import redis
import sqlalchemy as sa

from repair import create_app
from repair.broker import get_redis, parse_sentinels
from repair.db import db
from repair.security import limiter
from repair.seed import seed_demo
from tests.actions import ResidentActions
from tests.sentinel_cluster import MASTER_NAME, SentinelCluster
from tests.test_resident_bad_input import _any_code


def test_sentinel_addresses_are_parsed():
    assert parse_sentinels("10.0.0.1:26379, sentinel-b:26380,sentinel-c") == [
        ("10.0.0.1", 26379),
        ("sentinel-b", 26380),
        ("sentinel-c", 26379),
    ]


@pytest.fixture
def cluster():
    with SentinelCluster() as started:
        yield started


@pytest.fixture
def sentinel_app(app, settings, cluster):
    with app.app_context():
        seed_demo(app.instance_path)
    sentinel_app = create_app(
        {
            **settings,
            # db 0 of the test's own cluster, whatever Redis the suite runs on
            "REDIS_URL": "redis://127.0.0.1/0",
            "REDIS_SENTINELS": cluster.sentinels,
            "REDIS_SENTINEL_MASTER": MASTER_NAME,
            "REDIS_TIMEOUT": "0.5s",
            "RATELIMIT_ENABLED": True,
            "SUBMIT_RATE_LIMIT": "1000 per hour",
        }
    )
    yield sentinel_app
    limiter._storage_dead = False  # one limiter for every app in this process


def _ticket_ids() -> list[int]:
    from repair.models import Ticket

    return db.session.scalars(sa.select(Ticket.id).order_by(Ticket.id)).all()


def _scheduled_rungs(port: int, ticket_id: int) -> list[bytes]:
    return redis.Redis(port=port).keys(f"rq:job:sla-{ticket_id}-*")


def test_a_master_killed_during_submissions_loses_no_ticket(sentinel_app, cluster):
    from dispatch.worker.queues import get_queues
    from dispatch.worker.recovery import recover_lost_work
    from dispatch.worker.scheduler import SchedulerThread
    from dispatch.worker.workers import RepairDeskWorker

    resident = ResidentActions(sentinel_app.test_client(), _any_code(sentinel_app))
    before = [resident.submit(description=f"灯坏了 {i}").status_code for i in range(4)]
    with sentinel_app.app_context():
        first = _ticket_ids()
        assert _scheduled_rungs(cluster.master_port, first[-1])
        queues = get_queues(sentinel_app)
        scheduler = SchedulerThread(queues, 0.25)
        scheduler.step(time.monotonic())
        assert scheduler.holds_locks

    cluster.kill_master()
    during = [resident.submit(description=f"门坏了 {i}").status_code for i in range(3)]
    failover_seconds = cluster.wait_for_failover()
    after = [resident.submit(description=f"窗坏了 {i}").status_code for i in range(4)]

    assert before + during + after == [303] * 11
    assert failover_seconds < 20
    with sentinel_app.app_context():
        ids = _ticket_ids()
        assert len(ids) == 11
        pool = get_redis(sentinel_app).connection_pool
        assert pool.get_master_address() == ("127.0.0.1", cluster.replica_port)
        # The app writes to the new master: the last ticket's rungs are there. A
        # request that met a stale connection first gave up on Redis at once (one
        # attempt per request) and left its jobs to the workers' recovery, which
        # puts every working ticket's rungs back from the database.
        assert _scheduled_rungs(cluster.replica_port, ids[-1])
        recover_lost_work()
        for ticket_id in ids[-4:]:
            assert _scheduled_rungs(cluster.replica_port, ticket_id)
        # The scheduler goes on from the new master (its locks were replicated).
        _retry(lambda: scheduler.step(time.monotonic()))
        assert scheduler.holds_locks
        worker = RepairDeskWorker(queues, connection=queues[0].connection)
        worker.work(burst=True)
        assert all(queue.count == 0 for queue in get_queues(sentinel_app))


def _retry(action, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return action()
        except (redis.RedisError, OSError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)

"""Fault run: deadlines across a Redis that dies and comes back empty, and across
the death of the worker that holds the scheduler locks.

Tickets are bulk-inserted with SLAs shortened to seconds (as in
tests/benchmarks/bench_sla.py) so that rungs fall due all through a window; two
real `repairdesk worker --with-scheduler` processes take them. During the window
this script kills -9 its own Redis server, starts it again empty on the same port
a few seconds later, and later kills -9 the worker that holds the scheduler locks.
It prints how many rungs were lost, doubled and late, and the lateness
percentiles; it exits 1 when a rung is lost or doubled or p99 > 5 s. The rungs
expected are those of the ladder as the run re-planned it, read back from the
database: an urgent ticket handed to the backup at its contact deadline gets the
backup's own contact window (bench_sla.expected_rungs).

Run with `make faults` (SQLite), or with REPAIRDESK_BENCH_DATABASE_URL set for
PostgreSQL.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "benchmarks")]

import redis  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from bench_sla import (  # noqa: E402
    FIRST_RUNG_AFTER,
    SLA_SETTINGS,
    collect,
    insert_tickets,
    plan_all,
    planned_deadlines,
    rungs_by_name,
    start_workers,
    stop_workers,
    wait_for_rungs,
    wait_for_workers,
    worker_env,
)
from common import (  # noqa: E402
    build_app,
    database,
    migrate_and_seed,
    report_lateness,
    run_in_work_dir,
    stop_on_sigterm,
)

from dispatch.models import OutboxMessage, SlaStep  # noqa: E402
from dispatch.worker.queues import QUEUE_NAMES  # noqa: E402
from repair.db import db  # noqa: E402

TARGET_P99_S = 5.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class RedisProcess:
    """A redis-server of this run's own, on a fixed port, killed and started at will."""

    def __init__(self, work: Path):
        self.port = free_port()
        self.work = work
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                shutil.which("redis-server") or "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.work),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url)
        for _ in range(100):
            try:
                client.ping()
                return
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()


def scheduler_holder(redis_url: str) -> int | None:
    """Returns the pid of the worker holding the scheduler locks, if any."""
    client = redis.Redis.from_url(redis_url)
    for name in QUEUE_NAMES:
        holder = client.get(f"rq:scheduler-lock:{name}")
        if holder:
            return int(holder.decode().split(":")[1])
    return None


def doubled(app) -> int:
    """Counts rungs taken twice and texts written twice for one event and phone."""
    with app.app_context():
        steps = db.session.execute(
            sa.select(SlaStep.ticket_id, SlaStep.clock, SlaStep.rung, SlaStep.due_at)
            .group_by(SlaStep.ticket_id, SlaStep.clock, SlaStep.rung, SlaStep.due_at)
            .having(sa.func.count() > 1)
        ).all()
        texts = db.session.execute(
            sa.select(OutboxMessage.event_id, OutboxMessage.to_phone)
            .where(OutboxMessage.event_id.is_not(None))
            .group_by(OutboxMessage.event_id, OutboxMessage.to_phone)
            .having(sa.func.count() > 1)
        ).all()
        db.session.remove()
    return len(steps) + len(texts)


def run(arguments, work: Path) -> int:
    server = RedisProcess(work)
    server.start()
    try:
        with database(work, "faults") as (database_url, database_label):
            print(f"backends: {database_label}; redis-server :{server.port}")
            app = build_app(database_url, server.url, work, **SLA_SETTINGS)
            refs = migrate_and_seed(app, work)
            env = worker_env(database_url, server.url, work / "instance")
            workers = start_workers(2, env, work, fork=False)
            try:
                wait_for_workers(server.url, 2, workers, 60)
                first_due = datetime.now(UTC) + timedelta(seconds=8)
                created = first_due - FIRST_RUNG_AFTER
                window = timedelta(seconds=arguments.window)
                ids = insert_tickets(
                    app,
                    refs,
                    arguments.tickets,
                    created,
                    window / arguments.tickets,
                    arguments.urgent_share,
                    "faults",
                )
                until = created + window + timedelta(seconds=30)
                planned = planned_deadlines(app, ids)
                plan_all(app, ids)
                print(
                    f"{len(ids)} tickets ({arguments.urgent_share:.0%} urgent), rungs"
                    f" due over {arguments.window + 30} s; 2 workers"
                )
                start = time.monotonic()
                schedule = [
                    (arguments.window * 0.25, "kill Redis"),
                    (arguments.window * 0.25 + arguments.outage, "Redis back, empty"),
                    (arguments.window * 0.6, "kill the scheduler's holder"),
                ]
                for at, what in schedule:
                    time.sleep(max(0.0, start + at - time.monotonic()))
                    if what == "kill Redis":
                        server.kill()
                    elif what == "Redis back, empty":
                        server.start()
                    else:
                        pid = scheduler_holder(server.url)
                        for worker in workers:
                            if worker.pid == pid:
                                worker.send_signal(signal.SIGKILL)
                        print(f"  killed worker pid {pid} (held the scheduler locks)")
                    print(f"  {time.monotonic() - start:5.1f} s: {what}")
                # The expected rungs are those of the ladder as re-planned: a
                # hand-over to the backup gives it its own contact window.
                expected, taken, ended = wait_for_rungs(
                    app, ids, until, planned, arguments.window + 90
                )
            finally:
                stop_workers(workers)
            print(
                f"rungs due: {len(expected)} ({rungs_by_name(expected)});"
                f" {len(expected.keys() & taken.keys())} of them taken"
            )
            lateness, missing = collect(expected, taken, ended)
            twice = doubled(app)
            with app.app_context():
                db.session.remove()
                db.engine.dispose()
    finally:
        server.kill()
    p99 = report_lateness(lateness, missing, TARGET_P99_S, doubled=twice)
    return 0 if not missing and not twice and p99 <= TARGET_P99_S else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickets", type=int, default=300)
    parser.add_argument("--window", type=int, default=60)
    parser.add_argument("--outage", type=float, default=3.0)
    # Urgent tickets hand over to the backup at the contact deadline; the backup's
    # own contact window re-plans their ladder (read back from the database).
    parser.add_argument("--urgent-share", type=float, default=0.3)
    parser.add_argument("--log-dir", help="keep the workers' logs in this folder")
    arguments = parser.parse_args()
    stop_on_sigterm()
    sys.exit(
        run_in_work_dir(
            "faults_", arguments.log_dir, lambda work: run(arguments, work), tail=60
        )
    )


if __name__ == "__main__":
    main()

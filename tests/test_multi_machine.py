"""Several machines on one: two gunicorn web servers (each with its own instance
folder), two rq workers as separate processes, PostgreSQL, Redis behind Sentinel
and a real S3 API for the photos, all on local ports.

Collected only on the PostgreSQL pass of `make test` (REPAIRDESK_TEST_DATABASE_URL
set; tests/conftest.py leaves it out otherwise): processes on several machines
share a database server, which a SQLite file is not, and CI runs it once.
"""

from __future__ import annotations

import hashlib
import html
import os
import re
import signal
import subprocess
import sys
import time
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
import redis
import requests
import sqlalchemy as sa

from dispatch.models import OutboxMessage, SlaStep
from dispatch.sla import clock as sla
from dispatch.sla.escalation import job_id, policy_for
from dispatch.worker.queues import get_queues
from repair import create_app
from repair.db import db, utcnow
from repair.models import Photo, Ticket
from repair.photos.jobs import JOB_GRACE, sweep_photos
from repair.seed import seed_demo
from tests.actions import hidden_fields
from tests.factories import jpeg_bytes
from tests.sentinel_cluster import MASTER_NAME, SentinelCluster, free_port
from tests.test_resident_bad_input import _any_code

ROOT = Path(__file__).resolve().parent.parent
SECRET = "one secret for every machine"
LIMIT = 3  # reports an hour from one address, counted in Redis by every server
_PHOTO_LINK = re.compile(r"/photos/[0-9a-f]{64}/(?:thumb|display)\.jpg\?[^\"\s]+")
_PRIVATE_LINK = re.compile(r'id="private-link" href="([^"]+)"')


def _wait_until(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = condition()
            if result:
                return result
        except (requests.RequestException, redis.RedisError, OSError):
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout} s for {what}")
        time.sleep(0.1)


class Machines:
    """Starts and stops the processes of the layout; logs in tmp_path."""

    def __init__(self, tmp_path: Path, env: dict[str, str]):
        self.tmp_path = tmp_path
        self.env = env
        self.processes: dict[str, subprocess.Popen] = {}

    def start(self, name: str, args: list[str], **env: str) -> subprocess.Popen:
        folder = self.tmp_path / name
        folder.mkdir()
        log = open(folder / "log.txt", "wb")  # noqa: SIM115
        self.processes[name] = subprocess.Popen(
            [sys.executable, *args],
            cwd=ROOT,
            env={
                **self.env,
                "REPAIRDESK_INSTANCE_PATH": str(folder / "instance"),
                "REPAIRDESK_PHOTO_DIR": str(folder / "photos"),
                **env,
            },
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        return self.processes[name]

    def web(self, name: str) -> str:
        """Starts gunicorn with the repository's config; returns its base URL."""
        port = free_port()
        gunicorn = ["-m", "gunicorn", "-c", str(ROOT / "deploy" / "gunicorn.conf.py")]
        self.start(
            name, gunicorn, REPAIRDESK_BIND=f"127.0.0.1:{port}", WEB_CONCURRENCY="1"
        )
        return f"http://127.0.0.1:{port}"

    def worker(self, name: str, **env: str) -> subprocess.Popen:
        return self.start(
            name, [str(ROOT / "tests" / "multi_machine_worker.py")], **env
        )

    def log(self, name: str) -> str:
        return (self.tmp_path / name / "log.txt").read_text(errors="replace")[-3000:]

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


class Resident:
    """A resident's phone behind the proxy: its own address and cookies."""

    def __init__(self, address: str, code: str):
        self.headers = {"X-Forwarded-For": address}
        self.code = code
        self.session = requests.Session()

    def submit(self, server: str, description: str) -> requests.Response:
        form = self.session.get(f"{server}/q/{self.code}", headers=self.headers)
        assert form.status_code == 200, form.text[:500]
        data = {**hidden_fields(form.text), "description": description, "spot": "3楼"}
        red, green, blue = hashlib.sha256(description.encode()).digest()[:3]
        photo = jpeg_bytes(color=(red, green, blue))  # a photo of its own
        return self.session.post(
            f"{server}/q/{self.code}",
            data=data,
            files=[("photos", ("photo.jpg", photo, "image/jpeg"))],
            headers=self.headers,
            allow_redirects=False,
            timeout=30,
        )

    def report(self, server: str, description: str) -> str:
        """Submits and returns the private tracking link (path) it was given."""
        response = self.submit(server, description)
        assert response.status_code == 303, response.text[:2000]
        received = self.session.get(server + response.headers["Location"], timeout=30)
        return html.unescape(_PRIVATE_LINK.search(received.text).group(1))


@pytest.fixture
def layout(app, settings, database_url, s3_server, fake_twilio, tmp_path):
    if not database_url.startswith("postgresql"):
        pytest.fail("the multi-machine test needs REPAIRDESK_TEST_DATABASE_URL")
    with app.app_context():
        seed_demo(app.instance_path)
    bucket = s3_server.new_bucket()
    with ExitStack() as stack:
        cluster = stack.enter_context(SentinelCluster())
        shared = {
            "DATABASE_URL": database_url,
            # db 0 of the test's own cluster, whatever Redis the suite runs on
            "REDIS_URL": "redis://127.0.0.1/0",
            "REDIS_SENTINELS": cluster.sentinels,
            "REDIS_SENTINEL_MASTER": MASTER_NAME,
            "REDIS_TIMEOUT": "0.5s",
            "SECRET_KEY": SECRET,
            "PUBLIC_URL": settings["PUBLIC_URL"],
            "RATELIMIT_ENABLED": True,
            "SUBMIT_RATE_LIMIT": f"{LIMIT} per hour",
            "TRUSTED_PROXIES": 1,
            "SMS_BACKEND": "twilio",
            "TWILIO_ACCOUNT_SID": fake_twilio.account_sid,
            "TWILIO_AUTH_TOKEN": fake_twilio.auth_token,
            "TWILIO_FROM": "+15005550006",
            "TWILIO_API_BASE_URL": fake_twilio.base_url,
            **s3_server.settings(bucket),
            # Its reports share an entrance and a category: grouped (并单), all but
            # the first would be held without clocks of their own. Grouping has
            # its own tests (test_storms.py); here every report is a job.
            "STORM_WINDOW": "0",
        }
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("REPAIRDESK_", "PROMETHEUS_", "TWILIO_"))
        }
        env.update({f"REPAIRDESK_{key}": str(value) for key, value in shared.items()})
        env.update(PYTHONPATH=str(ROOT), REPAIRDESK_RATELIMIT_ENABLED="true")
        machines = Machines(tmp_path, env)
        stack.callback(machines.stop)
        observer = create_app({**settings, **shared})  # the test's own view
        yield SimpleNamespace(
            machines=machines,
            cluster=cluster,
            observer=observer,
            bucket=bucket,
            code=_any_code(app),
            s3=s3_server,
            twilio=fake_twilio,
        )
        with observer.app_context():
            db.engine.dispose()


def _snapshot(observer) -> dict:
    """Counts what must survive: tickets, photos, deadlines, messages."""
    with observer.app_context():
        tickets = db.session.scalars(sa.select(Ticket).order_by(Ticket.id)).all()
        scheduled = {
            job
            for queue in get_queues(observer)
            for job in queue.scheduled_job_registry.get_job_ids()
            if job.startswith("sla-")
        }
        expected = set()
        for ticket in tickets:
            urgency = ticket.urgency.value if ticket.urgency else None
            for rung, _when in sla.schedule(
                ticket, urgency, policy_for(ticket.community_id)
            ):
                expected.add(job_id(ticket.id, rung.clock, rung.name))
        snapshot = {
            "tickets": {t.number: t.next_due_at for t in tickets},
            "photos": {
                (p.ticket.number, p.sha256 if p.state == "ready" else p.original)
                for p in db.session.scalars(sa.select(Photo))
            },
            "ready": db.session.scalar(
                sa.select(sa.func.count()).where(Photo.state == "ready")
            ),
            "rung jobs": scheduled,
            "rung jobs planned": expected,
            "rungs taken": db.session.scalar(sa.select(sa.func.count(SlaStep.id))),
            "messages": {
                m.dedupe_key: m.provider_id
                for m in db.session.scalars(sa.select(OutboxMessage))
            },
        }
        db.session.rollback()
        return snapshot


def _all_sent(observer, count: int) -> bool:
    with observer.app_context():
        sent = db.session.scalar(
            sa.select(sa.func.count()).where(OutboxMessage.provider_id.is_not(None))
        )
        db.session.rollback()
        return sent == count


def _settle(observer, machines: Machines, ready: int, what: str) -> dict:
    """Waits until this many photos are ready and every message is sent; returns
    the snapshot then (or fails with what the worker said)."""
    try:
        return _wait_until(
            lambda: (
                (state := _snapshot(observer))["ready"] == ready
                and _all_sent(observer, len(state["messages"]))
                and state
            ),
            120,
            what,
        )
    except TimeoutError:
        pytest.fail(f"{what}: {_snapshot(observer)}\n{machines.log('worker-2')}")


def _read_through(server: str, private_link: str, number: str) -> list[bytes]:
    """Reads a ticket and its photos through a server, as a stranger holding the
    link; returns the photo bytes it served."""
    page = requests.get(server + private_link, timeout=30)
    assert page.status_code == 200 and number in page.text
    links = sorted({html.unescape(link) for link in _PHOTO_LINK.findall(page.text)})
    assert len(links) == 2  # the thumbnail and the display copy of its photo
    photos = []
    for link in links:
        response = requests.get(server + link, timeout=30)
        assert response.status_code == 200, (server, link)
        assert response.headers["Content-Type"] == "image/jpeg"
        assert "immutable" in response.headers["Cache-Control"]
        photos.append(response.content)
    return photos


def test_two_servers_two_workers_sentinel_and_s3_lose_and_double_nothing(layout):
    machines, cluster, observer = layout.machines, layout.cluster, layout.observer
    code = layout.code
    started = time.monotonic()
    lap = lambda what: print(f"{time.monotonic() - started:6.1f} s {what}")  # noqa: E731
    hold = machines.tmp_path / "held-photo-job"
    first, second = machines.web("web-1"), machines.web("web-2")
    doomed = machines.worker("worker-1", REPAIRDESK_TEST_HOLD_PHOTO_JOB=str(hold))
    for server in (first, second):
        _wait_until(
            lambda s=server: requests.get(f"{s}/healthz", timeout=5).status_code == 200,
            240,  # importing the app takes seconds; on a loaded CI machine, minutes
            f"{server} to answer",
        )

    lap("servers up")
    # The rate limit is one, whichever server a resident's reports reach.
    neighbour = Resident("203.0.113.9", code)
    links = {}
    for server, text in (
        (first, "路灯不亮"),
        (second, "楼道灯坏了"),
        (first, "门禁坏了"),
    ):
        links[text] = (
            second if server == first else first,
            neighbour.report(server, text),
        )
    assert neighbour.submit(second, "扶手松动").status_code == 429
    assert neighbour.submit(first, "扶手松动了").status_code == 429
    for address, text in (("203.0.113.1", "水管漏水"), ("203.0.113.2", "墙皮脱落")):
        links[text] = (second, Resident(address, code).report(first, text))

    # worker-1 is killed -9 in the middle of a photo job.
    pid = int(_wait_until(lambda: hold.exists() and hold.read_text(), 120, "a job"))
    assert pid == doomed.pid
    lap("worker-1 held mid-job")
    before = _snapshot(observer)
    assert len(before["tickets"]) == 5 and len(before["photos"]) == 5
    doomed.send_signal(signal.SIGKILL)
    doomed.wait(timeout=10)
    machines.worker("worker-2")
    _settle(observer, machines, ready=4, what="worker-2 to take over")
    lap("worker-2 took over")

    # Redis fails over (with what it had replicated: WAIT before the kill).
    redis.Redis(port=cluster.master_port).execute_command("WAIT", 1, 2000)
    cluster.kill_master()
    assert cluster.wait_for_failover() < 20
    for server in (first, second):
        _wait_until(
            lambda s=server: (
                requests.get(f"{s}/healthz", timeout=5).json()["redis"] == "ok"
            ),
            20,
            f"{server} on the new master",
        )
    lap("failed over")
    for address, text in (("203.0.113.3", "电梯异响"), ("203.0.113.4", "井盖松动")):
        links[text] = (first, Resident(address, code).report(second, text))
    _settle(observer, machines, ready=6, what="the reports after the failover")

    # The held photo's job died with its worker: the minute sweep takes a photo
    # left pending past JOB_GRACE (run here with its clock moved on, not waited).
    with observer.app_context():
        swept = sweep_photos(now=utcnow() + JOB_GRACE + timedelta(minutes=1))
    assert swept["processed"] == 1
    after = _settle(observer, machines, ready=7, what="the swept photo")
    lap("settled")

    # Nothing lost, nothing doubled.
    assert len(after["tickets"]) == 7 == len(set(after["tickets"]))
    for number, due in before["tickets"].items():
        assert after["tickets"][number] == due  # deadlines unchanged
    assert all(after["tickets"].values())
    assert after["rung jobs"] == after["rung jobs planned"]
    assert before["rung jobs"] <= after["rung jobs"]
    assert after["rungs taken"] == before["rungs taken"] == 0
    assert len(after["photos"]) == 7
    assert {number for number, _ in after["photos"]} == set(after["tickets"])
    keys = layout.s3.keys(layout.bucket)
    assert len([key for key in keys if "/photos/" in key]) == 14
    # The two reports refused by the rate limit keep their photos privately for
    # the resident's next try (a 429 keeps what was given), until they expire.
    kept = [key for key in keys if "/photos/" not in key]
    assert all("/private/" in key for key in kept)
    originals = [
        key
        for key in kept
        if "/private/originals/" in key and not key.endswith(".preview")
    ]
    assert len(originals) == 2
    messages = after["messages"]
    assert set(before["messages"]) <= set(messages)
    assert all(messages.values())
    sent = [message["sid"] for message in layout.twilio.messages]
    assert sorted(sent) == sorted(messages.values())  # each sent once, none twice
    for text, (server, link) in links.items():
        number = link.split("/t/")[1].split("?")[0]
        served = _read_through(server, link, number)
        assert served[0] != served[1], text
    for name in ("web-1", "web-2", "worker-2"):
        assert machines.processes[name].poll() is None, machines.log(name)
    lap("checked")

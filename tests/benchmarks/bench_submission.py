"""Benchmark: the resident's photo report side by side with its peers, over HTTP.

Each app runs under gunicorn with 2 sync workers on this machine: a ~40-line Flask
floor (tests/benchmarks/floor_app.py: stores the file and one row), RepairDesk on
SQLite and on PostgreSQL (each with 2 rq workers making the display copies), and,
when REPAIRDESK_BENCH_HELPDESK_VENV names a venv with django-helpdesk, its public
ticket form. Each run posts N submissions (default 200) at concurrency 4 with one
photo: a 12 MP 3 MB phone JPEG, or what report.js sends (1600 px, quality 0.85,
upright, no metadata). Forms (CSRF tokens) are fetched before a run starts; a run
times the posts only. Every ticket is then verified in the database and its photo
on disk; for RepairDesk the run also waits for every display copy and reports the
delay from the ticket's commit until its display copy existed.

Runs are interleaved (round after round, every app and photo in each round) and
the ratios are computed within a round: the machine is shared, absolute figures
are noisy. Server CPU is that of gunicorn's processes and the rq workers
(PostgreSQL's and Redis's own processes are not counted).

With PostgreSQL, helpdesk runs on it too (its venv has psycopg), and RepairDesk on
PostgreSQL is compared with helpdesk on PostgreSQL: the database server's CPU is
spent on the same two cores. With --attribution, RepairDesk runs a third time on
SQLite without dispatch's work at intake (without_dispatch.py): the difference
between the two RepairDesk runs is what classifying, timing, routing and
dispatching a report (and sending its SMS) costs, which helpdesk's form does not do.

Run: .venv/bin/python tests/benchmarks/bench_submission.py [--submissions 200]
     [--rounds 2] [--concurrency 4] [--attribution]
PostgreSQL: REPAIRDESK_BENCH_DATABASE_URL=postgresql://…/db (a schema per run) and
REPAIRDESK_BENCH_REDIS_URL=redis://…/N (an empty db; flushed at the end).
django-helpdesk: make helpdesk-venv, then REPAIRDESK_BENCH_HELPDESK_VENV=.helpdesk-venv
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import io
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC
from http.cookies import SimpleCookie
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import psutil  # noqa: E402
from common import (  # noqa: E402
    ROOT,
    build_app,
    database,
    migrate_and_seed,
    percentile,
    stop_on_sigterm,
)
from PIL import Image  # noqa: E402

HELPDESK_VENV_ENV = "REPAIRDESK_BENCH_HELPDESK_VENV"
HOW_TO_HELPDESK = (
    "django-helpdesk is not measured: build its venv from PyPI with `make"
    " helpdesk-venv` (python3 -m venv .helpdesk-venv && .helpdesk-venv/bin/pip install"
    " django-helpdesk gunicorn), then run with"
    f" {HELPDESK_VENV_ENV}=$PWD/.helpdesk-venv"
)
HIDDEN = re.compile(r'name="(csrf_token|submission_key)" type="hidden" value="([^"]*)"')
DJANGO_CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
QUEUE_OPTION = re.compile(r'<option value="(\d+)"')
TARGET_12MP = 1.0  # x helpdesk's throughput, and p95 at most helpdesk's
TARGET_BROWSER = 2.0  # x helpdesk's throughput


# ---------------------------------------------------------------- the photos


def phone_jpeg() -> bytes:
    """Returns the 12 MP phone photo of bench_photos.py (~3 MB, orientation 6)."""
    from bench_photos import make_phone_jpeg

    return make_phone_jpeg()


def browser_jpeg(phone: bytes) -> bytes:
    """Returns what report.js sends for that photo: upright, longest side 1600 px,
    JPEG quality 0.85, no metadata (a canvas export)."""
    image = Image.open(io.BytesIO(phone))
    image = image.transpose(Image.Transpose.ROTATE_270)  # orientation 6, upright
    image = image.resize((1200, 1600), Image.Resampling.BILINEAR)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


def variant(jpeg: bytes, number: int) -> bytes:
    """Returns the JPEG with two of its quantisation table's highest-frequency
    entries changed: a different photo (other pixels, other hashes: no two tickets
    share an original or a display copy) without encoding it again."""
    start = jpeg.index(b"\xff\xdb")  # the first DQT segment
    table = start + 5  # marker, length, precision/id byte
    if jpeg[start + 4] >> 4:
        raise ValueError("16-bit quantisation tables are not varied")
    data = bytearray(jpeg)
    data[table + 63] = 1 + number % 255
    data[table + 62] = 1 + (number // 255) % 255
    return bytes(data)


# ---------------------------------------------------------------- HTTP


@dataclass
class Post:
    """One prepared submission: everything a run sends, built before it starts."""

    key: str  # what verify() finds the ticket by
    path: str
    body: bytes
    content_type: str
    cookie: str = ""
    extra_headers: dict = field(default_factory=dict)


def multipart(fields: dict[str, str], files: dict[str, tuple[str, bytes]]):
    """Returns (body, content type) of a multipart/form-data post."""
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in fields.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
            f"{value}\r\n".encode()
        )
    for name, (filename, content) in files.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}";'
            f' filename="{filename}"\r\nContent-Type: image/jpeg\r\n\r\n'.encode()
            + content
            + b"\r\n"
        )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def request(port: int, method: str, path: str, body=None, headers=None):
    """Returns (status, headers, body) of one request on a fresh connection."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.headers, response.read()
    finally:
        connection.close()


def cookies_of(headers) -> str:
    """Returns the Cookie header that echoes a response's Set-Cookie headers."""
    jar = SimpleCookie()
    for value in headers.get_all("Set-Cookie") or []:
        jar.load(value)
    return "; ".join(f"{name}={morsel.value}" for name, morsel in jar.items())


@dataclass
class RunResult:
    wall: float
    latencies: list[float]
    statuses: list[int]
    cpu: float  # the web server's, seconds
    job_cpu: float  # the photo jobs', seconds
    #: what else used the machine while the posts were sent: the jobs (the
    #: contractor's SMS goes at once) and the client, seconds; the share of both
    #: CPUs busy with anything (1.0: no CPU was ever idle)
    job_cpu_during: float = 0.0
    client_cpu: float = 0.0
    busy: float = 0.0

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.wall

    @property
    def p95(self) -> float:
        return percentile(self.latencies, 0.95)


def post_all(port: int, posts: list[Post], concurrency: int) -> tuple:
    """Sends the posts at the given concurrency; returns wall time, latencies and
    statuses (in the posts' order)."""
    latencies = [0.0] * len(posts)
    statuses = [0] * len(posts)
    next_index = iter(range(len(posts)))
    lock = threading.Lock()

    def worker() -> None:
        while True:
            with lock:
                index = next(next_index, None)
            if index is None:
                return
            post = posts[index]
            headers = {"Content-Type": post.content_type, **post.extra_headers}
            if post.cookie:
                headers["Cookie"] = post.cookie
            started = time.perf_counter()
            try:
                status, _, _ = request(port, "POST", post.path, post.body, headers)
            except OSError:
                status = 0
            latencies[index] = time.perf_counter() - started
            statuses[index] = status

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started, latencies, statuses


# ---------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Processes:
    """The processes of one app (gunicorn and its workers, rq workers), started in
    their own process groups so that they can be stopped together."""

    def __init__(self, log: Path) -> None:
        self.log = log
        self.started: list[subprocess.Popen] = []
        self.jobs: set[int] = set()  # pids of the rq workers

    def start(
        self, command: list[str], env: dict, cwd: Path | str, job: bool = False
    ) -> None:
        with self.log.open("ab") as output:
            self.started.append(
                subprocess.Popen(
                    command,
                    env=env,
                    cwd=cwd,
                    stdout=output,
                    stderr=output,
                    start_new_session=True,
                )
            )
        if job:
            self.jobs.add(self.started[-1].pid)

    def cpu_seconds(self, jobs: bool = False) -> float:
        """Returns the CPU time (user + system) the live web processes (or with
        ``jobs``, the rq workers) have used."""
        total = 0.0
        for popen in self.started:
            if (popen.pid in self.jobs) != jobs:
                continue
            with contextlib.suppress(psutil.NoSuchProcess):
                parent = psutil.Process(popen.pid)
                for process in [parent, *parent.children(recursive=True)]:
                    with contextlib.suppress(psutil.NoSuchProcess):
                        times = process.cpu_times()
                        total += times.user + times.system
        return total

    def stop(self) -> None:
        for popen in self.started:
            if popen.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(popen.pid, signal.SIGTERM)
        for popen in self.started:
            try:
                popen.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(popen.pid, signal.SIGKILL)
                popen.wait()


def wait_until_up(port: int, path: str, log: Path, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            status, _, _ = request(port, "GET", path)
            if status < 500:
                return
        time.sleep(0.2)
    raise SystemExit(f"the server on port {port} did not come up; see {log}")


def gunicorn(python: str, port: int, app: str) -> list[str]:
    return [
        python,
        "-m",
        "gunicorn",
        "--workers",
        "2",
        "--worker-class",
        "sync",
        "--bind",
        f"127.0.0.1:{port}",
        "--timeout",
        "120",
        app,
    ]


# ---------------------------------------------------------------- the apps


class Target:
    """An app under test: prepare() builds a run's posts, verify() checks each."""

    name = ""

    def prepare(self, photos: list[bytes], tag: str) -> list[Post]:
        raise NotImplementedError

    def verify(self, posts: list[Post]) -> tuple[int, list[float]]:
        """Returns how many posts left a ticket and its photo on disk, and the
        delays (s) until each display copy existed (RepairDesk only)."""
        raise NotImplementedError

    def cpu_seconds(self) -> tuple[float, float]:
        """Returns the CPU seconds used so far by the web server and by the jobs."""
        return self.processes.cpu_seconds(), self.processes.cpu_seconds(jobs=True)

    def stop(self) -> None:
        self.processes.stop()


class Floor(Target):
    name = "floor"

    def __init__(self, work: Path) -> None:
        self.root = work / "floor"
        self.root.mkdir()
        self.port = free_port()
        self.processes = Processes(work / "floor.log")
        env = {**os.environ, "FLOOR_DIR": str(self.root)}
        self.processes.start(
            gunicorn(sys.executable, self.port, "floor_app:app"),
            env,
            Path(__file__).parent,
        )
        wait_until_up(self.port, "/", self.processes.log)

    def prepare(self, photos: list[bytes], tag: str) -> list[Post]:
        posts = []
        for index, photo in enumerate(photos):
            key = f"{tag}-{index}"
            body, content_type = multipart(
                {"description": key}, {"photo": ("IMG_0001.jpg", photo)}
            )
            posts.append(Post(key, "/report", body, content_type))
        return posts

    def verify(self, posts: list[Post]) -> tuple[int, list[float]]:
        import sqlite3

        connection = sqlite3.connect(self.root / "floor.sqlite3")
        rows = dict(connection.execute("SELECT description, photo FROM report"))
        connection.close()
        found = sum(
            1
            for post in posts
            if post.key in rows and (self.root / "photos" / rows[post.key]).is_file()
        )
        return found, []


class RepairDesk(Target):
    def __init__(
        self,
        work: Path,
        label: str,
        database_url: str,
        redis_url: str,
        app: str = "repair:create_app()",
    ):
        self.name = f"RepairDesk ({label})"
        self.work = work / ("repairdesk-" + re.sub(r"\W+", "-", label.lower()))
        self.work.mkdir()
        self.app = build_app(database_url, redis_url, self.work)
        refs = migrate_and_seed(self.app, self.work)
        from repair.db import db
        from repair.models import Entrance

        with self.app.app_context():
            self.codes = [
                db.session.get(Entrance, entrance).code
                for entrance in refs["entrances"]
            ]
            db.session.remove()
        self.port = free_port()
        self.processes = Processes(self.work / "server.log")
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(ROOT), str(Path(__file__).parent)]),
            "REPAIRDESK_INSTANCE_PATH": str(self.work / "instance"),
            "REPAIRDESK_SECRET_KEY": self.app.config["SECRET_KEY"],
            "REPAIRDESK_DATABASE_URL": database_url,
            "REPAIRDESK_REDIS_URL": redis_url,
            "REPAIRDESK_PHOTO_DIR": self.app.config["PHOTO_DIR"],
            "REPAIRDESK_PUBLIC_URL": self.app.config["PUBLIC_URL"],
            "REPAIRDESK_SMS_BACKEND": "console",
            "REPAIRDESK_RATELIMIT_ENABLED": "false",
            "REPAIRDESK_SUBMIT_RATE_LIMIT": "1000000 per hour",
            "REPAIRDESK_LOG_FORMAT": "text",
            # 200 lamp reports at a few entrances would be one storm (并单): held
            # in groups, most would not be dispatched. Measure the full path.
            "REPAIRDESK_STORM_WINDOW": "0",
        }
        self.processes.start(gunicorn(sys.executable, self.port, app), env, ROOT)
        for _ in range(2):
            self.processes.start(
                [sys.executable, "-m", "repair.cli", "worker", "--without-scheduler"],
                env,
                ROOT,
                job=True,
            )
        wait_until_up(self.port, f"/q/{self.codes[0]}", self.processes.log)

    def prepare(self, photos: list[bytes], tag: str) -> list[Post]:
        posts = []
        for index, photo in enumerate(photos):
            code = self.codes[index % len(self.codes)]
            status, headers, page = request(self.port, "GET", f"/q/{code}")
            assert status == 200, f"{self.name}: the form answered {status}"
            hidden = dict(HIDDEN.findall(page.decode()))
            key = f"{tag}-{index} 楼道灯不亮，第{index}次"
            body, content_type = multipart(
                {**hidden, "description": key, "spot": f"{index % 30 + 1}楼楼梯口"},
                {"photos": ("IMG_0001.jpg", photo)},
            )
            posts.append(
                Post(key, f"/q/{code}", body, content_type, cookie=cookies_of(headers))
            )
        return posts

    def verify(self, posts: list[Post], wait: float = 600) -> tuple[int, list[float]]:
        import sqlalchemy as sa

        from repair.db import db
        from repair.models import Photo, Ticket
        from repair.photos.processing import LocalPhotoStore

        keys = {post.key for post in posts}
        store = LocalPhotoStore(self.app.config["PHOTO_DIR"])
        deadline = time.monotonic() + wait
        with self.app.app_context():
            while True:
                rows = db.session.execute(
                    sa.select(
                        Ticket.description, Photo.state, Photo.sha256, Photo.created_at
                    )
                    .join(Photo, Photo.ticket_id == Ticket.id)
                    .where(Ticket.description.in_(keys))
                ).all()
                db.session.rollback()
                if all(row.state != "pending" for row in rows) or (
                    time.monotonic() > deadline
                ):
                    break
                time.sleep(0.2)
            db.session.remove()
        found, delays = 0, []
        for row in rows:
            if row.state != "ready" or not store.exists(row.sha256):
                continue
            found += 1
            made = store.path(row.sha256).stat().st_mtime
            created = row.created_at
            if created.tzinfo is None:
                created = created.replace(tzinfo=UTC)
            delays.append(made - created.timestamp())
        return found, delays


HELPDESK_SETTINGS = """
from pathlib import Path
BASE = Path(__file__).resolve().parent.parent
SECRET_KEY = "bench-helpdesk"
DEBUG = False
ALLOWED_HOSTS = ["*"]
SITE_ID = 1
INSTALLED_APPS = [
    "django.contrib.admin", "django.contrib.auth", "django.contrib.contenttypes",
    "django.contrib.sessions", "django.contrib.messages", "django.contrib.staticfiles",
    "django.contrib.sites", "django.contrib.humanize", "rest_framework", "helpdesk",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
ROOT_URLCONF = "benchsite.urls"
TEMPLATES = [{
    "BACKEND": "django.template.backends.django.DjangoTemplates",
    "APP_DIRS": True,
    "OPTIONS": {"context_processors": [
        "django.template.context_processors.request",
        "django.contrib.auth.context_processors.auth",
        "django.contrib.messages.context_processors.messages",
    ]},
}]
STATIC_URL = "/static/"
MEDIA_ROOT = BASE / "media"
MEDIA_URL = "/media/"
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
EMAIL_BACKEND = "django.core.mail.backends.dummy.EmailBackend"
LOGIN_URL = "/login/"
HELPDESK_TEAMS_MODE_ENABLED = False  # teams need pinax-teams; the form does not
"""
HELPDESK_SQLITE = """DATABASES = {"default": {
    "ENGINE": "django.db.backends.sqlite3", "NAME": BASE / "helpdesk.sqlite3",
    "OPTIONS": {"timeout": 60},
}}"""
HELPDESK_URLS = """
from django.urls import include, path
urlpatterns = [path("", include("helpdesk.urls", namespace="helpdesk"))]
"""
HELPDESK_WSGI = """
import os
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchsite.settings")
from django.core.wsgi import get_wsgi_application
application = get_wsgi_application()
"""
HELPDESK_QUEUE = """
from helpdesk.models import Queue
Queue.objects.get_or_create(
    slug="repairs", defaults={"title": "Repairs", "allow_public_submission": True}
)
"""
HELPDESK_VERIFY = """
import json
from helpdesk.models import Ticket, FollowUpAttachment
titles = set(json.load(open("titles.json")))
found = 0
for ticket in Ticket.objects.filter(title__in=titles):
    files = FollowUpAttachment.objects.filter(followup__ticket=ticket)
    found += any(f.file and f.file.storage.exists(f.file.name) for f in files)
print(found)
"""


def helpdesk_database(url: str | None) -> str:
    """Returns Django's DATABASES entry for a PostgreSQL URL of database() (its
    schema in search_path), or helpdesk's own SQLite file for None."""
    if url is None:
        return HELPDESK_SQLITE
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    entry = {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": parsed.database,
        "USER": parsed.username or "",
        "PASSWORD": parsed.password or "",
        "HOST": parsed.host or "",
        "PORT": str(parsed.port or ""),
        "OPTIONS": {"options": parsed.query.get("options", "")},
    }
    return f"DATABASES = {{'default': {entry!r}}}"


def helpdesk_speaks_postgresql(venv: Path) -> bool:
    """Returns whether the helpdesk venv has a PostgreSQL driver (psycopg)."""
    python = str(venv / "bin" / "python")
    return (
        subprocess.run([python, "-c", "import psycopg"], capture_output=True).returncode
        == 0
    )


class Helpdesk(Target):
    """django-helpdesk's public form, on its SQLite file or, given a database()
    URL, on the same PostgreSQL server as RepairDesk: the database server's own
    CPU is then spent on the same two cores for both."""

    def __init__(
        self, work: Path, venv: Path, label: str = "", database_url: str | None = None
    ) -> None:
        self.name = "django-helpdesk" + (f" ({label})" if label else "")
        self.site = work / ("helpdesk" + (f"-{label.lower()}" if label else ""))
        package = self.site / "benchsite"
        package.mkdir(parents=True)
        (package / "__init__.py").write_text("")
        (package / "settings.py").write_text(
            HELPDESK_SETTINGS + helpdesk_database(database_url) + "\n"
        )
        (package / "urls.py").write_text(HELPDESK_URLS)
        (package / "wsgi.py").write_text(HELPDESK_WSGI)
        self.python = str(venv / "bin" / "python")
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "benchsite.settings",
            "PYTHONPATH": str(self.site),
        }
        self.manage("migrate", "--noinput")
        self.manage("shell", "-c", HELPDESK_QUEUE)
        self.port = free_port()
        self.processes = Processes(self.site.with_suffix(".log"))
        self.processes.start(
            gunicorn(self.python, self.port, "benchsite.wsgi:application"),
            self.env,
            self.site,
        )
        wait_until_up(self.port, "/tickets/submit/", self.processes.log)
        _, _, page = request(self.port, "GET", "/tickets/submit/")
        self.queue = QUEUE_OPTION.findall(page.decode())[0]

    def manage(self, *arguments: str) -> str:
        result = subprocess.run(
            [self.python, "-m", "django", *arguments],
            env=self.env,
            cwd=self.site,
            capture_output=True,
            text=True,
        )
        if result.returncode:
            raise SystemExit(f"django-helpdesk {arguments[0]}: {result.stderr[-2000:]}")
        return result.stdout

    def prepare(self, photos: list[bytes], tag: str) -> list[Post]:
        posts = []
        for index, photo in enumerate(photos):
            status, headers, page = request(self.port, "GET", "/tickets/submit/")
            assert status == 200, f"django-helpdesk: the form answered {status}"
            token = DJANGO_CSRF.search(page.decode()).group(1)
            key = f"{tag}-{index} 楼道灯不亮"
            body, content_type = multipart(
                {
                    "csrfmiddlewaretoken": token,
                    "queue": self.queue,
                    "title": key,
                    "body": f"第{index}次：5楼楼梯口的灯不亮",
                    "priority": "3",
                    "submitter_email": f"resident{index}@example.com",
                },
                {"attachment": ("IMG_0001.jpg", photo)},
            )
            posts.append(
                Post(
                    key,
                    "/tickets/submit/",
                    body,
                    content_type,
                    cookie=cookies_of(headers),
                    extra_headers={"Referer": f"http://127.0.0.1:{self.port}/"},
                )
            )
        return posts

    def verify(self, posts: list[Post]) -> tuple[int, list[float]]:
        import json

        (self.site / "titles.json").write_text(json.dumps([post.key for post in posts]))
        output = self.manage("shell", "-c", HELPDESK_VERIFY)
        return int(output.strip().splitlines()[-1]), []


# ---------------------------------------------------------------- the runs


def measure(target: Target, photos: list[bytes], concurrency: int, tag: str):
    posts = target.prepare(photos, tag)
    web_before, jobs_before = target.cpu_seconds()
    client_before, machine_before = time.process_time(), machine_times()
    wall, latencies, statuses = post_all(target.port, posts, concurrency)
    client_after, machine_after = time.process_time(), machine_times()
    web_after, jobs_during = target.cpu_seconds()
    found, delays = target.verify(posts)  # waits for the photo jobs
    _, jobs_after = target.cpu_seconds()
    result = RunResult(
        wall,
        latencies,
        statuses,
        web_after - web_before,
        jobs_after - jobs_before,
        job_cpu_during=jobs_during - jobs_before,
        client_cpu=client_after - client_before,
        busy=busy_share(machine_before, machine_after),
    )
    bad = [status for status in statuses if status not in (200, 302, 303)]
    return result, found, delays, bad


def machine_times() -> tuple[int, int] | None:
    """Returns the machine's (busy, idle) clock ticks so far (Linux), or None."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return None
    ticks = [int(field) for field in fields[:8]]
    idle = ticks[3] + ticks[4]  # idle and iowait
    return sum(ticks) - idle, idle


def busy_share(before, after) -> float:
    """Returns the share of the CPUs' time between two machine_times() that was
    busy (NaN where /proc/stat is not to be read)."""
    if before is None or after is None:
        return float("nan")
    busy, idle = after[0] - before[0], after[1] - before[1]
    return busy / (busy + idle) if busy + idle else float("nan")


def describe(name: str, result: RunResult, found: int, count: int, delays, bad) -> str:
    line = (
        f"  {name:28s} {result.rate:6.1f} submissions/s,"
        f" p95 {result.p95 * 1000:5.0f} ms,"
        f" median {statistics.median(result.latencies) * 1000:5.0f} ms,"
        f" server CPU {result.cpu * 1000 / count:5.1f} ms/submission"
        + (f" + jobs {result.job_cpu * 1000 / count:.1f} ms" if delays else "")
        + ";"
        f" verified {found}/{count}"
    )
    line += (
        f"\n  {'':28s} while posting: jobs {result.job_cpu_during * 1000 / count:.1f}"
        f" ms/submission, client {result.client_cpu * 1000 / count:.1f} ms/submission,"
        f" CPUs {result.busy:.0%} busy"
    )
    if delays:
        line += (
            f"; display copy after p50 {statistics.median(delays):.2f} s,"
            f" p95 {percentile(delays, 0.95):.2f} s, max {max(delays):.2f} s"
        )
    if bad:
        line += f"; {len(bad)} failed (statuses {sorted(set(bad))})"
    return line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--attribution",
        action="store_true",
        help="also run RepairDesk on SQLite without dispatch's work at intake"
        " (without_dispatch.py): the part of the difference that work is",
    )
    arguments = parser.parse_args()
    stop_on_sigterm()
    count = arguments.submissions
    phone = phone_jpeg()
    photos = {
        "12 MP JPEG": phone,
        "report.js (1600 px)": browser_jpeg(phone),
    }
    for label, data in photos.items():
        print(f"photo {label}: {len(data) / 1e6:.2f} MB")
    print(
        f"{count} submissions at concurrency {arguments.concurrency}, gunicorn 2 sync"
        f" workers per app, {arguments.rounds} interleaved rounds;"
        f" {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f} at start"
    )
    work = Path(tempfile.mkdtemp(prefix="bench-submission-"))
    targets: list[Target] = []
    failures = 0
    try:
        with contextlib.ExitStack() as stack:

            def add(target: Target) -> None:
                # Unwound in reverse: each app stops before its database goes.
                stack.callback(target.stop)
                targets.append(target)

            add(Floor(work))
            sqlite_url = f"sqlite:///{work / 'repairdesk.sqlite3'}"
            from repair.broker import start_embedded_redis, stop_embedded_redis

            stack.callback(stop_embedded_redis)

            add(
                RepairDesk(
                    work,
                    "SQLite",
                    sqlite_url,
                    start_embedded_redis(str(work / "a.rdb")),
                )
            )
            if arguments.attribution:
                add(
                    RepairDesk(
                        work,
                        "SQLite, no dispatch",
                        f"sqlite:///{work / 'without-dispatch.sqlite3'}",
                        start_embedded_redis(str(work / "c.rdb")),
                        app="without_dispatch:create_app()",
                    )
                )
            if os.environ.get("REPAIRDESK_BENCH_DATABASE_URL"):
                url, _ = stack.enter_context(database(work, "submission"))
                redis_url = pg_redis(work, stack)
                add(RepairDesk(work, "PostgreSQL", url, redis_url))
            else:
                print(
                    "RepairDesk on PostgreSQL is not measured: set"
                    " REPAIRDESK_BENCH_DATABASE_URL (and REPAIRDESK_BENCH_REDIS_URL)"
                )
            venv = os.environ.get(HELPDESK_VENV_ENV)
            if venv and Path(venv, "bin", "python").exists():
                add(Helpdesk(work, Path(venv)))
                if os.environ.get("REPAIRDESK_BENCH_DATABASE_URL"):
                    if helpdesk_speaks_postgresql(Path(venv)):
                        url, _ = stack.enter_context(database(work, "helpdesk"))
                        add(Helpdesk(work, Path(venv), "PostgreSQL", url))
                    else:
                        print(
                            "django-helpdesk on PostgreSQL is not measured: its venv"
                            " has no psycopg (make helpdesk-venv installs it)"
                        )
            else:
                print(HOW_TO_HELPDESK)
            numbers = iter(range(1, 65025))
            for round_number in range(1, arguments.rounds + 1):
                print(f"round {round_number}")
                order = targets if round_number % 2 else list(reversed(targets))
                for label, photo in photos.items():
                    print(f" {label}:")
                    results = {}
                    for target in order:
                        tag = f"r{round_number}-{uuid.uuid4().hex[:6]}"
                        varied = [variant(photo, next(numbers)) for _ in range(count)]
                        result, found, delays, bad = measure(
                            target, varied, arguments.concurrency, tag
                        )
                        failures += (found != count) + bool(bad)
                        results[target.name] = result
                        print(describe(target.name, result, found, count, delays, bad))
                    print_ratios(label, results)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if failures:
        raise SystemExit(f"{failures} runs lost or failed submissions")


def pg_redis(work: Path, stack: contextlib.ExitStack) -> str:
    """Returns the PostgreSQL variant's Redis: REPAIRDESK_BENCH_REDIS_URL (an empty
    db) or another embedded server."""
    url = os.environ.get("REPAIRDESK_BENCH_REDIS_URL")
    if not url:
        from repair.broker import start_embedded_redis

        return start_embedded_redis(str(work / "b.rdb"))
    import redis

    client = redis.Redis.from_url(url)
    if client.dbsize():
        raise SystemExit(f"Redis {url} is not empty")
    stack.callback(client.flushdb)
    return url


def print_ratios(label: str, results: dict[str, RunResult]) -> None:
    """Prints each RepairDesk's ratios to the floor and to helpdesk on the same
    database (its SQLite file where helpdesk was not run on PostgreSQL)."""
    floor = results["floor"]
    for name, result in results.items():
        if not name.startswith("RepairDesk"):
            continue
        database = name.removeprefix("RepairDesk ")  # "(SQLite)", "(PostgreSQL)"
        peer = f"django-helpdesk {database}"
        if peer not in results or database == "(SQLite)":
            peer = "django-helpdesk"
        helpdesk = results.get(peer)
        parts = [f"{result.rate / floor.rate:.2f}x the floor"]
        if helpdesk:
            ratio = result.rate / helpdesk.rate
            if label.startswith("12 MP"):
                met = ratio >= TARGET_12MP and result.p95 <= helpdesk.p95
                target = f"target >= {TARGET_12MP:.1f}x and p95 <= helpdesk's"
            else:
                met = ratio >= TARGET_BROWSER
                target = f"target >= {TARGET_BROWSER:.1f}x"
            parts.append(
                f"{ratio:.2f}x {peer}'s throughput, p95"
                f" {result.p95 / helpdesk.p95:.2f}x its p95 ({target}:"
                f" {'met' if met else 'NOT met'})"
            )
        print(f"   ratio {name}: " + "; ".join(parts))


if __name__ == "__main__":
    main()

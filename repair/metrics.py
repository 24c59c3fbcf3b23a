"""Prometheus metrics: the counters others import, scrape-time collectors, /metrics.

Counters and histograms count in the process where things happen (web or worker).
With PROMETHEUS_MULTIPROC_DIR set (before the process starts), every process on a
machine writes its counts there and /metrics adds them up: gunicorn's web workers
and the rq workers alike. Scrape-time collectors (open tickets, queues) read the
database and Redis when Prometheus asks.
"""

from __future__ import annotations

import hmac
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime

import sqlalchemy as sa
from flask import Blueprint, Flask, abort, current_app, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

from repair import signals
from repair.db import after_commit, db

#: The counters of this process (exported as they are without multiprocess mode).
REGISTRY = CollectorRegistry(auto_describe=True)

SUBMISSIONS = Counter(
    "repairdesk_submissions",
    "Tickets submitted, by channel and urgency at submission.",
    ["channel", "urgency"],
    registry=REGISTRY,
)
SLA_RUNGS = Counter(
    "repairdesk_sla_rungs",
    "Escalation rungs taken, by clock and rung.",
    ["clock", "rung"],
    registry=REGISTRY,
)
SLA_LATENESS = Histogram(
    "repairdesk_sla_lateness_seconds",
    "How late after its deadline a rung was taken.",
    ["clock"],
    buckets=(0.5, 1, 2, 5, 10, 30, 60, 300, 900, 1800, 3600, 4 * 3600, 24 * 3600),
    registry=REGISTRY,
)
SMS_SENT = Counter(
    "repairdesk_sms_sent",
    "SMS messages the provider accepted, by backend.",
    ["backend"],
    registry=REGISTRY,
)
SMS_FAILED = Counter(
    "repairdesk_sms_failed",
    "SMS messages given up on, by backend and reason (the provider's error code).",
    ["backend", "reason"],
    registry=REGISTRY,
)
#: For the photo job: count and time it with ``track_photo_job()``.
PHOTO_JOBS = Counter(
    "repairdesk_photo_jobs",
    "Photo processing jobs, by outcome (ok, error).",
    ["outcome"],
    registry=REGISTRY,
)
PHOTO_JOB_SECONDS = Histogram(
    "repairdesk_photo_job_seconds",
    "How long a photo processing job took.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30),
    registry=REGISTRY,
)
REQUEST_SECONDS = Histogram(
    "repairdesk_request_seconds",
    "Web request latency, by endpoint and method.",
    ["endpoint", "method"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=REGISTRY,
)

_COLLECTORS = "repairdesk.metrics_collectors"
_PENDING_SUBMISSIONS = "repairdesk.metrics.submitted"

bp = Blueprint("metrics", __name__)


@contextmanager
def track_photo_job() -> Iterator[None]:
    """Counts one photo job and its duration; an exception counts as 'error'."""
    started = time.perf_counter()
    outcome = "error"
    try:
        yield
        outcome = "ok"
    finally:
        PHOTO_JOBS.labels(outcome).inc()
        PHOTO_JOB_SECONDS.observe(time.perf_counter() - started)


def add_collector(app: Flask, collector: Callable[[], Iterator]) -> None:
    """Adds a scrape-time collector: a callable yielding metric families, run in
    the /metrics request (so it may use the database and Redis)."""
    app.extensions.setdefault(_COLLECTORS, []).append(collector)


def collect_open_tickets() -> Iterator[GaugeMetricFamily]:
    """Yields the number of open tickets by state."""
    from repair.models import OPEN_STATUSES as OPEN
    from repair.models import Ticket

    family = GaugeMetricFamily(
        "repairdesk_tickets_open", "Open tickets, by state.", labels=["state"]
    )
    counts = dict(
        db.session.execute(
            sa.select(Ticket.status, sa.func.count())
            .where(Ticket.status.in_(OPEN))
            .group_by(Ticket.status)
        ).all()
    )
    for state in sorted(OPEN, key=lambda s: s.value):
        family.add_metric([state.value], counts.get(state, 0))
    yield family


class _AppCollectors:
    def __init__(self, collectors: list[Callable[[], Iterator]]):
        self.collectors = collectors

    def collect(self):
        for collector in self.collectors:
            yield from collector()


def exposition() -> bytes:
    """Returns the text Prometheus scrapes: counters, then scrape-time gauges."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        counted = CollectorRegistry()
        MultiProcessCollector(counted)
    else:
        counted = REGISTRY
    scraped = CollectorRegistry(auto_describe=False)
    scraped.register(_AppCollectors(current_app.extensions.get(_COLLECTORS, [])))
    return generate_latest(counted) + generate_latest(scraped)


@bp.get("/metrics")
def metrics():
    """Serves the metrics to a bearer of REPAIRDESK_METRICS_TOKEN; 404 when unset."""
    token = current_app.config.get("METRICS_TOKEN") or ""
    if not token:
        abort(404)
    given = request.headers.get("Authorization", "")
    if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        return "", 401, {"WWW-Authenticate": "Bearer"}
    return exposition(), 200, {"Content-Type": CONTENT_TYPE_LATEST}


def _on_event_recorded(_sender, *, ticket, event, **_) -> None:
    if event.action == "submitted":
        # The urgency comes from the classifier later in this transaction.
        db.session.info.setdefault(_PENDING_SUBMISSIONS, []).append(ticket)
    elif event.action in ("escalated", "sla_reminder") and event.data:
        # every rung taken, a nudge before its deadline as well as a breach
        clock, rung = event.data.get("clock", ""), event.data.get("rung", "")
        due = event.data.get("due_at")
        lateness = (
            (event.at - datetime.fromisoformat(due)).total_seconds() if due else None
        )
        after_commit(lambda: _count_rung(clock, rung, lateness))


def _count_rung(clock: str, rung: str, lateness: float | None) -> None:
    SLA_RUNGS.labels(clock, rung).inc()
    if lateness is not None:
        SLA_LATENESS.labels(clock).observe(max(lateness, 0.0))


def _before_commit(session) -> None:
    for ticket in session.info.pop(_PENDING_SUBMISSIONS, []):
        channel = ticket.channel.value if ticket.channel else "unknown"
        urgency = ticket.urgency.value if ticket.urgency else "unclassified"
        after_commit(lambda c=channel, u=urgency: SUBMISSIONS.labels(c, u).inc())


def _before_request() -> None:
    g.metrics_started = time.perf_counter()


def _after_request(response):
    started = g.pop("metrics_started", None)
    if started is not None:
        REQUEST_SECONDS.labels(request.endpoint or "none", request.method).observe(
            time.perf_counter() - started
        )
    return response


def init_app(app: Flask) -> None:
    """Adds /metrics, request timing and the counters fed by repair's signals."""
    app.register_blueprint(bp)
    app.before_request(_before_request)
    app.after_request(_after_request)
    add_collector(app, collect_open_tickets)
    signals.event_recorded.connect(_on_event_recorded, weak=False)
    if not sa.event.contains(sa.orm.Session, "before_commit", _before_commit):
        sa.event.listen(sa.orm.Session, "before_commit", _before_commit)

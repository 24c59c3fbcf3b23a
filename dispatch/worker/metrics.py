"""Worker metrics: queue depths and oldest job age at scrape time, SMS outcomes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import redis
import sqlalchemy as sa
from flask import Flask, current_app
from prometheus_client.core import GaugeMetricFamily
from rq.job import Job
from rq.registry import ScheduledJobRegistry

from dispatch.models import OutboxMessage
from dispatch.worker.queues import get_queues
from repair.db import after_commit
from repair.metrics import SMS_FAILED, SMS_SENT, add_collector


def collect_queues() -> Iterator[GaugeMetricFamily]:
    """Yields each rq queue's depth, its oldest waiting job's age and how many
    jobs are scheduled for later; nothing when Redis is unreachable."""
    depth = GaugeMetricFamily(
        "repairdesk_queue_depth", "Jobs waiting in each rq queue.", labels=["queue"]
    )
    oldest = GaugeMetricFamily(
        "repairdesk_queue_oldest_job_age_seconds",
        "Age of the oldest job waiting in each rq queue (0 when empty).",
        labels=["queue"],
    )
    scheduled = GaugeMetricFamily(
        "repairdesk_queue_scheduled",
        "Jobs scheduled for later (SLA rungs, SMS retries) per queue.",
        labels=["queue"],
    )
    up = GaugeMetricFamily("repairdesk_redis_up", "1 when Redis answered the scrape.")
    now = datetime.now(UTC)
    try:
        for queue in get_queues():
            depth.add_metric([queue.name], queue.count)
            oldest.add_metric([queue.name], _oldest_age(queue, now))
            registry = ScheduledJobRegistry(queue=queue)
            scheduled.add_metric([queue.name], registry.count)
    except (redis.RedisError, OSError):
        up.add_metric([], 0)
        yield up
        return
    up.add_metric([], 1)
    yield from (depth, oldest, scheduled, up)


def _oldest_age(queue, now: datetime) -> float:
    ids = queue.get_job_ids(0, 0)
    if not ids:
        return 0.0
    job = Job.fetch_many(ids, connection=queue.connection)[0]
    if job is None or job.enqueued_at is None:
        return 0.0
    enqueued = job.enqueued_at
    if enqueued.tzinfo is None:
        enqueued = enqueued.replace(tzinfo=UTC)
    return max((now - enqueued).total_seconds(), 0.0)


def _count_sms(_mapper, _connection, message: OutboxMessage) -> None:
    history = sa.inspect(message).attrs.status.history
    if not history.added or message.status not in ("sent", "failed"):
        return
    backend = current_app.config.get("SMS_BACKEND", "unknown")
    if message.status == "sent":
        after_commit(lambda: SMS_SENT.labels(backend).inc())
    else:
        reason = str(message.error_code) if message.error_code else "unknown"
        after_commit(lambda: SMS_FAILED.labels(backend, reason).inc())


def init_app(app: Flask) -> None:
    """Adds the queue collector to /metrics and counts SMS outcomes as they commit."""
    add_collector(app, collect_queues)
    if not sa.event.contains(OutboxMessage, "before_update", _count_sms):
        sa.event.listen(OutboxMessage, "before_update", _count_sms)

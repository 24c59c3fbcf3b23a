"""The workers' line in /healthz: how many rq workers are alive."""

from __future__ import annotations

from flask import Flask
from rq import Worker

from dispatch.worker.queues import get_queue
from repair.web import add_health_check


def workers_health() -> dict:
    """Returns how many rq workers are alive; 'missing' when none is."""
    queue = get_queue()
    count = len(Worker.all(connection=queue.connection))
    return {"status": "ok" if count else "missing", "count": count}


def init_app(app: Flask) -> None:
    """Adds the workers to the app's health report."""
    add_health_check(app, "workers", workers_health)

"""The workers' line in /healthz: how many workers are alive (ticked just now)."""

from __future__ import annotations

import time

from flask import Flask

from dispatch.worker.queues import get_queue
from dispatch.worker.ticker import ALIVE_KEY, ALIVE_WINDOW_SECONDS
from repair.web import add_health_check


def workers_health() -> dict:
    """Returns how many workers ticked within ALIVE_WINDOW_SECONDS; 'missing'
    when none did.

    rq's own registry keeps a killed worker for seven minutes after its last
    heartbeat: counted from it, /healthz said "ok" for eight minutes after the
    only worker died while no SMS went out (an outside tester)."""
    connection = get_queue().connection
    count = connection.zcount(ALIVE_KEY, time.time() - ALIVE_WINDOW_SECONDS, "+inf")
    return {"status": "ok" if count else "missing", "count": count}


def init_app(app: Flask) -> None:
    """Adds the workers to the app's health report."""
    add_health_check(app, "workers", workers_health)

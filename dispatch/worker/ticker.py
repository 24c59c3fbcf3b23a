"""The worker's minute ticker: queues one sweep a minute across all workers."""

from __future__ import annotations

import logging
import threading

import redis
from flask import Flask

from dispatch.worker.queues import get_queue
from repair.broker import get_redis

log = logging.getLogger(__name__)

LOCK_KEY = "repairdesk:sweep-tick"
PERIOD_SECONDS = 60
POLL_SECONDS = 5


class SweepTicker(threading.Thread):
    """Queues the sweep when no worker has done so in the last minute.

    The tick lives in the worker process, not in Redis, so a flushed or restarted
    Redis cannot lose it.
    """

    def __init__(self, app: Flask):
        super().__init__(name="repairdesk-sweep-ticker", daemon=True)
        self.app = app
        self._stopped = threading.Event()

    def run(self) -> None:
        while not self._stopped.is_set():
            self.tick()
            self._stopped.wait(POLL_SECONDS)

    def tick(self) -> bool:
        """Queues a sweep if this worker wins the minute's lock; True if it did."""
        from dispatch.sla.sweep import sweep

        try:
            connection = get_redis(self.app)
            if not connection.set(LOCK_KEY, "1", nx=True, ex=PERIOD_SECONDS):
                return False
            get_queue(self.app).enqueue(sweep, result_ttl=600)
        except (redis.RedisError, OSError) as error:
            log.warning("sweep tick skipped: %s", error)
            return False
        return True

    def stop(self) -> None:
        self._stopped.set()

"""The worker's watch: one sweep a minute across all workers, and Redis's health.

Every second each worker's watch
- queues the minute's sweep if no worker has yet (a lock in Redis);
- checks a marker key that lives as long as Redis's data: when it has gone (Redis
  restarted empty, was flushed or replaced), the first worker to notice queues
  ``recover_lost_work``, which puts every lost job back from the database;
- while Redis cannot be reached, runs the sweep itself every few seconds, so the
  rungs that fall due during the outage are taken on time.

The tick lives in the worker process, not in Redis, so losing Redis cannot lose it.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid

import redis
from flask import Flask

from dispatch.sla.sweep import sweep
from dispatch.worker.queues import SLA_QUEUE_NAME, get_queue
from dispatch.worker.recovery import recover_lost_work
from repair.broker import get_redis

log = logging.getLogger(__name__)

LOCK_KEY = "repairdesk:sweep-tick"
#: Exists as long as Redis keeps its data; set by the first worker to see it gone.
MARKER_KEY = "repairdesk:data-marker"
PERIOD_SECONDS = 60
POLL_SECONDS = 1.0
#: How often a worker sweeps by itself while Redis is unreachable.
OUTAGE_SWEEP_SECONDS = 2.0
#: Each worker's last tick (seconds since the epoch), by host and process: the
#: workers /healthz counts alive (dispatch.worker.health).
ALIVE_KEY = "repairdesk:workers-alive"
#: A worker that has not ticked for this long is not counted alive.
ALIVE_WINDOW_SECONDS = 10.0
#: How long a worker's last tick is remembered at all.
ALIVE_MEMORY_SECONDS = 3600


class SweepTicker(threading.Thread):
    """Queues the minute's sweep, notices a Redis that lost its data, and sweeps
    by itself while Redis is away."""

    def __init__(self, app: Flask):
        super().__init__(name="repairdesk-sweep-ticker", daemon=True)
        self.app = app
        self.alive_as = f"{socket.gethostname()}:{os.getpid()}"
        self._stopped = threading.Event()
        self._next_outage_sweep = 0.0

    def run(self) -> None:
        while not self._stopped.is_set():
            self.tick(time.monotonic())
            self._stopped.wait(POLL_SECONDS)

    def tick(self, now: float | None = None) -> str:
        """Does one round; returns what it did: 'recovery', 'sweep', 'outage-sweep'
        or 'nothing' (for tests and logs)."""
        now = time.monotonic() if now is None else now
        try:
            connection = get_redis(self.app)
            self.mark_alive(connection)
            if self.check_marker(connection):
                return "recovery"
            if not connection.set(LOCK_KEY, "1", nx=True, ex=PERIOD_SECONDS):
                return "nothing"
            get_queue(self.app).enqueue(sweep, result_ttl=600)
            return "sweep"
        except (redis.RedisError, OSError) as error:
            log.warning("Redis unavailable (%s)", error)
        if now < self._next_outage_sweep:
            return "nothing"
        self._next_outage_sweep = now + OUTAGE_SWEEP_SECONDS
        with self.app.app_context():
            sweep()
        return "outage-sweep"

    def mark_alive(self, connection: redis.Redis) -> None:
        """Records this worker's tick: rq keeps a killed worker registered (and
        /healthz said "ok") for seven minutes after its last heartbeat."""
        now = time.time()
        with connection.pipeline(transaction=False) as pipeline:
            pipeline.zadd(ALIVE_KEY, {self.alive_as: now})
            pipeline.zremrangebyscore(ALIVE_KEY, "-inf", now - ALIVE_MEMORY_SECONDS)
            pipeline.expire(ALIVE_KEY, ALIVE_MEMORY_SECONDS)
            pipeline.execute()

    def check_marker(self, connection: redis.Redis) -> bool:
        """Queues the recovery if Redis lost its data and this worker noticed first."""
        if connection.exists(MARKER_KEY):
            return False
        if not connection.set(MARKER_KEY, uuid.uuid4().hex, nx=True):
            return False  # another worker noticed first
        log.warning("Redis has lost its data (or is new): queueing the recovery")
        get_queue(self.app, SLA_QUEUE_NAME).enqueue(
            recover_lost_work, result_ttl=600, at_front=True
        )
        return True

    def stop(self) -> None:
        self._stopped.set()

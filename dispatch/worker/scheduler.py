"""rq's scheduler, polled several times a second from a thread of each worker.

rq's own (``Worker.work(with_scheduler=True)``) forks a process that polls once a
second and offers no way to change that, so every SLA rung waited up to a second
there on top of the whole second rq rounds due times to. This thread takes the
same public ``RQScheduler`` steps (queue locks, heartbeat, moving what is due onto
the queues) every ``SCHEDULER_INTERVAL``.

One worker holds the queues' scheduler locks at a time and refreshes them every
second; the locks expire ``LOCK_SECONDS`` after the last refresh, and the other
workers try to take them every second, so a dead worker's schedule is taken over
within a few seconds (rq's own locks last a minute).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid

import redis
from rq import Queue
from rq.scheduler import RQScheduler

log = logging.getLogger(__name__)

#: How often a worker without the locks tries to take them, and the heartbeat.
RETRY_SECONDS = 1.0
#: How long the locks outlive their holder's last heartbeat (whole seconds).
LOCK_SECONDS = 4


class SchedulerThread(threading.Thread):
    """Moves due scheduled jobs onto ``queues`` every ``interval`` seconds."""

    def __init__(self, queues: list[Queue], interval: float):
        super().__init__(name="repairdesk-scheduler", daemon=True)
        self.interval = interval
        self.names = {queue.name for queue in queues}
        # rq's interval only sets its keys' expiry here (interval + 60 s, in whole
        # seconds); this thread polls at its own pace, so the interval is chosen
        # for the expiry alone: LOCK_SECONDS.
        self.scheduler = RQScheduler(
            queues,
            connection=queues[0].connection,
            interval=LOCK_SECONDS - 60,
            name=f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}",
        )
        self._stopped = threading.Event()
        self._next_attempt = 0.0
        self._next_heartbeat = 0.0

    @property
    def holds_locks(self) -> bool:
        return bool(self.scheduler.acquired_locks)

    def run(self) -> None:
        while not self._stopped.is_set():
            try:
                self.step(time.monotonic())
            except (redis.RedisError, OSError) as error:
                log.warning("scheduler: Redis unavailable (%s); retrying", error)
                self._stopped.wait(RETRY_SECONDS)
                continue
            self._stopped.wait(self.interval)

    def step(self, now: float) -> None:
        """Takes or keeps the locks, then queues every job that is due."""
        scheduler = self.scheduler
        if scheduler.acquired_locks != self.names and now >= self._next_attempt:
            had = bool(scheduler.acquired_locks)
            if scheduler.acquire_locks() and not had:
                scheduler.register_birth()
            self._next_attempt = self._next_heartbeat = now + RETRY_SECONDS
        elif scheduler.acquired_locks and now >= self._next_heartbeat:
            scheduler.heartbeat()  # refreshes the locks (they expire after a minute)
            self._next_heartbeat = now + RETRY_SECONDS
        if scheduler.acquired_locks:
            scheduler.enqueue_scheduled_jobs()

    def stop(self) -> None:
        """Stops polling and hands the locks back for another worker to take."""
        self._stopped.set()
        if self.is_alive():
            self.join(timeout=self.interval + 5)
        if self.scheduler.acquired_locks:
            try:
                self.scheduler.release_locks()
                self.scheduler.register_death()
            except (redis.RedisError, OSError) as error:
                log.warning("scheduler: could not release its locks: %s", error)


def enqueue_due_once(queues: list[Queue]) -> None:
    """Queues what is due now, once, if no other scheduler holds the locks (what
    rq's burst mode does before it works the queues off)."""
    scheduler = RQScheduler(queues, connection=queues[0].connection)
    if scheduler.acquire_locks():
        try:
            scheduler.enqueue_scheduled_jobs()
        finally:
            scheduler.release_locks()

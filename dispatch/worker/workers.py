"""rq's workers as RepairDesk runs them: back within a second of Redis, and listed."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager

import redis
from rq import SimpleWorker, Worker, worker_registration

from repair import logs

job_log = logging.getLogger("repairdesk.job")
#: A worker's own heartbeats come at most this often (seconds).
BEAT_EVERY = 1.0


class _Resilient:
    """Reconnects to Redis every second (rq backs off to a minute) and registers
    itself again when Redis has lost its registry (a restart without data)."""

    exponential_backoff_factor = 1.0
    max_connection_wait_time = 1.0
    #: Whether SIGINT/SIGTERM asked the worker to stop (rq keeps no record of a
    #: request that came while it was idle).
    stop_asked = False

    def request_stop(self, signum, frame) -> None:
        """Remembers the stop request, then lets rq stop (warm shutdown)."""
        self.stop_asked = True
        super().request_stop(signum, frame)

    #: The last beat sent on its own (monotonic seconds).
    _beaten_at = float("-inf")

    def heartbeat(self, timeout: int | None = None, pipeline=None) -> None:
        """Extends the worker's key, re-registering it if Redis forgot the worker.

        One round trip: rq's own heartbeat sends its three commands one by one.
        And at most one a second: rq beats before and after every dequeue, two
        round trips a job when jobs come one after another (an SMS per report in
        a burst) for a key that lives worker_ttl (7 minutes)."""
        if pipeline is not None:
            return super().heartbeat(timeout, pipeline)
        beat_at = time.monotonic()
        if timeout is None and beat_at - self._beaten_at < BEAT_EVERY:
            return None
        self._beaten_at = beat_at
        with _outlasting_redis("heartbeat"):
            with self.connection.pipeline(transaction=False) as beat:
                super().heartbeat(timeout, beat)
                beat.sismember(worker_registration.REDIS_WORKER_KEYS, self.key)
                registered = beat.execute()[-1]
            if not registered:
                self.register_again()

    def execute_job(self, job, queue) -> None:
        """Runs the job. rq quits on a Redis error met while it records a job's
        outcome (a failover, say); ours goes on to its next dequeue, which waits
        for Redis: the work is in the database and every job is idempotent."""
        with _outlasting_redis(f"job {job.id}"):
            super().execute_job(job, queue)

    def set_state(self, state, pipeline=None) -> None:
        """Records the worker's state, unless Redis is away (then next time)."""
        if pipeline is not None:
            super().set_state(state, pipeline)
            return
        with _outlasting_redis("its state"):
            super().set_state(state, pipeline)

    def check_for_suspension(self, burst: bool) -> None:
        """Honours `rq suspend`, unless Redis is away (then it asks again next)."""
        with _outlasting_redis("the suspension check"):
            super().check_for_suspension(burst)

    def run_maintenance_tasks(self) -> None:
        """Cleans rq's registries, unless Redis is away (then next time)."""
        with _outlasting_redis("maintenance"):
            super().run_maintenance_tasks()

    def perform_job(self, job, queue, *args, **kwargs) -> bool:
        """Runs the job; with JSON logs, one line for it (id, function, outcome)."""
        if not logs.is_json():
            return super().perform_job(job, queue, *args, **kwargs)
        logs.start_context(job.id)
        started = time.perf_counter()
        ok = super().perform_job(job, queue, *args, **kwargs)
        job_log.info(
            "job %s %s",
            job.func_name,
            "ok" if ok else "failed",
            extra={
                "job_id": job.id,
                "function": job.func_name,
                "queue": queue.name,
                "status": "ok" if ok else "failed",
                "duration_ms": round((time.perf_counter() - started) * 1000, 1),
            },
        )
        return ok

    def is_registered(self) -> bool:
        """Returns whether Redis lists this worker (what /healthz counts)."""
        return bool(
            self.connection.sismember(worker_registration.REDIS_WORKER_KEYS, self.key)
        )

    def register_again(self) -> None:
        """Writes the worker's record and registry entries afresh."""
        with self.connection.pipeline() as pipeline:
            pipeline.hset(self.key, mapping=self.serialize())
            worker_registration.register(self, pipeline)
            pipeline.expire(self.key, self.worker_ttl + 60)
            pipeline.execute()


@contextmanager
def _outlasting_redis(what: str) -> Iterator[None]:
    try:
        yield
    except (redis.ConnectionError, redis.TimeoutError) as error:
        job_log.warning("Redis lost during %s (%s); going on", what, error)


class RepairDeskWorker(_Resilient, SimpleWorker):
    """Runs each job in the warm worker process."""


class ForkingRepairDeskWorker(_Resilient, Worker):
    """Runs each job in a forked work horse."""

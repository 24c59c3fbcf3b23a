"""rq's workers as RepairDesk runs them: back within a second of Redis, and listed."""

from __future__ import annotations

import logging
import time

import redis
from rq import SimpleWorker, Worker, worker_registration

from repair import logs

job_log = logging.getLogger("repairdesk.job")


class _Resilient:
    """Reconnects to Redis every second (rq backs off to a minute) and registers
    itself again when Redis has lost its registry (a restart without data)."""

    exponential_backoff_factor = 1.0
    max_connection_wait_time = 1.0

    def heartbeat(self, timeout: int | None = None, pipeline=None) -> None:
        """Extends the worker's key, re-registering it if Redis forgot the worker."""
        super().heartbeat(timeout, pipeline)
        if pipeline is None and not self.is_registered():
            self.register_again()

    def execute_job(self, job, queue) -> None:
        """Runs the job; a Redis that goes away meanwhile does not end the worker.

        rq records a job's start and end in Redis: losing Redis right then raised
        out of rq's loop and the worker quit. What the job did is in the database,
        and what Redis held is re-derived when it is back (recovery and sweep)."""
        try:
            super().execute_job(job, queue)
        except redis.exceptions.ConnectionError as error:
            self.log.warning(
                "Worker %s: Redis went away around job %s (%s); going on",
                self.name,
                job.id,
                error,
            )

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


class RepairDeskWorker(_Resilient, SimpleWorker):
    """Runs each job in the warm worker process."""


class ForkingRepairDeskWorker(_Resilient, Worker):
    """Runs each job in a forked work horse."""

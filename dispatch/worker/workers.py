"""rq's workers as RepairDesk runs them: back within a second of Redis, and listed."""

from __future__ import annotations

from rq import SimpleWorker, Worker, worker_registration


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

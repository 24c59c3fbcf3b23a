"""A real Redis master, replica and sentinel on free local ports, for failover tests."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import redis

REDIS_SERVER = "/usr/bin/redis-server"
MASTER_NAME = "repairdesk"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class SentinelCluster:
    """Starts Debian's redis-server three times: a master, its replica and one
    sentinel that fails over a second after the master stops answering."""

    def __init__(self, down_after_ms: int = 1000, failover_timeout_ms: int = 3000):
        if not Path(REDIS_SERVER).exists():
            raise RuntimeError(
                f"{REDIS_SERVER} is missing: apt-get install redis-server"
            )
        self.dir = Path(tempfile.mkdtemp(prefix="repairdesk-sentinel-"))
        self.master_port = free_port()
        self.replica_port = free_port()
        self.sentinel_port = free_port()
        self.down_after_ms = down_after_ms
        self.failover_timeout_ms = failover_timeout_ms
        self.processes: dict[int, subprocess.Popen] = {}

    @property
    def sentinels(self) -> str:
        """The REPAIRDESK_REDIS_SENTINELS value."""
        return f"127.0.0.1:{self.sentinel_port}"

    def __enter__(self) -> SentinelCluster:
        try:
            self._server(self.master_port)
            self._server(
                self.replica_port, "--replicaof", "127.0.0.1", str(self.master_port)
            )
            self._wait_for_replication()
            config = self.dir / "sentinel.conf"
            config.write_text(
                f"port {self.sentinel_port}\n"
                f"dir {self.dir}\n"
                f"sentinel monitor {MASTER_NAME} 127.0.0.1 {self.master_port} 1\n"
                f"sentinel down-after-milliseconds {MASTER_NAME} {self.down_after_ms}\n"
                f"sentinel failover-timeout {MASTER_NAME} {self.failover_timeout_ms}\n"
                f"sentinel parallel-syncs {MASTER_NAME} 1\n"
            )
            self._start(self.sentinel_port, [str(config), "--sentinel"])
            self._wait_until(
                lambda: self.master_address() == ("127.0.0.1", self.master_port)
            )
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.kill()
            process.wait(timeout=10)
        shutil.rmtree(self.dir, ignore_errors=True)

    def _server(self, port: int, *extra: str) -> None:
        self._start(
            port,
            [
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.dir),
                "--repl-diskless-sync-delay",
                "0",
                "--dbfilename",
                f"dump-{port}.rdb",
                *extra,
            ],
        )

    def _start(self, port: int, args: list[str]) -> None:
        log = open(self.dir / f"redis-{port}.log", "wb")  # noqa: SIM115
        self.processes[port] = subprocess.Popen(
            [REDIS_SERVER, *args], stdout=log, stderr=subprocess.STDOUT
        )
        self._wait_until(lambda: redis.Redis(port=port).ping())

    def _wait_for_replication(self) -> None:
        replica = redis.Redis(port=self.replica_port)
        self._wait_until(
            lambda: replica.info("replication").get("master_link_status") == "up"
        )

    def _wait_until(self, condition, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if condition():
                    return
            except (redis.RedisError, OSError):
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"Redis cluster not ready; logs in {self.dir}")
            time.sleep(0.05)

    def master_address(self) -> tuple[str, int] | None:
        """Returns the master's address as the sentinel names it now."""
        sentinel = redis.Redis(port=self.sentinel_port, decode_responses=True)
        address = sentinel.sentinel_get_master_addr_by_name(MASTER_NAME)
        return (address[0], int(address[1])) if address else None

    def kill_master(self) -> None:
        """SIGKILLs the master (no goodbye to anyone)."""
        process = self.processes[self.master_port]
        process.kill()
        process.wait(timeout=10)

    def wait_for_failover(self, timeout: float = 30.0) -> float:
        """Waits until the sentinel names the replica as master; returns seconds."""
        started = time.monotonic()
        self._wait_until(
            lambda: self.master_address() == ("127.0.0.1", self.replica_port),
            timeout,
        )
        new_master = redis.Redis(port=self.replica_port)
        self._wait_until(lambda: new_master.info("replication")["role"] == "master")
        return time.monotonic() - started

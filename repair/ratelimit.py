"""Rate-limit counts kept in the app's own Redis, so every process shares them."""

from __future__ import annotations

import redis
from flask import Flask, current_app
from limits.storage import RedisStorage

from repair.broker import get_redis

#: The limiter's own keys in the shared Redis.
KEY_PREFIX = "repairdesk-limits"
#: The storage URI meaning "the app's Redis" (REPAIRDESK_REDIS_URL, the embedded
#: server or Sentinel's current master).
APP_REDIS_URI = "repairdesk-redis://"
_REDIS_SCHEMES = ("redis", "rediss", "redis+unix", "redis+sentinel")


class AppRedisStorage(RedisStorage):
    """The limits library's Redis storage over the client ``get_redis`` returns for
    the current app.

    The client is looked up when a request is counted, not when the app is created,
    so a console command never starts the embedded Redis for nothing; and the one
    limiter object Flask-Limiter keeps serves every app in the process with its own
    Redis.
    """

    STORAGE_SCHEME = ["repairdesk-redis"]

    def __init__(
        self,
        uri: str,
        key_prefix: str = KEY_PREFIX,
        wrap_exceptions: bool = False,
        **options,
    ) -> None:
        super(RedisStorage, self).__init__(uri, wrap_exceptions=wrap_exceptions)
        self.key_prefix = key_prefix
        self.target_server = "redis"
        self.dependency = redis

    @property
    def storage(self) -> redis.Redis:
        return get_redis(current_app._get_current_object())

    def get_connection(self, readonly: bool = False) -> redis.Redis:
        return self.storage

    def __getattr__(self, name: str):
        # RedisStorage's Lua scripts (lua_incr_expire → SCRIPT_INCR_EXPIRE …), bound
        # to this app's client.
        script = getattr(RedisStorage, "SCRIPT_" + name[4:].upper(), None)
        if not name.startswith("lua_") or script is None:
            raise AttributeError(name)
        return self.storage.register_script(script)


def configure(app: Flask) -> None:
    """Points the limiter at the app's Redis unless RATELIMIT_STORAGE_URI names
    another store; a Redis outage falls back to counting in memory, never a 500."""
    config = app.config
    uri = config.get("RATELIMIT_STORAGE_URI") or APP_REDIS_URI
    config["RATELIMIT_STORAGE_URI"] = uri
    options = config.setdefault("RATELIMIT_STORAGE_OPTIONS", {})
    if uri.split("://", 1)[0] in (*_REDIS_SCHEMES, "repairdesk-redis"):
        options.setdefault("key_prefix", KEY_PREFIX)
    config.setdefault("RATELIMIT_IN_MEMORY_FALLBACK_ENABLED", True)
    config.setdefault("RATELIMIT_SWALLOW_ERRORS", True)

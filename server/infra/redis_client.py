"""One Redis connection pool per process, shared by the cache, the limiter and health checks."""

from __future__ import annotations

import redis
from flask import Flask, current_app
from redis.commands.core import Script

from server.config import Settings


def init_app(app: Flask, settings: Settings) -> None:
    app.extensions["redis"] = redis.Redis.from_url(
        settings.redis_url.get_secret_value(),
        socket_timeout=settings.redis_socket_timeout,
        socket_connect_timeout=settings.redis_socket_timeout,
        # A slow Redis counts as down at once (reads bypass the cache), rather than being retried.
        retry_on_timeout=False,
        # A pooled connection idle this long is checked before use, so that after a Redis restart
        # the next call reconnects instead of failing on a dead socket.
        health_check_interval=30,
        # rediss:// only (the settings refuse it otherwise); redis-py then checks the host name.
        **({"ssl_ca_certs": settings.redis_ca_file} if settings.redis_ca_file else {}),
    )


def get_redis(app: Flask | None = None) -> redis.Redis:
    client: redis.Redis = (app or current_app).extensions["redis"]
    return client


# Scripts are registered on a client that never connects: only their SHA is worked out here,
# and each call names the client it runs on (EVALSHA, then EVAL once if Redis lacks it).
_unconnected = redis.Redis()


def lua_script(source: str) -> Script:
    return _unconnected.register_script(source)

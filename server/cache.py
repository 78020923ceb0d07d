"""Cache of API reads in Redis, dropped whole on any write.

All cached reads live in one Redis hash: a read is one HGET, and a write one UNLINK of the
hash, so no cached page can outlive a change to anything it shows. The hash expires at most
``cache_ttl`` seconds after its first entry, which bounds how old an entry can be. When Redis
is down the cache is bypassed with a warning: reads still answer.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import ParamSpec

import redis
from flask import Flask, Response, current_app, request

from server.redis_client import get_redis

log = logging.getLogger(__name__)
P = ParamSpec("P")
SEPARATOR = b"\n"


def _hash_key() -> str:
    return f"{current_app.config['KEY_PREFIX']}:cache:api"


def _enabled() -> bool:
    return bool(current_app.config["CACHE_ENABLED"])


def cached_read(view: Callable[P, Response]) -> Callable[P, Response]:
    """Serve a GET from the cache; store its 200 answer (body and ETag) on a miss."""

    @functools.wraps(view)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> Response:
        if not _enabled():
            return view(*args, **kwargs)
        field = request.full_path
        try:
            hit = get_redis().hget(_hash_key(), field)
        except redis.RedisError as exc:
            log.warning("cache bypassed, redis unavailable: %s", exc.__class__.__name__)
            return view(*args, **kwargs)
        if hit is not None:
            etag, _, body = hit.partition(SEPARATOR)
            response = Response(body, 200, mimetype="application/json")
            if etag:
                response.headers["ETag"] = etag.decode()
            response.headers["X-Cache"] = "hit"
            return response
        response = view(*args, **kwargs)
        if response.status_code == 200:
            _store(field, response)
        response.headers["X-Cache"] = "miss"
        return response

    return wrapper


def _store(field: str, response: Response) -> None:
    etag = (response.headers.get("ETag") or "").encode()
    pipe = get_redis().pipeline(transaction=False)
    pipe.hset(_hash_key(), field, etag + SEPARATOR + response.get_data())
    pipe.expire(_hash_key(), current_app.config["CACHE_TTL"], nx=True)
    try:
        pipe.execute()
    except redis.RedisError as exc:
        log.warning("cache not stored, redis unavailable: %s", exc.__class__.__name__)


def invalidate() -> None:
    """Drop every cached read; called after each committed write."""
    if not _enabled():
        return
    try:
        get_redis().unlink(_hash_key())
    except redis.RedisError as exc:
        # Entries written before the outage still expire within cache_ttl.
        log.warning("cache not invalidated, redis unavailable: %s", exc.__class__.__name__)


def init_app(app: Flask) -> None:
    @app.after_request
    def _invalidate_after_write(response: Response) -> Response:
        if request.method in {"POST", "PUT", "PATCH", "DELETE"} and response.status_code < 400:
            invalidate()
        return response

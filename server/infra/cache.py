"""Cache of API reads in Redis, dropped whole on any committed write.

All cached reads live in one Redis hash; a write bumps a generation counter and drops the hash.
- Invalidation hangs on the database session's after_commit event: every writer (views, CLI
  commands, scripts) drops the cache by committing, with nothing to remember.
- A read is one round trip: HGET of its entry, pipelined with GET of the generation.
- A miss stores its answer only if the generation is still the one it read (a Lua script), so a
  read that raced a write cannot put the old data back after the write dropped the hash.
- The hash expires at most ``cache_ttl`` seconds after its first entry: no entry is older.
- Redis down: reads bypass the cache (a warning is logged) and still answer.
- A write whose invalidation fails (Redis down, or refusing writes during a failover) is
  retried in the background every 0.1 s until it lands or ``cache_ttl`` has passed, and this
  process serves no cached read meanwhile.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable
from typing import ParamSpec

import redis
from flask import Flask, Response, current_app, has_app_context
from flask_sqlalchemy.session import Session
from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState

from server.config.runtime import current_settings
from server.infra.metrics import record_cache
from server.infra.redis_client import get_redis

log = logging.getLogger(__name__)
P = ParamSpec("P")
SEPARATOR = b"\n"
RETRY_INTERVAL = 0.1
# KEYS: hash, generation, bytes. ARGV: generation read by the miss, field, value, ttl, max bytes.
# The bytes counter lives and dies with the hash: the total stays under ARGV[5].
STORE_IF_CURRENT = """
if (redis.call('GET', KEYS[2]) or '0') ~= ARGV[1] then return 0 end
local size = string.len(ARGV[2]) + string.len(ARGV[3])
if tonumber(redis.call('GET', KEYS[3]) or '0') + size > tonumber(ARGV[5]) then return 0 end
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
redis.call('INCRBY', KEYS[3], size)
redis.call('EXPIRE', KEYS[1], ARGV[4], 'NX')
redis.call('EXPIRE', KEYS[3], ARGV[4], 'NX')
return 1
"""


def _keys() -> tuple[str, str]:
    prefix = current_settings().key_prefix
    return f"{prefix}:cache:api", f"{prefix}:cache:generation"


def _enabled() -> bool:
    return current_settings().cache_enabled


def _bytes_key(hash_key: str) -> str:
    return f"{hash_key}:bytes"


def cached(view: Callable[P, Response], key: Callable[[], str]) -> Callable[P, Response]:
    """Serve a GET from the cache under ``key()``; store its 200 answer (body, ETag) on a miss.

    ``key`` says what the answer depends on (server/api/caching.py builds it): it must cover
    everything, or one reader's answer reaches another.
    """

    @functools.wraps(view)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> Response:
        hash_key, generation_key = _keys()
        if not _enabled():
            return view(*args, **kwargs)
        if hash_key in _pending:
            record_cache("bypass")
            return view(*args, **kwargs)
        field = key()
        pipe = get_redis().pipeline(transaction=False)
        pipe.hget(hash_key, field)
        pipe.get(generation_key)
        try:
            hit, generation = pipe.execute()
        except redis.RedisError as exc:
            log.warning("cache bypassed, redis unavailable: %s", exc.__class__.__name__)
            record_cache("bypass")
            return view(*args, **kwargs)
        if hit is not None:
            record_cache("hit")
            etag, _, body = hit.partition(SEPARATOR)
            response = Response(body, 200, mimetype="application/json")
            if etag:
                response.headers["ETag"] = etag.decode()
            response.headers["X-Cache"] = "hit"
            return response
        record_cache("miss")
        response = view(*args, **kwargs)
        if response.status_code == 200:
            _store(hash_key, generation_key, field, response, generation or b"0")
        response.headers["X-Cache"] = "miss"
        return response

    return wrapper


def _store(
    hash_key: str, generation_key: str, field: str, response: Response, generation: bytes
) -> None:
    settings = current_settings()
    value = (response.headers.get("ETag") or "").encode() + SEPARATOR + response.get_data()
    if len(value) > settings.cache_max_entry_bytes:
        return
    try:
        get_redis().eval(
            STORE_IF_CURRENT,
            3,
            hash_key,
            generation_key,
            _bytes_key(hash_key),
            generation,
            field,
            value,
            settings.cache_ttl,
            settings.cache_max_bytes,
        )
    except redis.RedisError as exc:
        log.warning("cache not stored, redis unavailable: %s", exc.__class__.__name__)


def invalidate() -> None:
    """Drop every cached read; runs after each commit (see _invalidate_on_commit)."""
    if not _enabled():
        return
    hash_key, generation_key = _keys()
    client = get_redis()
    try:
        _drop(client, hash_key, generation_key)
    except redis.RedisError as exc:
        log.warning(
            "cache not invalidated, redis unavailable (%s): retrying", exc.__class__.__name__
        )
        _pending.add(client, hash_key, generation_key, current_settings().cache_ttl)


def _drop(client: redis.Redis, hash_key: str, generation_key: str) -> None:
    pipe = client.pipeline(transaction=True)
    pipe.incr(generation_key)
    pipe.unlink(hash_key, _bytes_key(hash_key))
    pipe.execute()


class _PendingInvalidations:
    """Invalidations that failed, retried by one daemon thread per process until they land."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[str, tuple[redis.Redis, str, float]] = {}
        self._thread: threading.Thread | None = None

    def __contains__(self, hash_key: str) -> bool:
        return hash_key in self._pending

    def add(self, client: redis.Redis, hash_key: str, generation_key: str, ttl: float) -> None:
        with self._lock:
            # After ttl seconds every entry that predates the write has expired anyway.
            self._pending[hash_key] = (client, generation_key, time.monotonic() + ttl)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._retry, name="cache-invalidation", daemon=True
                )
                self._thread.start()

    def _retry(self) -> None:
        while True:
            time.sleep(RETRY_INTERVAL)
            with self._lock:
                items = list(self._pending.items())
            for hash_key, (client, generation_key, deadline) in items:
                try:
                    _drop(client, hash_key, generation_key)
                except redis.RedisError:
                    if time.monotonic() < deadline:
                        continue
                    log.warning("cache invalidation abandoned: its entries have expired")
                else:
                    log.info("cache invalidated after a redis outage")
                with self._lock:
                    self._pending.pop(hash_key, None)
            with self._lock:
                if not self._pending:
                    self._thread = None
                    return


_pending = _PendingInvalidations()


def init_app(app: Flask) -> None:
    app.extensions["cache"] = True


# A commit drops the cache when its transaction wrote: an ORM flush, or an INSERT, UPDATE or
# DELETE statement run through the session. A commit that wrote nothing keeps it.
WROTE = "cache:wrote"


@event.listens_for(Session, "after_flush")
def _flushed(session: Session, _context: object) -> None:
    session.info[WROTE] = True


@event.listens_for(Session, "do_orm_execute")
def _executed(state: ORMExecuteState) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        state.session.info[WROTE] = True


@event.listens_for(Session, "after_commit")
def _invalidate_on_commit(session: Session) -> None:
    if session.info.pop(WROTE, False) and has_app_context() and current_app.extensions.get("cache"):
        invalidate()


@event.listens_for(Session, "after_rollback")
def _rolled_back(session: Session) -> None:
    session.info.pop(WROTE, None)

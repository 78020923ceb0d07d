"""Cache of API reads in Redis, dropped whole on any committed write.

All cached reads live in one Redis hash; a write bumps a generation counter and drops the hash.
- Invalidation hangs on the database session's after_commit event: every writer (views, CLI
  commands, scripts) drops the cache by committing, with nothing to remember.
- A read is one round trip: HGET of its entry, pipelined with GET of the generation. It rides
  on the rate limiter's round trip (``prefetch``, server/infra/ratelimit.py), so a cached read
  asks Redis twice in all: the token and failure budget, then the count and this lookup.
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
from dataclasses import dataclass
from typing import Any, ParamSpec

import redis
from flask import Flask, Response, current_app, has_app_context, request
from flask_sqlalchemy.session import Session
from redis.client import Pipeline
from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState

from server.config.runtime import current_settings
from server.infra.metrics import record_cache
from server.infra.redis_client import get_redis

log = logging.getLogger(__name__)
P = ParamSpec("P")
SEPARATOR = b"\n"
RETRY_INTERVAL = 0.1
# Per request (the WSGI environ): the lookup that rode on the limiter's round trip.
PREFETCHED = "fns.cache_prefetched"
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


@dataclass(frozen=True)
class _Prefetched:
    key: Callable[[], str]  # the view's key function, so a view reads only its own lookup
    field: str
    outcome: list[Any] | redis.RedisError


def cached(view: Callable[P, Response], key: Callable[[], str]) -> Callable[P, Response]:
    """Serve a GET from the cache under ``key()``; store its 200 answer (body, ETag) on a miss.

    ``key`` says what the answer depends on (server/api/caching.py builds it): it must cover
    everything, or one reader's answer reaches another.
    """

    @functools.wraps(view)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> Response:
        hash_key, generation_key = _keys()
        prefetched: _Prefetched | None = request.environ.pop(PREFETCHED, None)
        if not _enabled():
            return view(*args, **kwargs)
        if hash_key in _pending:
            record_cache("bypass")
            return view(*args, **kwargs)
        if prefetched is not None and prefetched.key is key:
            field, outcome = prefetched.field, prefetched.outcome
        else:
            field = key()
            outcome = _lookup(hash_key, generation_key, field)
        if isinstance(outcome, redis.RedisError):
            log.warning("cache bypassed, redis unavailable: %s", outcome.__class__.__name__)
            record_cache("bypass")
            return view(*args, **kwargs)
        hit, generation = outcome
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

    wrapper.cache_key = key  # type: ignore[attr-defined]  # read by prefetch()
    return wrapper


def _queue_lookup(pipe: Pipeline, hash_key: str, generation_key: str, field: str) -> None:
    pipe.hget(hash_key, field)
    pipe.get(generation_key)


def _lookup(hash_key: str, generation_key: str, field: str) -> list[Any] | redis.RedisError:
    pipe = get_redis().pipeline(transaction=False)
    _queue_lookup(pipe, hash_key, generation_key, field)
    try:
        return pipe.execute()
    except redis.RedisError as exc:
        return exc


def prefetch(pipe: Pipeline) -> Callable[[list[Any] | redis.RedisError], None] | None:
    """A rate limiter rider: queue this request's lookup if its view is a cached read.

    Its view's wrapper then takes the replies instead of asking Redis itself. Whatever cannot
    be decided here (the key's query is invalid, no view matched) is left to the view, which
    fails or looks up in its own place and order.
    """
    if request.method == "OPTIONS" or not _enabled():
        return None
    view = current_app.view_functions.get(request.endpoint or "")
    key: Callable[[], str] | None = getattr(view, "cache_key", None)
    hash_key, generation_key = _keys()
    if key is None or hash_key in _pending:
        return None
    try:
        field = key()
    except Exception:  # e.g. the query's 422: the view raises it again, after the count
        return None
    _queue_lookup(pipe, hash_key, generation_key, field)

    def receive(outcome: list[Any] | redis.RedisError) -> None:
        request.environ[PREFETCHED] = _Prefetched(key, field, outcome)

    return receive


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

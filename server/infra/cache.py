"""Cache of API reads in Redis; a write drops only the reads whose answer it can change.

All cached reads live in one Redis hash. Each read names the dependency tags its answer
depends on (server/infra/cache_dependencies.py: a task, a project, an owner's task lists by
state...); each tag has a generation in Redis, a random token that a write replaces.
- An entry holds the tokens its answer was computed under; it is a hit only while they are all
  still current. A write bumps the tags of what it changed: its entries turn into misses, the
  others stay hits. What it cannot attribute bumps the tag every read depends on, and the hash
  is dropped whole, as every write did before.
- Invalidation hangs on the database session: after_flush derives the tags from what was
  flushed, after_commit bumps them. Every writer (views, CLI commands, scripts) invalidates by
  committing, with nothing to remember.
- A read is one round trip: HGET of its entry, pipelined with MGET of its tags' tokens. It
  rides on the rate limiter's round trip (``prefetch``, server/infra/ratelimit.py), so a cached
  read asks Redis twice in all: the token and failure budget, then the count and this lookup.
- A miss stores its answer only if its tags' tokens are still the ones it read (a Lua script),
  so a read that raced a write cannot put the old data back after the write bumped them. A tag
  with no token yet gets one there, if the miss took less than ``cache_ttl``: a token a write
  set meanwhile would still be there.
- The hash expires at most ``cache_ttl`` seconds after its first entry: no entry is older. A
  tag's token lives twice that, refreshed by each entry stored under it; one that expired
  reads as no token, which no entry holds.
- Redis down: reads bypass the cache (a warning is logged) and still answer.
- A write whose invalidation fails (Redis down, or refusing writes during a failover) is
  retried in the background every 0.1 s until it lands or ``cache_ttl`` has passed, and this
  process serves no cached read meanwhile.
"""

from __future__ import annotations

import functools
import logging
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, ParamSpec

import redis
from flask import Flask, Response, current_app, has_app_context, request
from flask_sqlalchemy.session import Session
from redis.client import Pipeline
from sqlalchemy import TextClause, event, orm
from sqlalchemy.orm import ORMExecuteState

from server.config.runtime import current_settings
from server.infra import cache_dependencies
from server.infra.cache_dependencies import EVERYTHING
from server.infra.metrics import record_cache
from server.infra.redis_client import get_redis, lua_script

log = logging.getLogger(__name__)
P = ParamSpec("P")
SEPARATOR = b"\n"
RETRY_INTERVAL = 0.1
# Per request (the WSGI environ): the lookup that rode on the limiter's round trip.
PREFETCHED = "fns.cache_prefetched"
# KEYS: hash, bytes, then the entry's tags. ARGV: field, ETag and body, ttl, max bytes, the
# tags' ttl, a fresh token, then the tokens the miss read ('' for none: the tag gets the fresh
# one if it still has none). The entry holds the tokens it was computed under. A tag gets a
# token only with an entry stored: what the byte budget refuses leaves no key behind.
# The bytes counter lives and dies with the hash: the total stays under ARGV[4].
STORE_IF_CURRENT = """
local tags = #KEYS - 2
local held, unset = {}, {}
for i = 1, tags do
  local token = redis.call('GET', KEYS[i + 2])
  if ARGV[i + 6] == '' and not token then
    token = ARGV[6]
    unset[#unset + 1] = KEYS[i + 2]
  elseif token ~= ARGV[i + 6] then
    return 0
  end
  held[i] = token
end
local value = table.concat(held, ' ') .. '\\n' .. ARGV[2]
local old = redis.call('HSTRLEN', KEYS[1], ARGV[1])
local size = string.len(value) - old
if old == 0 then size = size + string.len(ARGV[1]) end
if tonumber(redis.call('GET', KEYS[2]) or '0') + size > tonumber(ARGV[4]) then return 0 end
for _, key in ipairs(unset) do redis.call('SET', key, ARGV[6], 'EX', ARGV[5]) end
redis.call('HSET', KEYS[1], ARGV[1], value)
redis.call('INCRBY', KEYS[2], size)
redis.call('EXPIRE', KEYS[1], ARGV[3], 'NX')
redis.call('EXPIRE', KEYS[2], ARGV[3], 'NX')
for i = 1, tags do redis.call('EXPIRE', KEYS[i + 2], ARGV[5], 'GT') end
return 1
"""
# KEYS: the tags, then (ARGV[3] == '1') the hash and its bytes counter. ARGV: token, tags' ttl.
# One command, however many tags a write bumps.
BUMP = """
local tags = #KEYS
if ARGV[3] == '1' then
  tags = tags - 2
  redis.call('UNLINK', KEYS[tags + 1], KEYS[tags + 2])
end
for i = 1, tags do redis.call('SET', KEYS[i], ARGV[1], 'EX', ARGV[2]) end
return tags
"""
_store_script = lua_script(STORE_IF_CURRENT)
_bump_script = lua_script(BUMP)


@dataclass(frozen=True)
class CacheKey:
    """Where a read is cached (``field``: everything its answer depends on, so that one
    reader's answer never reaches another) and the tags whose writes change it."""

    field: str
    depends_on: tuple[str, ...]


def _hash_key() -> str:
    # Not the `cache:api` of the versions that dropped the whole cache on every write: their
    # entries have no tokens, and theirs would read ours as bodies (a rolling upgrade runs both).
    return f"{current_settings().key_prefix}:cache:reads"


def _tag_keys(tags: Iterable[str]) -> list[str]:
    prefix = current_settings().key_prefix
    return [f"{prefix}:cache:tag:{tag}" for tag in tags]


def _enabled() -> bool:
    return current_settings().cache_enabled


def _bytes_key(hash_key: str) -> str:
    return f"{hash_key}:bytes"


@dataclass(frozen=True)
class _Prefetched:
    key: Callable[[], CacheKey]  # the view's key function, so a view reads only its own lookup
    entry: CacheKey
    outcome: list[Any] | redis.RedisError
    at: float  # time.monotonic() of the lookup


def cached(view: Callable[P, Response], key: Callable[[], CacheKey]) -> Callable[P, Response]:
    """Serve a GET from the cache under ``key()``; store its 200 answer (body, ETag) on a miss.

    ``key`` says what the answer depends on (server/api/caching.py builds it): its field must
    cover everything, or one reader's answer reaches another; its tags every write that can
    change the answer, or a stale answer outlives the write.
    """

    @functools.wraps(view)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> Response:
        hash_key = _hash_key()
        prefetched: _Prefetched | None = request.environ.pop(PREFETCHED, None)
        if not _enabled():
            return view(*args, **kwargs)
        if hash_key in _pending:
            record_cache("bypass")
            return view(*args, **kwargs)
        if prefetched is not None and prefetched.key is key:
            entry, outcome, at = prefetched.entry, prefetched.outcome, prefetched.at
        else:
            entry, at = key(), time.monotonic()
            outcome = _lookup(hash_key, entry)
        if isinstance(outcome, redis.RedisError):
            log.warning("cache bypassed, redis unavailable: %s", outcome.__class__.__name__)
            record_cache("bypass")
            return view(*args, **kwargs)
        stored, tokens = outcome
        hit = _current(stored, tokens)
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
            _store(hash_key, entry, response, tokens, at)
        response.headers["X-Cache"] = "miss"
        return response

    wrapper.cache_key = key  # type: ignore[attr-defined]  # read by prefetch()
    return wrapper


def _all_tags(entry: CacheKey) -> tuple[str, ...]:
    return (EVERYTHING, *entry.depends_on)


def _current(stored: bytes | None, tokens: Sequence[bytes | None]) -> bytes | None:
    """The stored ETag and body if the entry was computed under these tokens, else None."""
    if stored is None or None in tokens:
        return None
    held, _, rest = stored.partition(SEPARATOR)
    return rest if held == b" ".join(tokens) else None  # type: ignore[arg-type]


def _queue_lookup(pipe: Pipeline, hash_key: str, entry: CacheKey) -> None:
    pipe.hget(hash_key, entry.field)
    pipe.mget(_tag_keys(_all_tags(entry)))


def _lookup(hash_key: str, entry: CacheKey) -> list[Any] | redis.RedisError:
    pipe = get_redis().pipeline(transaction=False)
    _queue_lookup(pipe, hash_key, entry)
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
    key: Callable[[], CacheKey] | None = getattr(view, "cache_key", None)
    hash_key = _hash_key()
    if key is None or hash_key in _pending:
        return None
    try:
        entry = key()
    except Exception:  # e.g. the query's 422: the view raises it again, after the count
        return None
    _queue_lookup(pipe, hash_key, entry)
    at = time.monotonic()

    def receive(outcome: list[Any] | redis.RedisError) -> None:
        request.environ[PREFETCHED] = _Prefetched(key, entry, outcome, at)

    return receive


def _store(
    hash_key: str,
    entry: CacheKey,
    response: Response,
    tokens: Sequence[bytes | None],
    looked_up_at: float,
) -> None:
    settings = current_settings()
    if None in tokens and time.monotonic() - looked_up_at >= settings.cache_ttl:
        # A tag with no token is given one at the store: safe only while a token that a write
        # set after the lookup cannot have expired yet (tags live 2 * cache_ttl).
        return
    value = (response.headers.get("ETag") or "").encode() + SEPARATOR + response.get_data()
    if len(value) > settings.cache_max_entry_bytes:
        return
    try:
        _store_script(
            keys=[hash_key, _bytes_key(hash_key), *_tag_keys(_all_tags(entry))],
            args=[
                entry.field,
                value,
                settings.cache_ttl,
                settings.cache_max_bytes,
                2 * settings.cache_ttl,
                secrets.token_hex(8),
                *(token or b"" for token in tokens),
            ],
            client=get_redis(),
        )
    except redis.RedisError as exc:
        log.warning("cache not stored, redis unavailable: %s", exc.__class__.__name__)


def invalidate(tags: Iterable[str] = (EVERYTHING,)) -> None:
    """Drop the cached reads that depend on ``tags`` (by default every one); runs after each
    commit that wrote (see _invalidate_on_commit)."""
    if not _enabled():
        return
    hash_key = _hash_key()
    bump = frozenset(tags)
    client = get_redis()
    ttl = current_settings().cache_ttl
    try:
        _bump(client, hash_key, _tag_keys(bump), EVERYTHING in bump, 2 * ttl)
    except redis.RedisError as exc:
        log.warning(
            "cache not invalidated, redis unavailable (%s): retrying", exc.__class__.__name__
        )
        _pending.add(client, hash_key, _tag_keys(bump), EVERYTHING in bump, ttl)


def _bump(
    client: redis.Redis, hash_key: str, tag_keys: Iterable[str], everything: bool, tag_ttl: int
) -> None:
    """New tokens for these tags; dropping everything also frees the entries' memory."""
    keys = [*tag_keys, *((hash_key, _bytes_key(hash_key)) if everything else ())]
    _bump_script(keys=keys, args=[secrets.token_hex(8), tag_ttl, int(everything)], client=client)


class _PendingInvalidations:
    """Invalidations that failed, retried by one daemon thread per process until they land."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # hash key -> (client, tag keys, everything, deadline, serial)
        self._pending: dict[str, tuple[redis.Redis, frozenset[str], bool, float, int]] = {}
        self._thread: threading.Thread | None = None
        self._serial = 0
        self._tag_ttl = 60

    def __contains__(self, hash_key: str) -> bool:
        return hash_key in self._pending

    def add(
        self, client: redis.Redis, hash_key: str, tag_keys: list[str], everything: bool, ttl: int
    ) -> None:
        with self._lock:
            # After ttl seconds every entry that predates the write has expired anyway.
            _, keys, was_everything, _, _ = self._pending.get(
                hash_key, (client, frozenset(), False, 0.0, 0)
            )
            self._serial += 1
            self._pending[hash_key] = (
                client,
                keys | frozenset(tag_keys),
                was_everything or everything,
                time.monotonic() + ttl,
                self._serial,
            )
            self._tag_ttl = 2 * ttl
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
            for hash_key, (client, keys, everything, deadline, serial) in items:
                try:
                    _bump(client, hash_key, keys, everything, self._tag_ttl)
                except redis.RedisError:
                    if time.monotonic() < deadline:
                        continue
                    log.warning("cache invalidation abandoned: its entries have expired")
                else:
                    log.info("cache invalidated after a redis outage")
                with self._lock:
                    # Only what was tried: an invalidation added meanwhile stays pending.
                    if hash_key in self._pending and self._pending[hash_key][4] == serial:
                        del self._pending[hash_key]
            with self._lock:
                if not self._pending:
                    self._thread = None
                    return


_pending = _PendingInvalidations()


def init_app(app: Flask) -> None:
    app.extensions["cache"] = True


# A commit drops the reads its transaction can change: the tags of what it flushed through the
# ORM, of the statements that say what they change, and everything for any other INSERT,
# UPDATE or DELETE statement (or non-SELECT text) run through the session. A commit that wrote
# nothing keeps the cache.
CHANGED = "cache:changed"
_READS = re.compile(r"\s*(?:(?:--[^\n]*\n|/\*.*?\*/|\()\s*)*select\b", re.DOTALL | re.IGNORECASE)


def _changed(session: orm.Session) -> set[str]:
    changed: set[str] = session.info.setdefault(CHANGED, set())
    return changed


def _tracked() -> bool:
    return has_app_context() and bool(current_app.extensions.get("cache")) and _enabled()


@event.listens_for(Session, "after_flush")
def _flushed(session: Session, _context: object) -> None:
    if not _tracked():
        _changed(session).add(EVERYTHING)  # nobody reads them: no need to work them out
        return
    try:
        _changed(session).update(cache_dependencies.flushed(session))
    except Exception:  # never fail a write over its invalidation: drop everything instead
        log.exception("cache: could not tell what a flush changed; dropping every read")
        _changed(session).add(EVERYTHING)


@event.listens_for(Session, "do_orm_execute")
def _executed(state: ORMExecuteState) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        said = state.execution_options.get(cache_dependencies.OPTION)
        _changed(state.session).update(said if said is not None else (EVERYTHING,))
    elif isinstance(state.statement, TextClause) and not _READS.match(state.statement.text):
        _changed(state.session).add(EVERYTHING)


@event.listens_for(Session, "after_commit")
def _invalidate_on_commit(session: Session) -> None:
    changed = session.info.pop(CHANGED, None)
    if changed and _tracked():
        invalidate(changed)


@event.listens_for(Session, "after_rollback")
def _rolled_back(session: Session) -> None:
    session.info.pop(CHANGED, None)

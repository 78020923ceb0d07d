"""Successful token lookups, cached in Redis so an authenticated request needs no database.

- Keyed by the token's keyed hash (HMAC-SHA256, hex), never by the token: a hit means the
  hash matched, and Redis holds nothing a token could be rebuilt from. The values are the
  actor's id, name, admin flag and scopes, the expiry and the last recorded use.
- Dropped whole, at once, by every commit that wrote a principal or a token (revocation,
  disabling, new tokens, admin changes): the session's after_commit event, as the read cache,
  so no writer has to remember it. A revoked token fails at the next request.
- A drop also bumps a generation counter, and an entry is stored only if the generation is
  still the one its lookup saw (one Lua call): a request that read a token just before a
  revocation cannot put it back after the revocation's drop (it did, for up to TTL seconds).
- Entries live at most TTL seconds. If the drop cannot reach Redis, the error is logged and a
  revoked token may still pass until then: Redis that refuses writes also refuses new entries.
- Redis down: lookups go to the database, as without the cache.
- The lookup rides on the rate limiter's round trip for the failure test (``Lookup``): an
  authenticated request asks Redis once before its rate limit.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

import redis
from flask import current_app, has_app_context
from flask_sqlalchemy.session import Session
from redis.client import Pipeline
from sqlalchemy import event

from server.auth.actor import Actor
from server.config.runtime import current_settings
from server.infra.redis_client import get_redis, lua_script
from server.models import ApiToken, Principal

log = logging.getLogger(__name__)
TTL = 30
WROTE = "auth:wrote"


# KEYS: hash, generation. ARGV: the generation the lookup saw, field, value, ttl.
STORE_IF_CURRENT = """
if (redis.call('GET', KEYS[2]) or '0') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[4], 'NX')
return 1
"""
_store_script = lua_script(STORE_IF_CURRENT)


def _keys() -> tuple[str, str]:
    prefix = current_settings().key_prefix
    return f"{prefix}:auth:tokens", f"{prefix}:auth:generation"


Entry = tuple[Actor, datetime | None, float | None]


class Lookup:
    """One token's lookup: its cached entry and the generation it was read at. Queued on
    another component's pipeline (a rate limiter rider), or asked on its own."""

    def __init__(self, digest: bytes) -> None:
        self.digest = digest
        self._answered = False
        self._entry: Entry | None = None
        self.generation: bytes | None = None  # None: unknown (Redis unavailable), store nothing

    def queue(self, pipe: Pipeline) -> Callable[[list[Any] | redis.RedisError], None]:
        hash_key, generation_key = _keys()
        pipe.hget(hash_key, self.digest.hex())
        pipe.get(generation_key)
        return self._receive

    def _receive(self, outcome: list[Any] | redis.RedisError) -> None:
        self._answered = True
        if isinstance(outcome, redis.RedisError):
            _bypassed(outcome)
        else:
            self._entry = _decode(outcome[0])
            self.generation = outcome[1] or b"0"

    def entry(self) -> Entry | None:
        """The cached entry (None: not cached, or Redis unavailable); looked up now if the
        pipeline never ran."""
        if not self._answered:
            pipe = get_redis().pipeline(transaction=False)
            receive = self.queue(pipe)
            try:
                outcome: list[Any] | redis.RedisError = pipe.execute()
            except redis.RedisError as exc:
                outcome = exc
            receive(outcome)
        return self._entry


def _bypassed(exc: redis.RedisError) -> None:
    log.warning("token cache bypassed, redis unavailable: %s", exc.__class__.__name__)


# Entries decoded, by their stored bytes: a token's entry changes at most once a minute (its
# last use), and decoding it (JSON, the expiry's date, the actor) was about 7 µs of every
# authenticated request. The same bytes always decode to the same (immutable) entry.
_decoded: dict[bytes | str, Entry] = {}
DECODED_MAX = 256


def _decode(raw: bytes | str | None) -> Entry | None:
    if raw is None:
        return None
    entry = _decoded.get(raw)
    if entry is not None:
        return entry
    data: dict[str, Any] = json.loads(raw)
    actor = Actor(
        data["principal_id"], data["name"], data["is_admin"], frozenset(data["scopes"]), data["via"]
    )
    expires = datetime.fromisoformat(data["expires_at"]) if data["expires_at"] else None
    entry = actor, expires, data["last_used"]
    if len(_decoded) >= DECODED_MAX:
        _decoded.clear()
    _decoded[raw] = entry
    return entry


def put(lookup: Lookup, actor: Actor, expires_at: datetime | None, last_used: float) -> None:
    """Cache what ``lookup`` found out, unless the cache was dropped since it was read."""
    if lookup.generation is None:
        return
    value = json.dumps(
        {
            "principal_id": actor.principal_id,
            "name": actor.name,
            "is_admin": actor.is_admin,
            "scopes": sorted(actor.scopes),
            "via": actor.via,
            "expires_at": expires_at.isoformat() if expires_at else None,
            "last_used": last_used,
        }
    )
    hash_key, generation_key = _keys()
    try:
        _store_script(
            keys=[hash_key, generation_key],
            args=[lookup.generation, lookup.digest.hex(), value, TTL],
            client=get_redis(),
        )
    except redis.RedisError as exc:
        log.warning("token not cached, redis unavailable: %s", exc.__class__.__name__)


def drop_all() -> None:
    hash_key, generation_key = _keys()
    try:
        pipe = get_redis().pipeline(transaction=True)
        pipe.incr(generation_key)
        pipe.unlink(hash_key)
        pipe.execute()
    except redis.RedisError as exc:
        log.error(
            "token cache not dropped, redis unavailable (%s): a revoked token may pass for up "
            "to %s s",
            exc.__class__.__name__,
            TTL,
        )


@event.listens_for(Session, "after_flush")
def _flushed(session: Session, _context: object) -> None:
    changed = (*session.new, *session.dirty, *session.deleted)
    if any(isinstance(obj, (ApiToken, Principal)) for obj in changed):
        session.info[WROTE] = True


@event.listens_for(Session, "after_commit")
def _committed(session: Session) -> None:
    if session.info.pop(WROTE, False) and has_app_context() and "redis" in current_app.extensions:
        drop_all()


@event.listens_for(Session, "after_rollback")
def _rolled_back(session: Session) -> None:
    session.info.pop(WROTE, None)

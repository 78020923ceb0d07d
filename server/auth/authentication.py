"""Who is calling: a bearer token (ours, or an OIDC JWT) turned into an Actor, or a 401.

RFC 6750: credentials come only in ``Authorization: Bearer ...`` (never in the query string,
where they would end up in access logs); a failure answers 401 with ``WWW-Authenticate:
Bearer``, a missing scope 403 ``insufficient_scope``.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from flask import request
from psycopg2 import errorcodes
from sqlalchemy import select, update
from sqlalchemy.exc import DBAPIError

import server.auth.token_cache as token_cache
import server.auth.tokens as tokens
from server.auth.actor import READ, SCOPES, WRITE, Actor
from server.errors import Problem
from server.infra import safe_requests
from server.infra.database import db
from server.models import ApiToken, Principal

if TYPE_CHECKING:
    from server.auth.oidc import OidcVerifier

log = logging.getLogger(__name__)
REALM = "flask-nix-stack"
# last_used_at is written at most this often per token: reads do not become writes.
LAST_USED_PRECISION = timedelta(seconds=60)


def unauthorized(error: str | None = None, description: str | None = None) -> Problem:
    challenge = f'Bearer realm="{REALM}"'
    if error:
        challenge += f', error="{error}"'
    if description:
        challenge += f', error_description="{description}"'
    detail = description or "Send an access token: Authorization: Bearer <token>."
    return Problem(401, detail, headers={"WWW-Authenticate": challenge})


def insufficient_scope(scope: str) -> Problem:
    challenge = f'Bearer realm="{REALM}", error="insufficient_scope", scope="{scope}"'
    return Problem(
        403,
        f"This token lacks the {scope!r} scope.",
        headers={"WWW-Authenticate": challenge},
        required_scope=scope,
    )


def bearer_credential(environ: dict[str, Any] | None = None) -> str | None:
    """The credential of ``Authorization: Bearer``, None without the header; 401 if malformed.

    ``environ``: the request's, when the caller has it (what ``request.headers`` reads).
    """
    header: str | None = (request.environ if environ is None else environ).get("HTTP_AUTHORIZATION")
    if header is None:
        return None
    scheme, _, credential = header.strip().partition(" ")
    credential = credential.strip()
    if scheme.lower() != "bearer" or not credential or " " in credential:
        raise unauthorized("invalid_request", "Use Authorization: Bearer <token>.")
    return credential


def authenticate_token(
    key: bytes, credential: str, lookup: token_cache.Lookup | None = None
) -> Actor | None:
    """The actor of one of our API tokens, or None if it is unknown, revoked or expired.

    A token seen recently is answered from the token cache (Redis, dropped by every write to
    principals or tokens); otherwise from the database, and cached. ``lookup``: the cache
    lookup already queued for this credential (server/auth/gate.py).
    """
    now = datetime.now(UTC)
    lookup = lookup or token_cache.Lookup(tokens.digest(key, credential))
    if tokens.parse(credential) is not None:
        cached = lookup.entry()
        if cached is not None:
            actor, expires_at, last_used = cached
            if expires_at is not None and expires_at <= now:
                return None
            if last_used is None or now.timestamp() - last_used >= LAST_USED_PRECISION.seconds:
                _record_use(credential, now)
                token_cache.put(lookup, actor, expires_at, now.timestamp())
            return actor
    row = tokens.lookup(key, credential)
    if row is None or row.revoked_at is not None or row.principal.disabled:
        return None
    if row.expires_at is not None and row.expires_at <= now:
        return None
    actor = actor_for(row.principal, row.scope_set, via=f"token:{row.prefix}")
    expires_at = row.expires_at
    touched = _touch(row, now)
    token_cache.put(lookup, actor, expires_at, touched.timestamp())
    return actor


def authenticate_jwt(verifier: OidcVerifier, credential: str) -> Actor | None:
    from server.auth.oidc import InvalidToken  # imported with the verifier (server/auth/gate.py)

    try:
        claims = verifier.verify(credential)
    except InvalidToken as exc:
        log.info("oidc token refused: %s", exc)
        return None
    principal = db.session.scalar(select(Principal).where(Principal.oidc_subject == claims.subject))
    if principal is None or principal.disabled:
        log.info("oidc token refused: no enabled principal for its subject")
        return None
    return actor_for(principal, claims.scopes, via="oidc")


def actor_for(principal: Principal, scopes: frozenset[str], *, via: str) -> Actor:
    # Only our scopes (an OIDC token carries others, "openid" ...); admin only on an admin.
    effective = scopes & set(SCOPES) if principal.is_admin else scopes & {READ, WRITE}
    return Actor(principal.id, principal.name, principal.is_admin, frozenset(effective), via)


def _touch(row: ApiToken, now: datetime) -> datetime:
    """Record use at most once a LAST_USED_PRECISION; the use time now on record."""
    if row.last_used_at is not None and now - row.last_used_at < LAST_USED_PRECISION:
        return row.last_used_at
    _record_use(row.prefix, now)
    return now


def _record_use(credential_or_prefix: str, now: datetime) -> None:
    """UPDATE last_used_at outside the ORM: neither cache is dropped for it."""
    prefix = tokens.parse(credential_or_prefix) or credential_or_prefix
    table = ApiToken.__table__
    statement = update(table).where(table.c.prefix == prefix).values(last_used_at=now)  # type: ignore[arg-type]
    # Also while answering a GET: one statement, atomic alone (in autocommit there).
    try:
        db.session.connection().execute(statement.execution_options(**safe_requests.WRITE_ALLOWED))
    except DBAPIError as exc:
        # A read-only server (a standby after a failover, maintenance) still answers reads:
        # bookkeeping must not fail them. Tried again a LAST_USED_PRECISION later.
        if getattr(exc.orig, "pgcode", None) != errorcodes.READ_ONLY_SQL_TRANSACTION:
            raise
        db.session.rollback()
        log.warning("token use not recorded: the database is read-only")
        return
    db.session.commit()

"""Who is calling: a bearer token (ours, or an OIDC JWT) turned into an Actor, or a 401.

RFC 6750: credentials come only in ``Authorization: Bearer ...`` (never in the query string,
where they would end up in access logs); a failure answers 401 with ``WWW-Authenticate:
Bearer``, a missing scope 403 ``insufficient_scope``.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from flask import request
from sqlalchemy import select, update

import server.auth.oidc as oidc
import server.auth.tokens as tokens
from server.auth.actor import READ, SCOPES, WRITE, Actor
from server.errors import Problem
from server.infra.database import db
from server.models import ApiToken, Principal

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


def bearer_credential() -> str | None:
    """The credential of ``Authorization: Bearer``, None without the header; 401 if malformed."""
    header = request.headers.get("Authorization")
    if header is None:
        return None
    scheme, _, credential = header.strip().partition(" ")
    credential = credential.strip()
    if scheme.lower() != "bearer" or not credential or " " in credential:
        raise unauthorized("invalid_request", "Use Authorization: Bearer <token>.")
    return credential


def authenticate_token(key: bytes, credential: str) -> Actor | None:
    """The actor of one of our API tokens, or None if it is unknown, revoked or expired."""
    row = tokens.lookup(key, credential)
    now = datetime.now(UTC)
    if row is None or row.revoked_at is not None or row.principal.disabled:
        return None
    if row.expires_at is not None and row.expires_at <= now:
        return None
    actor = actor_for(row.principal, row.scope_set, via=f"token:{row.prefix}")
    _touch(row, now)
    return actor


def authenticate_jwt(verifier: oidc.OidcVerifier, credential: str) -> Actor | None:
    try:
        claims = verifier.verify(credential)
    except oidc.InvalidToken as exc:
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


def _touch(row: ApiToken, now: datetime) -> None:
    """Record use, at most once a LAST_USED_PRECISION, outside the ORM: no cache invalidation."""
    if row.last_used_at is not None and now - row.last_used_at < LAST_USED_PRECISION:
        return
    statement = (
        update(ApiToken.__table__)  # type: ignore[arg-type]
        .where(ApiToken.__table__.c.id == row.id)
        .values(last_used_at=now)
    )
    db.session.connection().execute(statement)
    db.session.commit()

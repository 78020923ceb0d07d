"""Opaque API tokens: ``fns_<prefix>_<secret>``, stored only as an HMAC-SHA256 keyed hash.

- The secret is 32 random bytes (256 bits), base64url: 43 characters. With that much entropy
  a fast keyed hash is enough (a slow password hash buys nothing against guessing 2**256);
  the key (the pepper) lives in the server's settings, not in the database, so a leaked table
  alone cannot confirm a guessed token.
- The prefix (8 characters of [a-z0-9], public) finds the row through a unique index; the hash
  is then compared in constant time. A request for a prefix that does not exist costs the same
  hashing and comparison as one that does (against a dummy digest).
- ``fns_`` makes leaked tokens easy to find with secret scanners and grep.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import string
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import LargeBinary, literal, literal_column, select
from sqlalchemy.orm import joinedload

from server.config import Settings
from server.infra.database import db
from server.models import ApiToken
from server.schemas.access import TOKEN_PREFIX_PATTERN

TOKEN_PREFIX = "fns"  # noqa: S105 - the public marker, not a secret
PREFIX_ALPHABET = string.ascii_lowercase + string.digits
PREFIX_LENGTH = 8
SECRET_BYTES = 32
TOKEN_RE = re.compile(rf"^fns_({TOKEN_PREFIX_PATTERN})_([A-Za-z0-9_-]{{43}})$")
_DUMMY_DIGEST = bytes(32)


@dataclass(frozen=True)
class NewToken:
    """A freshly issued token: ``value`` is shown once and never stored."""

    value: str
    row: ApiToken


def hash_key(secret_key: str, token_hash_key: str | None = None) -> bytes:
    """The HMAC key: APP_TOKEN_HASH_KEY if set, else derived from APP_SECRET_KEY."""
    if token_hash_key:
        return token_hash_key.encode()
    return hmac.new(secret_key.encode(), b"flask-nix-stack/api-token-hash/v1", "sha256").digest()


def key_from_settings(settings: Settings) -> bytes:
    secret = settings.secret_key.get_secret_value()
    dedicated = settings.token_hash_key
    return hash_key(secret, dedicated.get_secret_value() if dedicated else None)


def digest(key: bytes, token: str) -> bytes:
    return hmac.new(key, token.encode(), hashlib.sha256).digest()


def generate() -> tuple[str, str]:
    """A new (token, prefix)."""
    prefix = "".join(secrets.choice(PREFIX_ALPHABET) for _ in range(PREFIX_LENGTH))
    secret = base64.urlsafe_b64encode(secrets.token_bytes(SECRET_BYTES)).rstrip(b"=").decode()
    return f"{TOKEN_PREFIX}_{prefix}_{secret}", prefix


def parse(token: str) -> str | None:
    """The prefix of a well-formed token, else None."""
    match = TOKEN_RE.match(token)
    return match.group(1) if match else None


def issue(
    key: bytes,
    principal_id: int,
    scopes: frozenset[str],
    *,
    name: str = "",
    expires_at: datetime | None = None,
    value: str | None = None,
) -> NewToken:
    """Store a new token for the principal (``value``: import a given one); caller commits."""
    if value is None:
        value, prefix = generate()
    else:
        parsed = parse(value)
        if parsed is None:
            raise ValueError("not a token of this server's format (fns_<8>_<43>)")
        prefix = parsed
    row = ApiToken(
        principal_id=principal_id,
        prefix=prefix,
        hash=digest(key, value),
        scopes=" ".join(sorted(scopes)),
        name=name,
        expires_at=expires_at,
    )
    db.session.add(row)
    return NewToken(value, row)


def lookup(key: bytes, token: str) -> ApiToken | None:
    """The stored row whose hash matches ``token`` (revoked or expired ones too), else None.

    Timing: a missing prefix and a present one with a wrong secret cost the same query (one
    row back either way), the same HMAC and the same constant-time comparison; the full row
    (with its principal) is loaded only once the hash has matched.
    """
    prefix = parse(token)
    found_id, expected = 0, _DUMMY_DIGEST
    if prefix is not None:
        # Exactly one row either way: the token's (id, hash), else a dummy (0, zeros). The
        # database answers "present" and "absent" with the same shape of work.
        table = ApiToken.__table__
        query = (
            select(table.c.id.label("id"), table.c.hash)
            .where(table.c.prefix == prefix)
            .union_all(select(literal(0).label("id"), literal(_DUMMY_DIGEST, LargeBinary)))
            .order_by(literal_column("id").desc())  # the real row (id > 0) first
            .limit(1)
        )
        row = db.session.execute(query).one()
        found_id, expected = row[0], bytes(row[1])
    candidate = digest(key, token)
    if not hmac.compare_digest(candidate, expected) or found_id == 0:
        return None
    return db.session.scalar(
        select(ApiToken).options(joinedload(ApiToken.principal)).where(ApiToken.id == found_id)
    )

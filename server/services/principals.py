"""Principals and their API tokens: create, list, disable, issue, revoke (CLI and admin API)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

import server.auth.tokens as tokens
from server.auth.actor import ADMIN, SCOPES
from server.infra.database import db
from server.models import ApiToken, Principal
from server.schemas.access import MAX_TOKEN_DAYS
from server.services.common import Listing, commit_unique, list_page
from server.services.errors import FieldRefused, NotFound

DURATION = re.compile(r"^(\d{1,6})([mhdw])$")
UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
MAX_LIFETIME = timedelta(days=MAX_TOKEN_DAYS)


class ScopeNotAllowed(FieldRefused):
    def __init__(self, scopes: set[str]) -> None:
        listed = ", ".join(sorted(scopes))
        super().__init__("scopes", "not_allowed", f"Scopes not allowed here: {listed}.")
        self.scopes = scopes


def parse_duration(text: str) -> timedelta:
    """``30d``, ``12h``, ``90m``, ``2w``: at most MAX_LIFETIME, as the API's expires_in_days."""
    match = DURATION.match(text.strip())
    if match is None:
        raise ValueError(f"{text[:40]!r} is not a duration like 30d, 12h, 90m or 2w")
    duration = timedelta(**{UNITS[match.group(2)]: int(match.group(1))})
    if duration > MAX_LIFETIME:
        # 999999w would also run past the year 9999 (an OverflowError, not a refusal).
        raise ValueError(f"a token lives at most {MAX_LIFETIME.days} days")
    return duration


def create_principal(
    name: str, *, admin: bool = False, kind: str = "user", oidc_subject: str | None = None
) -> Principal:
    principal = Principal(name=name, is_admin=admin, kind=kind, oidc_subject=oidc_subject)
    db.session.add(principal)
    commit_unique("Principal", name)
    return principal


def list_principals(*, limit: int = 1000, offset: int = 0) -> tuple[Sequence[Principal], int]:
    rows = db.session.scalars(
        select(Principal).order_by(Principal.id).limit(limit).offset(offset)
    ).all()
    return rows, db.session.scalar(select(func.count()).select_from(Principal)) or 0


def page_principals(*, limit: int, offset: int = 0, after: int | None = None) -> Listing[Principal]:
    """A page of principals in id order (the admin API's list)."""
    return list_page(select(Principal), Principal.id, limit=limit, offset=offset, after=after)


def get_principal(principal_id: int) -> Principal:
    principal = db.session.get(Principal, principal_id)
    if principal is None:
        raise NotFound("Principal", principal_id)
    return principal


def principal_named(name: str) -> Principal:
    principal = db.session.scalar(select(Principal).where(Principal.name == name))
    if principal is None:
        raise LookupError(f"no principal named {name!r}")
    return principal


def update_principal(principal_id: int, changes: dict[str, object]) -> Principal:
    principal = get_principal(principal_id)
    for field in ("disabled", "is_admin"):
        if field in changes:
            setattr(principal, field, bool(changes[field]))
    db.session.commit()
    return principal


def set_disabled(principal: Principal, disabled: bool) -> Principal:
    principal.disabled = disabled
    db.session.commit()
    return principal


def issue_token(
    key: bytes,
    principal: Principal,
    scopes: set[str],
    *,
    name: str = "",
    expires_in: timedelta | None = None,
    value: str | None = None,
) -> tokens.NewToken:
    """A new token for ``principal``; the admin scope only for admins."""
    unknown = scopes - set(SCOPES)
    if unknown or not scopes:
        raise ScopeNotAllowed(unknown or {"(none)"})
    if ADMIN in scopes and not principal.is_admin:
        raise ScopeNotAllowed({ADMIN})
    expires_at = datetime.now(UTC) + expires_in if expires_in else None
    new = tokens.issue(
        key, principal.id, frozenset(scopes), name=name, expires_at=expires_at, value=value
    )
    commit_unique("Token", new.row.prefix)
    return new


def list_tokens(principal_id: int | None = None) -> Sequence[ApiToken]:
    query = select(ApiToken).options(joinedload(ApiToken.principal)).order_by(ApiToken.id)
    if principal_id is not None:
        query = query.where(ApiToken.principal_id == principal_id)
    return db.session.scalars(query).all()


def token_by_prefix(prefix: str, principal_id: int | None = None) -> ApiToken:
    query = select(ApiToken).where(ApiToken.prefix == prefix)
    if principal_id is not None:
        query = query.where(ApiToken.principal_id == principal_id)
    row = db.session.scalar(query)
    if row is None:
        raise LookupError(f"no token with prefix {prefix!r}")
    return row


def token_by_id(token_id: int, principal_id: int | None = None) -> ApiToken:
    """A token by id; one of another principal's is as absent as a missing one."""
    row = db.session.get(ApiToken, token_id)
    if row is None or (principal_id is not None and row.principal_id != principal_id):
        raise NotFound("Token", token_id)
    return row


def revoke(row: ApiToken) -> ApiToken:
    if row.revoked_at is None:
        row.revoked_at = datetime.now(UTC)
        db.session.commit()
    return row


def token_state(row: ApiToken, now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    if row.revoked_at is not None:
        return "revoked"
    if row.expires_at is not None and row.expires_at <= now:
        return "expired"
    return "active"


BOOTSTRAP_ADMIN = "admin"


def ensure_bootstrap_token(key: bytes, value: str) -> bool:
    """Make ``value`` an admin token of principal ``admin`` unless its prefix exists already.

    True when it was stored now. The principal is created (as an admin) when missing.
    """
    prefix = tokens.parse(value)
    if prefix is None:
        raise ValueError("APP_BOOTSTRAP_ADMIN_TOKEN: not a token of this server (fns_<8>_<43>)")
    if db.session.scalar(select(ApiToken.id).where(ApiToken.prefix == prefix)) is not None:
        return False
    principal = db.session.scalar(select(Principal).where(Principal.name == BOOTSTRAP_ADMIN))
    if principal is None:
        principal = create_principal(BOOTSTRAP_ADMIN, admin=True)
    elif not principal.is_admin:
        raise ValueError(f"principal {BOOTSTRAP_ADMIN!r} exists and is not an admin")
    issue_token(key, principal, set(SCOPES), name="bootstrap", value=value)
    return True

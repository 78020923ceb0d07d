"""/api/v1/me and /api/v1/tokens: who am I, and my own tokens (within my own scopes)."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint

from server.api.contract import contract
from server.auth.actor import require_actor
from server.auth.authentication import insufficient_scope
from server.auth.tokens import key_from_settings
from server.config.runtime import current_settings
from server.models import ApiToken
from server.schemas.access import (
    MeOut,
    PrincipalOut,
    TokenCreate,
    TokenCreated,
    TokenList,
    TokenOut,
)
from server.services import principals

bp = Blueprint("access", __name__)


def token_out(row: ApiToken) -> TokenOut:
    return TokenOut(
        id=row.id,
        prefix=row.prefix,
        name=row.name,
        scopes=sorted(row.scope_set),  # type: ignore[arg-type]
        state=principals.token_state(row),  # type: ignore[arg-type]
        created_at=row.created_at,
        expires_at=row.expires_at,
        last_used_at=row.last_used_at,
    )


def create_token_for(principal_id: int, body: TokenCreate, allowed: frozenset[str]) -> TokenCreated:
    wanted: set[str] = set(body.scopes)
    if not wanted <= allowed:
        raise insufficient_scope(" ".join(sorted(wanted - allowed)))
    new = principals.issue_token(
        key_from_settings(current_settings()),
        principals.get_principal(principal_id),
        wanted,
        name=body.name,
        expires_in=timedelta(days=body.expires_in_days) if body.expires_in_days else None,
    )
    return TokenCreated(**token_out(new.row).model_dump(), token=new.value)


@bp.get("/me")
@contract(response=MeOut)
def me() -> MeOut:
    """Who this credential acts as, and with which scopes."""
    actor = require_actor()
    principal = principals.get_principal(actor.principal_id)
    return MeOut(
        principal=PrincipalOut.model_validate(principal),
        scopes=sorted(actor.scopes),  # type: ignore[arg-type]
        authenticated_by="oidc" if actor.via == "oidc" else "token",
    )


@bp.get("/tokens")
@contract(response=TokenList)
def list_tokens() -> TokenList:
    """My tokens (never their secrets)."""
    rows = principals.list_tokens(require_actor().principal_id)
    return TokenList(items=[token_out(row) for row in rows])


@bp.post("/tokens")
@contract(body=TokenCreate, response=TokenCreated, status=201, created=".get_token")
def create_token(body: TokenCreate) -> tuple[TokenCreated, ApiToken]:
    """Create a token for myself, with at most the scopes of the credential in use."""
    actor = require_actor()
    created = create_token_for(actor.principal_id, body, actor.scopes)
    return created, principals.token_by_id(created.id, actor.principal_id)


@bp.get("/tokens/<id:token_id>")
@contract(response=TokenOut)
def get_token(token_id: int) -> TokenOut:
    """One of my tokens."""
    return token_out(principals.token_by_id(token_id, require_actor().principal_id))


@bp.delete("/tokens/<id:token_id>")
@contract(status=204)
def revoke_token(token_id: int) -> None:
    """Revoke one of my tokens, effective at once."""
    principals.revoke(principals.token_by_id(token_id, require_actor().principal_id))

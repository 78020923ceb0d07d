"""/api/v1/admin: principals and their tokens, for admins (the admin scope on an admin)."""

from __future__ import annotations

from flask import Blueprint

from server.api.access import create_token_for, token_out
from server.api.contract import contract
from server.api.paging import page
from server.auth.actor import SCOPES
from server.auth.gate import requires_scope
from server.models import ApiToken, Principal
from server.schemas.access import (
    PrincipalCreate,
    PrincipalOut,
    PrincipalQuery,
    PrincipalUpdate,
    TokenCreate,
    TokenCreated,
    TokenList,
    TokenOut,
)
from server.schemas.common import Page
from server.services import principals

bp = Blueprint("admin", __name__, url_prefix="/admin")
ADMIN = "admin"


@bp.get("/principals")
@requires_scope(ADMIN)
@contract(query=PrincipalQuery, response=Page[PrincipalOut])
def list_principals(query: PrincipalQuery) -> Page[PrincipalOut]:
    """List principals."""
    listing = principals.page_principals(limit=query.limit, offset=query.offset, after=query.after)
    items = [PrincipalOut.model_validate(p) for p in listing.items]
    last = listing.items[-1].id if listing.items else None
    return page(items, listing, query.limit, query.offset, last)


@bp.post("/principals")
@requires_scope(ADMIN)
@contract(
    body=PrincipalCreate,
    response=PrincipalOut,
    status=201,
    conflicts=True,
    created=".get_principal",
)
def create_principal(body: PrincipalCreate) -> tuple[PrincipalOut, Principal]:
    """Create a user or service account."""
    principal = principals.create_principal(
        body.name, admin=body.is_admin, kind=body.kind, oidc_subject=body.oidc_subject
    )
    return PrincipalOut.model_validate(principal), principal


@bp.get("/principals/<id:principal_id>")
@requires_scope(ADMIN)
@contract(response=PrincipalOut)
def get_principal(principal_id: int) -> PrincipalOut:
    """Read one principal."""
    return PrincipalOut.model_validate(principals.get_principal(principal_id))


@bp.patch("/principals/<id:principal_id>")
@requires_scope(ADMIN)
@contract(body=PrincipalUpdate, response=PrincipalOut)
def update_principal(principal_id: int, body: PrincipalUpdate) -> PrincipalOut:
    """Disable or enable a principal, or change its admin flag."""
    principal = principals.update_principal(principal_id, body.changes())
    return PrincipalOut.model_validate(principal)


@bp.get("/principals/<id:principal_id>/tokens")
@requires_scope(ADMIN)
@contract(response=TokenList)
def list_tokens(principal_id: int) -> TokenList:
    """A principal's tokens (never their secrets)."""
    principals.get_principal(principal_id)
    return TokenList(items=[token_out(row) for row in principals.list_tokens(principal_id)])


@bp.post("/principals/<id:principal_id>/tokens")
@requires_scope(ADMIN)
@contract(body=TokenCreate, response=TokenCreated, status=201, created=".get_token")
def create_token(principal_id: int, body: TokenCreate) -> tuple[TokenCreated, ApiToken]:
    """Create a token for a principal."""
    created = create_token_for(principal_id, body, frozenset(SCOPES))
    return created, principals.token_by_id(created.id)


@bp.get("/tokens/<id:token_id>")
@requires_scope(ADMIN)
@contract(response=TokenOut)
def get_token(token_id: int) -> TokenOut:
    """Read any token (never its secret)."""
    return token_out(principals.token_by_id(token_id))


@bp.delete("/tokens/<id:token_id>")
@requires_scope(ADMIN)
@contract(status=204)
def revoke_token(token_id: int) -> None:
    """Revoke any token, effective at once."""
    principals.revoke(principals.token_by_id(token_id))

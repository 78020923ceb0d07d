"""Principal and token request and response models (/me, /tokens, /admin)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, Field, Strict, StrictBool, StringConstraints
from typing_extensions import TypeAliasType

from server.schemas.common import (
    EXAMPLE_CREATED,
    Input,
    Output,
    PageQuery,
    Patch,
    QueryId,
    Text,
    examples,
    whole_number,
)

# Named, so the OpenAPI document declares each once (components/schemas) and generated clients
# share one type instead of an inline enum per field (TokenOutScopesItem, MeOutScopesItem...).
Scope = TypeAliasType("Scope", Literal["read", "write", "admin"])
PrincipalKind = TypeAliasType("PrincipalKind", Literal["user", "service"])
TokenState = TypeAliasType("TokenState", Literal["active", "expired", "revoked"])
Credential = TypeAliasType("Credential", Literal["token", "oidc"])
# ASCII spelt out, not \w: \w is Unicode to Python and pydantic but ASCII to JavaScript, so a
# client validating with the document's pattern refused what the server took; and ASCII names
# cannot impersonate each other with look-alike letters in a listing.
PrincipalName = Annotated[
    str,
    StringConstraints(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.@+-]+$"),
]
# A JSON integer, as Id is (server/schemas/common.py).
MAX_TOKEN_DAYS = 3650  # a token's longest lifetime, from the API and the CLI alike
Days = Annotated[int, Strict(), Field(ge=1, le=MAX_TOKEN_DAYS), BeforeValidator(whole_number)]
OidcSubject = Annotated[Text, StringConstraints(min_length=1, max_length=255)]
Label = Annotated[str, StringConstraints(max_length=100, pattern=r"^[A-Za-z0-9_ .@+:/-]*$")]
# The public part of a token, fns_<prefix>_<secret>: server/auth/tokens.py generates it from
# this alphabet and reads tokens with this pattern.
TOKEN_PREFIX_PATTERN = r"[a-z0-9]{8}"  # noqa: S105 - a pattern, not a secret
TokenPrefix = Annotated[str, StringConstraints(pattern=rf"^{TOKEN_PREFIX_PATTERN}$")]


PRINCIPAL_EXAMPLE = {
    "id": 2,
    "name": "ci-bot",
    "kind": "service",
    "is_admin": False,
    "disabled": False,
    "created_at": EXAMPLE_CREATED,
}
TOKEN_EXAMPLE = {
    "id": 5,
    "prefix": "ab3de6gh",
    "name": "deploys",
    "scopes": ["read", "write"],
    "state": "active",
    "created_at": EXAMPLE_CREATED,
    "expires_at": "2026-12-31T09:00:00Z",
    "last_used_at": None,
}


class PrincipalOut(Output):
    model_config = examples(PRINCIPAL_EXAMPLE)

    id: int
    name: str
    kind: PrincipalKind
    is_admin: bool
    disabled: bool
    created_at: datetime


class MeOut(Output):
    model_config = examples(
        {"principal": PRINCIPAL_EXAMPLE, "scopes": ["read", "write"], "authenticated_by": "token"}
    )

    principal: PrincipalOut
    scopes: list[Scope] = Field(description="Scopes of the credential this request used.")
    authenticated_by: Credential


class TokenOut(Output):
    model_config = examples(TOKEN_EXAMPLE)

    id: int
    prefix: str = Field(description="Public part of the token (fns_<prefix>_...), for lookup.")
    name: str
    scopes: list[Scope]
    state: TokenState
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None = Field(description="Recorded at most once a minute.")


class TokenList(BaseModel):
    model_config = examples({"items": [TOKEN_EXAMPLE]})

    items: list[TokenOut]


class TokenCreated(TokenOut):
    model_config = examples({**TOKEN_EXAMPLE, "token": "fns_ab3de6gh_" + "x" * 43})

    token: str = Field(description="The token itself: shown this once, never stored.")


class TokenCreate(Input):
    model_config = examples({"scopes": ["read", "write"], "name": "deploys", "expires_in_days": 30})

    scopes: list[Scope] = Field(min_length=1, max_length=3)
    name: Label = ""
    expires_in_days: Days | None = Field(None, description="Lifetime in days; none: until revoked.")


class PrincipalCreate(Input):
    model_config = examples({"name": "ci-bot", "kind": "service"})

    name: PrincipalName
    kind: PrincipalKind = "user"
    is_admin: StrictBool = False
    oidc_subject: OidcSubject | None = None


class PrincipalUpdate(Patch):
    model_config = examples({"disabled": True})

    disabled: StrictBool | None = None
    is_admin: StrictBool | None = None


class PrincipalQuery(PageQuery):
    after: QueryId | None = Field(None, description="Only principals after this id.")

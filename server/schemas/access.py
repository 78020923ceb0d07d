"""Principal and token request and response models (/me, /tokens, /admin)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from server.schemas.common import Input, Output, PageQuery, Patch

Scope = Literal["read", "write", "admin"]
PrincipalName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=100, pattern=r"^[\w.@+-]+$"),
]
Label = Annotated[str, StringConstraints(max_length=100, pattern=r"^[\w .@+:/-]*$")]


class PrincipalOut(Output):
    id: int
    name: str
    kind: Literal["user", "service"]
    is_admin: bool
    disabled: bool
    created_at: datetime


class MeOut(Output):
    principal: PrincipalOut
    scopes: list[Scope] = Field(description="Scopes of the credential this request used.")
    authenticated_by: Literal["token", "oidc"]


class TokenOut(Output):
    id: int
    prefix: str = Field(description="Public part of the token (fns_<prefix>_...), for lookup.")
    name: str
    scopes: list[Scope]
    state: Literal["active", "expired", "revoked"]
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None = Field(description="Recorded at most once a minute.")


class TokenList(BaseModel):
    items: list[TokenOut]


class TokenCreated(TokenOut):
    token: str = Field(description="The token itself: shown this once, never stored.")


class TokenCreate(Input):
    scopes: list[Scope] = Field(min_length=1, max_length=3)
    name: Label = ""
    expires_in_days: int | None = Field(
        None, ge=1, le=3650, description="Lifetime in days; none: until revoked."
    )


class PrincipalCreate(Input):
    name: PrincipalName
    kind: Literal["user", "service"] = "user"
    is_admin: bool = False
    oidc_subject: Annotated[str, StringConstraints(min_length=1, max_length=255)] | None = None


class PrincipalUpdate(Patch):
    disabled: bool | None = None
    is_admin: bool | None = None


class PrincipalQuery(PageQuery):
    pass

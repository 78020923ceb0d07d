"""The error body every failure shares (RFC 9457), for the OpenAPI document."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from typing_extensions import TypeAliasType

# Where a field error was found.
FieldLocation = TypeAliasType("FieldLocation", Literal["body", "query"])


class FieldError(BaseModel):
    in_: FieldLocation = Field(alias="in")
    field: str | None
    message: str
    type: str


class ProblemDetails(BaseModel):
    """application/problem+json; extensions such as `errors` or `checks` may follow."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(description="Stable identifier of the kind of problem: switch on it.")
    title: str = Field(description="The HTTP status phrase.")
    status: int
    detail: str = Field(description="What went wrong, for a person.")
    errors: list[FieldError] | None = Field(None, description="Field errors (422 only).")

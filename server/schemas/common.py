"""Types shared by the request and response models."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Generic, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SerializeAsAny, StringConstraints

# PostgreSQL's int4: ids and offsets beyond it can only be wrong, and would fail in the database.
MAX_INT4 = 2**31 - 1


def _no_nul(value: str) -> str:
    # PostgreSQL text cannot hold NUL: refuse it here rather than fail in the database.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


Text = Annotated[str, AfterValidator(_no_nul)]
Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    AfterValidator(_no_nul),
]
Description = Annotated[str, StringConstraints(max_length=10_000), AfterValidator(_no_nul)]
# When the examples below were created and last changed.
EXAMPLE_CREATED = "2026-12-01T09:00:00Z"
EXAMPLE_UPDATED = "2026-12-01T09:30:00Z"


def examples(*values: dict[str, Any]) -> ConfigDict:
    """A model's examples, for the OpenAPI document (its schema's `examples`)."""
    return ConfigDict(json_schema_extra={"examples": list(values)})


# Strict in bodies: "1" or true is a type error in JSON, not an id.
Id = Annotated[int, Field(ge=1, le=MAX_INT4, strict=True)]
# Query strings are text by nature, so ids there are parsed.
QueryId = Annotated[int, Field(ge=1, le=MAX_INT4)]


class Input(BaseModel):
    """Request models: unknown fields are errors, so a typo never passes silently."""

    model_config = ConfigDict(extra="forbid")

    def changes(self) -> dict[str, Any]:
        """The fields to write: every one (POST, PUT)."""
        return self.model_dump()


class Patch(Input):
    """PATCH bodies: only the fields given change, and a null means "unchanged" except in the
    fields named in ``nullable``, where it clears the value."""

    nullable: ClassVar[frozenset[str]] = frozenset()

    def changes(self) -> dict[str, Any]:
        given = self.model_dump(exclude_unset=True)
        return {
            key: value for key, value in given.items() if value is not None or key in self.nullable
        }


class Output(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class PageQuery(Input):
    limit: int = Field(20, ge=1, le=100, description="Items per page.")
    offset: int = Field(0, ge=0, le=MAX_INT4, description="Items to skip.")


ItemT = TypeVar("ItemT")


class Page(BaseModel, Generic[ItemT]):
    items: list[SerializeAsAny[ItemT]]
    total: int = Field(description="Items matching the query, on all pages.")
    limit: int
    offset: int
    next: str | None = Field(description="URL of the next page, or null on the last one.")

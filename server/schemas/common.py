"""Types shared by the request and response models."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Generic, Self, TypeVar

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    SerializeAsAny,
    StringConstraints,
    model_validator,
)
from sqlalchemy.orm import DeclarativeBase

# What a field accepts, PostgreSQL must be able to store: a value the database refuses would be
# a 500 (tests/test_column_bounds.py walks every column and field to keep the two in step).

# PostgreSQL's int4: ids and offsets beyond it can only be wrong, and would fail in the database.
MAX_INT4 = 2**31 - 1
# Instants a timestamptz column stores and Python reads back: PostgreSQL goes from 4713 BC to
# 294276 AD, Python's datetime from year 1 to 9999. A day's margin at each end keeps the value
# readable in any session time zone.
EARLIEST_INSTANT = datetime(1, 1, 2, tzinfo=UTC)
LATEST_INSTANT = datetime(9999, 12, 30, tzinfo=UTC)


def _storable_text(value: str) -> str:
    # PostgreSQL text cannot hold NUL, and a lone surrogate (JSON "\ud800") is not UTF-8.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode (no lone surrogates)") from None
    return value


def _storable_instant(value: datetime) -> datetime:
    """The instant in UTC, if the database can store it and read it back."""
    try:
        utc = value.astimezone(UTC)
    except OverflowError:
        utc = None
    if utc is None or not EARLIEST_INSTANT <= utc <= LATEST_INSTANT:
        raise ValueError(
            f"must lie between {EARLIEST_INSTANT.isoformat()} and {LATEST_INSTANT.isoformat()}"
        )
    return utc


Text = Annotated[str, AfterValidator(_storable_text)]
Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    AfterValidator(_storable_text),
]
Description = Annotated[str, StringConstraints(max_length=10_000), AfterValidator(_storable_text)]
# A point in time with its offset, stored as UTC.
Instant = Annotated[AwareDatetime, AfterValidator(_storable_instant)]
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

    @model_validator(mode="before")
    @classmethod
    def _read_rows_here(cls, data: Any) -> Any:
        # Reading a row's attributes may query the database (an expired or lazy attribute).
        # Inside pydantic's own attribute reading, a lost connection there becomes a
        # ValidationError ("get_attribute_error") and a 500; read here, it stays itself and
        # answers 503. A missing attribute is left to the field's default, as pydantic does.
        if not isinstance(data, DeclarativeBase):
            return data
        values = {}
        for name, field in cls.model_fields.items():
            try:
                values[name] = getattr(data, field.alias or name)
            except AttributeError:
                continue
        return values


# Skipping rows costs as much as reading them: deeper pages go by `after` (keyset), whose cost
# does not grow with the table. Totals are counted this far and no further, for the same reason.
MAX_OFFSET = 10_000
COUNT_CAP = 10_000


class PageQuery(Input):
    limit: int = Field(20, ge=1, le=100, description="Items per page.")
    offset: int = Field(
        0,
        ge=0,
        le=MAX_OFFSET,
        description=f"Items to skip, at most {MAX_OFFSET}; page further with `after`.",
    )

    @model_validator(mode="after")
    def _one_way_to_page(self) -> Self:
        if self.offset and getattr(self, "after", None) is not None:
            raise ValueError("give offset or after, not both")
        return self


ItemT = TypeVar("ItemT")


class Page(BaseModel, Generic[ItemT]):
    items: list[SerializeAsAny[ItemT]]
    total: int = Field(
        description=f"Items matching the query, on all pages, counted up to {COUNT_CAP}."
    )
    total_capped: bool = Field(
        False, description=f"True when more than {COUNT_CAP} items match: total is a lower bound."
    )
    limit: int
    offset: int
    next: str | None = Field(
        description="URL of the next page (by `after`), or null on the last one."
    )

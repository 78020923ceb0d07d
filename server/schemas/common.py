"""Types shared by the request and response models."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Generic, TypeVar

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    SerializeAsAny,
    Strict,
    StringConstraints,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from sqlalchemy.orm import DeclarativeBase

# What a field accepts, PostgreSQL must be able to store: a value the database refuses would be
# a 500 (tests/test_column_bounds.py walks every column and field to keep the two in step). And
# what a field accepts, its schema in the OpenAPI document accepts, no more and no less
# (tests/test_documented_bodies.py): a client, or a fuzzer, that trusts the document is never
# refused a valid request nor has an invalid one taken.

# PostgreSQL's int4: ids and offsets beyond it can only be wrong, and would fail in the database.
MAX_INT4 = 2**31 - 1
# Instants a timestamptz column stores and Python reads back: PostgreSQL goes from 4713 BC to
# 294276 AD, Python's datetime from year 1 to 9999. A day's margin at each end keeps the value
# readable in any session time zone.
EARLIEST_INSTANT = datetime(1, 1, 2, tzinfo=UTC)
LATEST_INSTANT = datetime(9999, 12, 30, tzinfo=UTC)

# Whitespace as Python's str.isspace() or ECMA-262's \s (the dialect of JSON Schema patterns)
# knows it, spelt out: the two differ (U+001C-U+001F and U+0085 are Python's only, U+FEFF
# ECMA's), so \s in a pattern would mean one thing to the server and another to a client.
SPACES = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680"
    + "".join(map(chr, range(0x2000, 0x200B)))
    + "\u2028\u2029\u202f\u205f\u3000\ufeff"
)
# The same characters inside a pattern's [...], as \uXXXX: read alike by Python's re, ECMA-262
# and the Rust regex pydantic uses (tests/test_documented_bodies.py checks the two agree).
SPACE = (
    r"\u0009-\u000d\u001c-\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
)
# Characters that show nothing (format characters and fillers): a name of them alone lists as
# blank, as whitespace would.
INVISIBLE = (
    r"\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u2060-\u2064"
    r"\u206a-\u206f\u3164\ufe00-\ufe0f\uffa0"
)
# Bidirectional embeddings, overrides and isolates reorder the text after them, so a name could
# show as other than it is ("gpj.exe" preceded by U+202E shows as "exe.jpg"). Right-to-left
# names need none of them.
BIDI_CONTROLS = r"\u202a-\u202e\u2066-\u2069"
# The patterns below use nothing but explicit classes, so they mean the same in both dialects.
# Text: no NUL (PostgreSQL text cannot hold one).
TEXT_PATTERN = r"^[^\x00]*$"
# A name: no NUL and no bidirectional control, and something besides whitespace (which is
# stripped before it is stored) and invisible characters.
NAME_PATTERN = (
    rf"^[^\x00{BIDI_CONTROLS}]*[^{SPACE}{INVISIBLE}\x00{BIDI_CONTROLS}][^\x00{BIDI_CONTROLS}]*$"
)
# RFC 3339 (JSON Schema's date-time), with the seconds Python can hold (no leap second) and a
# year from 0002 to 9998: whatever its offset, the instant is then one PostgreSQL stores and
# Python reads back. Without it, pydantic would also take 0 (the epoch), "2026-12-24 17:00Z"
# or "+0500", none of which the document's date-time admits.
_YEAR = r"(?:000[2-9]|00[1-9][0-9]|0[1-9][0-9]{2}|[1-8][0-9]{3}|9[0-8][0-9]{2}|99[0-8][0-9])"
INSTANT_PATTERN = (
    rf"^{_YEAR}-[0-9]{{2}}-[0-9]{{2}}[Tt][0-9]{{2}}:[0-9]{{2}}:[0-5][0-9](?:\.[0-9]+)?"
    r"(?:[Zz]|[+-][0-9]{2}:[0-9]{2})$"
)
# What INSTANT_PATTERN refuses of RFC 3339's date-times, as the document says it (beside
# format date-time, which says the rest): the years 0000, 0001 and 9999 and a leap second.
UNSTORABLE_INSTANT_PATTERN = (
    r"^(?:000[01]|9999)-|^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:60"
)


@dataclass(frozen=True)
class Documented:
    """Puts ``pattern`` in the field's JSON Schema; the validators beside it enforce it, each
    with a message of its own rather than pydantic's "should match pattern ..."."""

    pattern: str

    def keywords(self) -> dict[str, Any]:
        """What this puts in the field's JSON Schema."""
        return {"pattern": self.pattern}

    def __get_pydantic_json_schema__(
        self, core_schema: Any, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler(core_schema)
        schema.update(self.keywords())
        return schema


@dataclass(frozen=True)
class DocumentedExclusion(Documented):
    """Puts ``not: {pattern}`` in the field's JSON Schema: the values its ``format`` admits that
    the validators beside it refuse.

    Not a ``pattern`` beside the format: client generators turn a formatted string into a
    native value (a ``datetime``) and then match the pattern against that. openapi-generator's
    Python client, up to 7.23 (nixpkgs' at the flake's pin), matched ``str(datetime)``, with a
    space for the T, and refused every date a caller set; its Java client puts ``@Pattern`` on
    an ``OffsetDateTime``, which Bean Validation cannot check. Generators leave ``not`` alone,
    and JSON Schema validators and fuzzers honour it."""

    def keywords(self) -> dict[str, Any]:
        return {"not": {"pattern": self.pattern}}


def _storable_text(value: str) -> str:
    # PostgreSQL text cannot hold NUL, and a lone surrogate (JSON "\ud800") is not UTF-8.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode (no lone surrogates)") from None
    return value


def _name(value: str) -> str:
    """A storable name, stripped of surrounding whitespace and in Unicode's composed form (NFC);
    whitespace and invisible characters alone are no name, and bidirectional controls have no
    place in one.

    Composed, because the same text can come in two spellings: "é" as one code point, or as
    "e" and a combining accent (what macOS's file names and some keyboards produce). Stored as
    sent, the two were two names that look the same (both unique per owner), and a search in
    one spelling missed names in the other."""
    _storable_text(value)
    if re.search(f"[{BIDI_CONTROLS}]", value):
        raise ValueError(
            "must not contain bidirectional embedding, override or isolate characters "
            "(U+202A to U+202E, U+2066 to U+2069)"
        )
    if not re.search(NAME_PATTERN, value):
        raise ValueError("must contain a character other than whitespace and invisible ones")
    # Composed, it may be longer (U+0958 is U+0915 U+093C): the columns hold 3 times the
    # length as sent (server/models/base.py), so what the document accepts is stored whole.
    return strip_spaces(unicodedata.normalize("NFC", value))


def strip_spaces(value: str) -> str:
    return value.strip(SPACES)


def _rfc3339(value: object) -> object:
    # Before pydantic's own parsing, which is laxer than the document (see INSTANT_PATTERN).
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not re.search(INSTANT_PATTERN, value):
        raise ValueError(
            "must be an RFC 3339 date-time with its offset, years 0002 to 9998, "
            "such as 2026-12-24T17:00:00Z"
        )
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


Text = Annotated[str, AfterValidator(_storable_text), Documented(TEXT_PATTERN)]
# Length and pattern are checked as sent (as the document says), then the name is composed
# (NFC) and stripped.
Name = Annotated[
    str,
    StringConstraints(min_length=1, max_length=200),
    AfterValidator(_name),
    Documented(NAME_PATTERN),
]
Description = Annotated[
    str,
    StringConstraints(max_length=10_000),
    AfterValidator(_storable_text),
    Documented(TEXT_PATTERN),
]
# A point in time with its offset, stored as UTC.
Instant = Annotated[
    AwareDatetime,
    BeforeValidator(_rfc3339),
    AfterValidator(_storable_instant),
    DocumentedExclusion(UNSTORABLE_INSTANT_PATTERN),
]
# When the examples below were created and last changed.
EXAMPLE_CREATED = "2026-12-01T09:00:00Z"
EXAMPLE_UPDATED = "2026-12-01T09:30:00Z"


def examples(*values: dict[str, Any]) -> ConfigDict:
    """A model's examples, for the OpenAPI document (its schema's `examples`)."""
    return ConfigDict(json_schema_extra={"examples": list(values)})


def whole_number(value: object) -> object:
    # JSON has numbers, not ints and floats: to JSON Schema (and to a client that writes 1399.0,
    # as schemathesis does) an integer is any number without a fraction.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# Strict in bodies: "1" or true is a type error in JSON, not an integer; 2.0 is 2. (The
# validator last, so that it runs first and the bounds stay in the JSON Schema.)
Id = Annotated[int, Strict(), Field(ge=1, le=MAX_INT4), BeforeValidator(whole_number)]
# Query strings are text by nature, so ids there are parsed.
QueryId = Annotated[int, Field(ge=1, le=MAX_INT4)]


class Input(BaseModel):
    """Request models: unknown fields are errors, so a typo never passes silently."""

    model_config = ConfigDict(extra="forbid")

    def changes(self) -> dict[str, Any]:
        """The fields to write: every one (POST, PUT)."""
        return self.model_dump()


class NoQuery(Input):
    """The query of an operation that takes no parameter: any one given is an error (422), as
    an unknown one is where an operation takes some, instead of being ignored."""


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
        description=f"Items to skip (after `after`, when given), at most {MAX_OFFSET}; "
        "page further with `after`.",
    )


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

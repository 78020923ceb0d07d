"""Tag request and response models."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, Field, StringConstraints

from server.schemas.common import (
    EXAMPLE_CREATED,
    SPACE,
    Input,
    Output,
    PageQuery,
    examples,
    strip_spaces,
)

# Tags are case-insensitive ASCII labels, stored lower-case. ASCII also keeps the pattern meaning
# the same in Python and in the JSON Schema (ECMA-262) regex dialect clients use. The pattern
# admits no NUL, so tags need no NUL check of their own. Whitespace around a tag is stripped:
# the pattern (which the document shows) admits it, so that what it says is what is taken.
TAG_PATTERN = rf"^[{SPACE}]*[A-Za-z0-9_.:-]+[{SPACE}]*$"
TagName = Annotated[
    str,
    StringConstraints(to_lower=True, min_length=1, max_length=64, pattern=TAG_PATTERN),
    AfterValidator(strip_spaces),
]


class TagCreate(Input):
    model_config = examples({"name": "urgent"})

    name: TagName


class TagQuery(PageQuery):
    after: TagName | None = Field(None, description="Only tags after this name.")


class TagOut(Output):
    model_config = examples(
        {
            "id": 3,
            "name": "urgent",
            "version": 1,
            "created_at": EXAMPLE_CREATED,
            "updated_at": EXAMPLE_CREATED,
        }
    )

    id: int
    name: str
    version: int
    created_at: datetime
    updated_at: datetime

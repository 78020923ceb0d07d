"""Tag request and response models."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field, StringConstraints

from server.schemas.common import EXAMPLE_CREATED, Input, Output, PageQuery, examples

# Tags are case-insensitive ASCII labels, stored lower-case. ASCII also keeps the pattern meaning
# the same in Python and in the JSON Schema (ECMA-262) regex dialect clients use. The pattern
# admits no NUL, so tags need no NUL check of their own.
TagName = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        to_lower=True,
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9_.:-]+$",
    ),
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

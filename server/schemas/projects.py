"""Project request and response models."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from server.schemas.common import (
    EXAMPLE_CREATED,
    EXAMPLE_UPDATED,
    Description,
    Input,
    Name,
    Output,
    PageQuery,
    Patch,
    QueryId,
    examples,
)


class ProjectCreate(Input):
    model_config = examples({"name": "Home", "description": "Chores and repairs."})

    name: Name
    description: Description = ""


class ProjectUpdate(Patch):
    """PATCH body: only the fields given change."""

    model_config = examples({"description": "Chores, repairs and the garden."})

    name: Name | None = None
    description: Description | None = None


class ProjectReplace(ProjectCreate):
    """PUT body: the whole resource."""


class ProjectQuery(PageQuery):
    name: Name | None = Field(None, description="Only projects whose name contains this.")
    after: QueryId | None = Field(None, description="Only projects after this id.")


class ProjectOut(Output):
    model_config = examples(
        {
            "id": 1,
            "name": "Home",
            "description": "Chores and repairs.",
            "task_count": 2,
            "version": 2,
            "created_at": EXAMPLE_CREATED,
            "updated_at": EXAMPLE_UPDATED,
        }
    )

    id: int
    name: str
    description: str
    task_count: int = 0
    version: int
    created_at: datetime
    updated_at: datetime

"""Task request and response models."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from pydantic import Field, field_validator

from server.models import TaskStatus
from server.schemas.common import (
    EXAMPLE_CREATED,
    EXAMPLE_UPDATED,
    Description,
    Id,
    Input,
    Instant,
    Name,
    Output,
    PageQuery,
    Patch,
    QueryId,
    examples,
)
from server.schemas.tags import TagName

MAX_TAGS = 20


class TaskCreate(Input):
    model_config = examples(
        {
            "project_id": 1,
            "title": "Fix the tap",
            "description": "The kitchen one drips.",
            "status": "todo",
            "due_at": "2026-12-24T17:00:00Z",
            "tags": ["urgent", "plumbing"],
        }
    )

    project_id: Id
    title: Name
    description: Description = ""
    status: TaskStatus = TaskStatus.todo
    due_at: Instant | None = None
    tags: list[TagName] = Field(default_factory=list, max_length=MAX_TAGS)


class TaskReplace(TaskCreate):
    """PUT body: the whole resource."""


class TaskUpdate(Patch):
    """PATCH body: only the fields given change; due_at may be cleared with null."""

    model_config = examples({"status": "done"}, {"due_at": None})
    nullable: ClassVar[frozenset[str]] = frozenset({"due_at"})

    project_id: Id | None = None
    title: Name | None = None
    description: Description | None = None
    status: TaskStatus | None = None
    due_at: Instant | None = None
    tags: list[TagName] | None = Field(None, max_length=MAX_TAGS)


class TaskQuery(PageQuery):
    project_id: QueryId | None = Field(None, description="Only tasks of this project.")
    status: TaskStatus | None = Field(None, description="Only tasks in this state.")
    tag: TagName | None = Field(None, description="Only tasks carrying this tag.")
    after: QueryId | None = Field(None, description="Only tasks after this id.")


class TaskOut(Output):
    model_config = examples(
        {
            "id": 7,
            "project_id": 1,
            "title": "Fix the tap",
            "description": "The kitchen one drips.",
            "status": "doing",
            "due_at": "2026-12-24T17:00:00Z",
            "tags": ["plumbing", "urgent"],
            "version": 2,
            "created_at": EXAMPLE_CREATED,
            "updated_at": EXAMPLE_UPDATED,
        }
    )

    id: int
    project_id: int
    title: str
    description: str
    status: TaskStatus
    due_at: datetime | None
    tags: list[str]
    version: int
    created_at: datetime
    updated_at: datetime

    @field_validator("tags", mode="before")
    @classmethod
    def _tag_names(cls, value: object) -> object:
        if isinstance(value, list):
            return [getattr(tag, "name", tag) for tag in value]
        return value

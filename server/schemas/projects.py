"""Project request and response models."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from server.schemas.common import Description, Input, Name, Output, PageQuery, Patch


class ProjectCreate(Input):
    name: Name
    description: Description = ""


class ProjectUpdate(Patch):
    """PATCH body: only the fields given change."""

    name: Name | None = None
    description: Description | None = None


class ProjectReplace(ProjectCreate):
    """PUT body: the whole resource."""


class ProjectQuery(PageQuery):
    name: Name | None = Field(None, description="Only projects whose name contains this.")


class ProjectOut(Output):
    id: int
    name: str
    description: str
    task_count: int = 0
    version: int
    created_at: datetime
    updated_at: datetime

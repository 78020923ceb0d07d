"""A task belongs to one project and carries any number of tags."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Enum, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.models.base import NAME_LENGTH, Base, Instant, Timestamped
from server.models.tag import task_tags

if TYPE_CHECKING:
    from server.models.project import Project
    from server.models.tag import Tag


class TaskStatus(enum.StrEnum):
    todo = "todo"
    doing = "doing"
    done = "done"


class Task(Timestamped, Base):
    __tablename__ = "tasks"
    # A filtered page in id order reads only its own rows: (project_id, id) also serves the
    # foreign key and the per-project task counts, (status, id) the status filter.
    __table_args__ = (
        Index("ix_tasks_project_id_id", "project_id", "id"),
        Index("ix_tasks_status_id", "status", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(NAME_LENGTH))
    description: Mapped[str] = mapped_column(Text, default="", server_default="")
    # A CHECK constraint rather than a PostgreSQL enum type: new states need no type migration.
    status: Mapped[TaskStatus] = mapped_column(
        Enum(TaskStatus, native_enum=False, length=16, create_constraint=True, name="status"),
        default=TaskStatus.todo,
        server_default=TaskStatus.todo.value,
    )
    due_at: Mapped[datetime | None] = mapped_column(Instant())

    project: Mapped[Project] = relationship(back_populates="tasks")
    tags: Mapped[list[Tag]] = relationship(
        secondary=task_tags, back_populates="tasks", order_by="Tag.name"
    )

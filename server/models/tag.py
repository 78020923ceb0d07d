"""Tags label tasks, many to many; each owner has its own set of tag names."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import Column, ForeignKey, Index, String, Table, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.models.base import Base, Timestamped

if TYPE_CHECKING:
    from server.models.task import Task

task_tags = Table(
    "task_tags",
    Base.metadata,
    Column("task_id", ForeignKey("tasks.id", ondelete="CASCADE"), primary_key=True),
    Column("tag_id", ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True),
    # A tag's tasks in id order, for pages of tasks filtered by tag.
    Index("ix_task_tags_tag_id_task_id", "tag_id", "task_id"),
)


class Tag(Timestamped, Base):
    __tablename__ = "tags"
    __table_args__ = (UniqueConstraint("owner_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # No index of its own: the unique (owner_id, name) constraint's index leads with it.
    owner_id: Mapped[int] = mapped_column(ForeignKey("principals.id", ondelete="RESTRICT"))
    name: Mapped[str] = mapped_column(String(64))

    tasks: Mapped[list[Task]] = relationship(
        secondary=task_tags, back_populates="tags", passive_deletes=True
    )

"""A project belongs to a principal and owns tasks."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.models.base import NAME_LENGTH, Base, Timestamped

if TYPE_CHECKING:
    from server.models.principal import Principal
    from server.models.task import Task


class Project(Timestamped, Base):
    __tablename__ = "projects"
    # Names are unique per owner: a global constraint would tell one owner another's names.
    # (owner_id, id): an owner's projects in id order, what every isolated page reads.
    __table_args__ = (
        UniqueConstraint("owner_id", "name"),
        Index("ix_projects_owner_id_id", "owner_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # No index of its own: the unique (owner_id, name) constraint's index leads with it.
    owner_id: Mapped[int] = mapped_column(ForeignKey("principals.id", ondelete="RESTRICT"))
    name: Mapped[str] = mapped_column(String(NAME_LENGTH))
    description: Mapped[str] = mapped_column(Text, default="", server_default="")

    owner: Mapped[Principal] = relationship(back_populates="projects")
    tasks: Mapped[list[Task]] = relationship(
        back_populates="project", cascade="all, delete-orphan", passive_deletes=True
    )

"""Declarative base with a naming convention, so Alembic names every constraint the same way."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Dialect, MetaData, func
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column
from sqlalchemy.types import TypeDecorator

# Project names and task titles: 200 characters as sent, stored in Unicode's composed form
# (server/schemas/common.py), which a few characters make longer, at most 3 times (UAX #15).
NAME_LENGTH = 600

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Instant(TypeDecorator[datetime]):
    """A timestamptz, read back in UTC.

    PostgreSQL returns a timestamptz in the session's TimeZone, which comes from the server's
    configuration (Debian's clusters take the host's zone), the role or the database, or the
    client's PGTZ. Without this, the API's instants came out as "+09:00" on one server and "Z"
    on the next. Converted here rather than SET on each new connection: it holds whatever the
    session says, and costs no round trip.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.astimezone(UTC)


class Timestamped:
    """created_at/updated_at set by the database, and a version for optimistic concurrency."""

    created_at: Mapped[datetime] = mapped_column(
        Instant(), server_default=func.now(), default=utcnow
    )
    updated_at: Mapped[datetime] = mapped_column(
        Instant(), server_default=func.now(), default=utcnow, onupdate=utcnow
    )
    # SQLAlchemy bumps it on every UPDATE and fails a stale one (version_id_col below).
    version: Mapped[int] = mapped_column(server_default="1")

    @declared_attr.directive
    def __mapper_args__(cls) -> dict[str, Any]:
        return {"version_id_col": cls.__table__.c.version}  # type: ignore[attr-defined]

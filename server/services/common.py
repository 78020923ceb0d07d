"""Lookups, concurrency checks and the unique-name commit shared by the domain services."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from psycopg2 import errorcodes
from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import InstrumentedAttribute

from server.infra.database import db
from server.models.base import Base
from server.schemas.common import COUNT_CAP
from server.services.errors import Duplicate, NotFound, StaleVersion

ModelT = TypeVar("ModelT", bound=Base)
RowT = TypeVar("RowT")


@dataclass(frozen=True)
class Listing(Generic[RowT]):
    """One page of rows, whether more follow it, and how many match in all (up to COUNT_CAP)."""

    items: Sequence[RowT]
    more: bool
    total: int
    total_capped: bool


def list_page(
    # Select[Any]: SQLAlchemy 2.0 types a one-entity select Select[tuple[Tag]], 2.1 Select[Tag].
    query: Select[Any],
    key: ColumnElement[Any] | InstrumentedAttribute[Any],
    *,
    limit: int,
    offset: int,
    after: object | None,
    key_copies: Sequence[ColumnElement[Any] | InstrumentedAttribute[Any]] = (),
    count_in_key_order: bool = False,
) -> Listing[Any]:
    """The page of ``query`` in ``key`` order: ``after`` a key (keyset) or ``offset`` rows in.

    Its cost follows the page, not the table: the key's index finds the start, one row more
    than the page tells whether another follows, and the count stops at COUNT_CAP.
    ``key_copies`` are columns a join makes equal to the key: ``after`` bounds them too, or
    PostgreSQL may merge-join from their first row rather than from ``after``.
    ``count_in_key_order`` counts the rows in the page's order, so that PostgreSQL walks the
    page's index and stops at the cap; left to choose, it may hash every matching row first.
    Only where the key's index holds just the matching rows (a tag's): elsewhere an ordered
    count may walk every owner's rows to find one owner's.
    """
    total, capped = capped_count(query.order_by(key if count_in_key_order else None))
    if after is not None:
        query = query.where(*(column > after for column in (key, *key_copies)))
    rows = db.session.scalars(query.order_by(key).limit(limit + 1).offset(offset)).all()
    return Listing(rows[:limit], len(rows) > limit, total, capped)


def capped_count(query: Select[Any]) -> tuple[int, bool]:
    """How many rows ``query`` yields, counting no further than COUNT_CAP; and whether capped."""
    # The rows themselves, not a bare constant: row isolation (server/auth/isolation.py) adds
    # its owner condition to statements on the models, and must see this one as such.
    counted = query.limit(COUNT_CAP + 1).subquery()
    found = db.session.scalar(select(func.count()).select_from(counted)) or 0
    return min(found, COUNT_CAP), found > COUNT_CAP


def get_or_raise(model: type[ModelT], ident: int) -> ModelT:
    obj = db.session.get(model, ident)
    if obj is None:
        raise NotFound(model.__name__, ident)
    return obj


def check_version(current: int, expected: frozenset[int] | None) -> None:
    """Refuse a write made against versions other than the stored one (If-Match: any of the
    tags it lists may be current)."""
    if expected is not None and current not in expected:
        raise StaleVersion(current, expected)


def commit_unique(kind: str, name: str) -> None:
    """Commit, or roll back and raise Duplicate when the name is already taken. Any other
    integrity error (a check or foreign key of the database's) goes on as it is: calling it a
    taken name sent the operator looking for a duplicate that is not there."""
    try:
        db.session.commit()
    except IntegrityError as exc:
        db.session.rollback()
        # Only a unique violation means the name is taken.
        if getattr(exc.orig, "pgcode", None) != errorcodes.UNIQUE_VIOLATION:
            raise
        raise Duplicate(kind, name) from None

"""Lookups, concurrency checks and the unique-name commit shared by the domain services."""

from __future__ import annotations

from typing import TypeVar

from sqlalchemy.exc import IntegrityError

from server.infra.database import db
from server.models.base import Base
from server.services.errors import Duplicate, NotFound, StaleVersion

ModelT = TypeVar("ModelT", bound=Base)


def get_or_raise(model: type[ModelT], ident: int) -> ModelT:
    obj = db.session.get(model, ident)
    if obj is None:
        raise NotFound(model.__name__, ident)
    return obj


def check_version(current: int, expected: int | None) -> None:
    """Refuse a write made against an older version than the stored one (If-Match)."""
    if expected is not None and expected != current:
        raise StaleVersion(current, expected)


def commit_unique(kind: str, name: str) -> None:
    """Commit, or roll back and raise Duplicate when the name is already taken."""
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise Duplicate(kind, name) from None

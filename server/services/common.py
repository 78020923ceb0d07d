"""Lookups and concurrency checks shared by the domain services."""

from __future__ import annotations

from typing import TypeVar

from server.errors import Problem
from server.extensions import db
from server.models.base import Base

ModelT = TypeVar("ModelT", bound=Base)


def get_or_404(model: type[ModelT], ident: int) -> ModelT:
    obj = db.session.get(model, ident)
    if obj is None:
        raise Problem(404, f"{model.__name__} {ident} does not exist.")
    return obj


def check_version(current: int, expected: int | None) -> None:
    """Refuse a write made against an older version than the stored one (If-Match)."""
    if expected is not None and expected != current:
        raise Problem(
            412,
            f"The resource is at version {current}, not {expected}; fetch it and retry.",
            current_version=current,
        )

"""Command-line arguments checked by the same pydantic types as the API's fields, so that the
CLI stores nothing the API would refuse (a tab in a name broke `principals list`'s columns, a
NUL reached the driver as a traceback)."""

from __future__ import annotations

from typing import Any

import click
from pydantic import TypeAdapter, ValidationError


# Not subscripted: click is generic from 8.2 on only (pyproject allows 8.1).
class Checked(click.ParamType):  # type: ignore[type-arg, unused-ignore]
    """A click parameter type that validates with ``TypeAdapter(annotation)``."""

    def __init__(self, name: str, annotation: Any) -> None:
        self.name = name
        self._adapter: TypeAdapter[Any] = TypeAdapter(annotation)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        try:
            return self._adapter.validate_python(value)
        except ValidationError as exc:
            self.fail(exc.errors()[0]["msg"], param, ctx)

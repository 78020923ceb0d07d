"""Apps built inside the tests: the factory's app, flagged as under test for Flask."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask
from sqlalchemy import event

from server import create_app
from server.config import Settings
from server.infra.database import db


def build_app(settings: Settings) -> Flask:
    app = create_app(settings)
    app.testing = True  # Flask's TESTING: a flag of the tests, not a setting of the server
    return app


@contextmanager
def recorded_statements(app: Flask) -> Iterator[list[str]]:
    """The SQL statements the app's engine sends inside the block, in order."""
    statements: list[str] = []

    def record(*args: object) -> None:
        statements.append(str(args[2]))

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)

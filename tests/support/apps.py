"""Apps built inside the tests: the factory's app, flagged as under test for Flask."""

from __future__ import annotations

from flask import Flask

from server import create_app
from server.config import Settings


def build_app(settings: Settings) -> Flask:
    app = create_app(settings)
    app.testing = True  # Flask's TESTING: a flag of the tests, not a setting of the server
    return app

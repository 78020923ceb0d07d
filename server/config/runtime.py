"""The running app's settings: their one home at runtime.

The factory puts them in ``app.extensions["settings"]``; ``app.config`` holds only the keys Flask
and its extensions read. Kept apart from server/config/__init__.py, which must not import Flask
(the CLI's fast path reads settings without it).
"""

from __future__ import annotations

from flask import Flask, current_app

from server.config.base import Settings


def current_settings(app: Flask | None = None) -> Settings:
    settings: Settings = (app or current_app).extensions["settings"]
    return settings

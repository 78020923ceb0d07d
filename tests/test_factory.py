"""The factory builds a working app from settings."""

from __future__ import annotations

import pytest
from flask import Flask

from support.auth import AuthenticatedClient


def test_app_uses_the_testing_profile(app: Flask) -> None:
    assert app.config["TESTING"] is True
    assert app.extensions["settings"].env == "testing"


def test_live(client: AuthenticatedClient) -> None:
    response = client.get("/health/live")
    assert response.status_code == 200
    assert response.json == {"status": "ok"}


def test_ready(client: AuthenticatedClient) -> None:
    response = client.get("/health/ready")
    assert response.status_code == 200, response.json
    assert response.json["checks"] == {"database": "ok", "redis": "ok"}


def test_coroutine_verdicts_are_remembered_within_bounds(app: Flask) -> None:
    """The app asks once whether a hook or view is a coroutine function (server/app.py), and
    per-request callables (after_this_request's closures) cannot grow that table for good."""
    from server.app import App

    assert isinstance(app, App)

    async def coroutine() -> None:
        return None

    for _ in range(2):  # asked, then remembered: still a coroutine function (no asgiref here)
        with pytest.raises(RuntimeError, match="async"):
            app.ensure_sync(coroutine)
    for _ in range(App.ASYNC_VERDICTS_MAX + 10):

        def fresh() -> None:
            return None

        assert app.ensure_sync(fresh) is fresh
    assert len(app._async_verdicts) <= App.ASYNC_VERDICTS_MAX

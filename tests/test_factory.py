"""The factory builds a working app from settings."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient


def test_app_uses_the_testing_profile(app: Flask) -> None:
    assert app.config["TESTING"] is True
    assert app.extensions["settings"].env == "testing"


def test_live(client: FlaskClient) -> None:
    response = client.get("/health/live")
    assert response.status_code == 200
    assert response.json == {"status": "ok"}


def test_ready(client: FlaskClient) -> None:
    response = client.get("/health/ready")
    assert response.status_code == 200, response.json
    assert response.json["checks"] == {"database": "ok", "redis": "ok"}

"""Authenticated test clients: every test client sends a principal's token unless told not to.

The session's ``app`` fixture (conftest.py) commits a principal ``tester`` with a read-write
token and sets it as the default; ``anonymous()`` clients send nothing.
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from server.auth.actor import ADMIN, READ, WRITE
from server.auth.tokens import key_from_settings
from server.config.runtime import current_settings
from server.models import Principal
from server.services import principals

_default_token: str | None = None


class AuthenticatedClient(FlaskClient):
    """Adds ``Authorization: Bearer <default token>`` to requests that carry none."""

    send_default_token = True

    def open(self, *args: Any, **kwargs: Any) -> Any:
        if self.send_default_token and _default_token is not None:
            headers = dict(kwargs.pop("headers", None) or {})
            if not any(name.lower() == "authorization" for name in headers):
                headers["Authorization"] = f"Bearer {_default_token}"
            kwargs["headers"] = headers
        return super().open(*args, **kwargs)


def anonymous(app: Flask) -> FlaskClient:
    client = app.test_client()
    if isinstance(client, AuthenticatedClient):
        client.send_default_token = False
    return client


def default_token() -> str:
    assert _default_token is not None
    return _default_token


def set_default_token(token: str | None) -> None:
    global _default_token
    _default_token = token


def make_principal(name: str, *, admin: bool = False) -> Principal:
    """A principal, in the current app context and test transaction."""
    return principals.create_principal(name, admin=admin)


def make_token(principal: Principal, *scopes: str, **options: Any) -> str:
    if not scopes:
        scopes = (READ, WRITE, ADMIN) if principal.is_admin else (READ, WRITE)
    key = key_from_settings(current_settings())
    return principals.issue_token(key, principal, set(scopes), **options).value


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}

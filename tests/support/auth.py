"""Authenticated test clients: every test client sends a principal's token unless told not to.

The session's ``app`` fixture (conftest.py) commits a principal ``tester`` with a read-write
token and sets it as the default; ``anonymous()`` clients send nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from server.auth.actor import ADMIN, READ, WRITE
from server.auth.tokens import key_from_settings
from server.config.runtime import current_settings
from server.models import Principal
from server.services import principals

_default_token: str | None = None


class ApiResponse(TestResponse):
    """A test client's response. Its JSON body is typed ``Any`` (werkzeug: ``Any | None``, None
    when the body is not JSON) for the assertions that index it: a None fails them anyway."""

    @property
    def json(self) -> Any:
        return self.get_json()


_api_responses: dict[type[Any], type[ApiResponse]] = {}


def api_response(response_class: type[Any]) -> type[ApiResponse]:
    """The app's response class as an ApiResponse (werkzeug's client makes the same mix-in of
    its TestResponse when given a response class that is not one), made once per class."""
    if issubclass(response_class, ApiResponse):
        return response_class
    if response_class not in _api_responses:
        mixed = type(f"Api{response_class.__name__}", (ApiResponse, response_class), {})
        _api_responses[response_class] = mixed
    return _api_responses[response_class]


class AuthenticatedClient(FlaskClient):
    """Adds ``Authorization: Bearer <default token>`` to requests that carry none, and answers
    with ``ApiResponse``s."""

    send_default_token = True

    def __init__(self, app: Flask, response_wrapper: type[Any] | None = None, **kwargs: Any):
        super().__init__(app, api_response(response_wrapper or app.response_class), **kwargs)

    def open(self, *args: Any, **kwargs: Any) -> ApiResponse:
        if self.send_default_token and _default_token is not None:
            headers = dict(kwargs.pop("headers", None) or {})
            if not any(name.lower() == "authorization" for name in headers):
                headers["Authorization"] = f"Bearer {_default_token}"
            kwargs["headers"] = headers
        return cast(ApiResponse, super().open(*args, **kwargs))

    if TYPE_CHECKING:
        # werkzeug's verbs, which call open(): declared again for their return type alone.
        def get(self, *args: Any, **kwargs: Any) -> ApiResponse: ...
        def post(self, *args: Any, **kwargs: Any) -> ApiResponse: ...
        def put(self, *args: Any, **kwargs: Any) -> ApiResponse: ...
        def patch(self, *args: Any, **kwargs: Any) -> ApiResponse: ...
        def delete(self, *args: Any, **kwargs: Any) -> ApiResponse: ...
        def head(self, *args: Any, **kwargs: Any) -> ApiResponse: ...
        def options(self, *args: Any, **kwargs: Any) -> ApiResponse: ...


def client_of(app: Flask) -> AuthenticatedClient:
    """``app.test_client()``, typed as what conftest.py makes every app's test client."""
    client = app.test_client()
    assert isinstance(client, AuthenticatedClient)
    return client


def anonymous(app: Flask) -> AuthenticatedClient:
    client = client_of(app)
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

"""OPTIONS answers 204 No Content with ``Allow``: Flask's own answer is an empty 200 declared as
text/html, the one answer of the API that was neither JSON nor problem+json. CORS preflights
(Flask-Cors adds its headers to this response) accept any 2xx."""

from __future__ import annotations

from flask import Flask, Response
from flask.globals import request_ctx


def default_options_response() -> Response:
    """What Flask's ``make_default_options_response`` answers, without a body or content type."""
    adapter = request_ctx.url_adapter
    response = Response(status=204)
    del response.headers["Content-Type"]
    if adapter is not None:
        response.allow.update(adapter.allowed_methods())
    return response


def init_app(app: Flask) -> None:
    app.make_default_options_response = default_options_response  # type: ignore[method-assign]

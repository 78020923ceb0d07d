"""/openapi.json and an interactive /docs page whose assets ship with a Python package.

The page is Swagger UI from flask-swagger-ui's bundled copy: nothing comes from a CDN, and the
page's own Content-Security-Policy allows scripts and styles from this server only.
"""

from __future__ import annotations

from pathlib import Path

import flask_swagger_ui
from flask import Blueprint, Response, current_app, jsonify, send_from_directory

from server.web.openapi import build_openapi

bp = Blueprint("docs", __name__)
ASSETS = Path(flask_swagger_ui.__file__).parent / "dist"
# Swagger UI sets inline style attributes and uses data: images; no inline script is needed.
DOCS_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'"
)
PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>flask-nix-stack API</title>
  <link rel="stylesheet" href="/docs/assets/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/assets/swagger-ui-bundle.js"></script>
  <script src="/docs/init.js"></script>
</body>
</html>
"""
INIT = """window.onload = function () {
  window.ui = SwaggerUIBundle({ url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true });
};
"""


def _with_csp(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = DOCS_CSP
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response


@bp.get("/openapi.json")
def openapi() -> Response:
    """The OpenAPI 3.1 document, built once per process."""
    document = current_app.extensions.get("openapi")
    if document is None:
        document = current_app.extensions["openapi"] = build_openapi(current_app)
    return jsonify(document)


@bp.get("/docs")
def page() -> Response:
    return _with_csp(Response(PAGE, mimetype="text/html"))


@bp.get("/docs/init.js")
def init() -> Response:
    return _with_csp(Response(INIT, mimetype="text/javascript"))


@bp.get("/docs/assets/<path:name>")
def assets(name: str) -> Response:
    return _with_csp(send_from_directory(ASSETS, name))

"""The server under uvicorn: a2wsgi's WSGI-to-ASGI adapter (bench/servers.py's candidate)."""

import os

from a2wsgi import WSGIMiddleware

from server.wsgi import app as flask_app

app = WSGIMiddleware(flask_app, workers=int(os.environ.get("APP_THREADS", "1")))  # type: ignore[arg-type]

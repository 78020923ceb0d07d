"""The baseline: a bare Flask hello-world, behind the same server as the app (bench/hot_path.py)."""

from flask import Flask

from server.wsgi_bridge import WSGIBridge

app = Flask(__name__)


@app.get("/")
def hello() -> str:
    return "ok"


# What granian runs for it, as server/rsgi.py does for the app.
rsgi = WSGIBridge(app, threads=1, max_body=1 << 20, body_deadline=30, body_memory=512 << 20)

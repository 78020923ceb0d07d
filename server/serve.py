"""``flask-nix-stack serve``: the production HTTP server, started from the same Settings as the app.

The one place that knows the server's command line: the stack's prod mode, the OCI image and the
NixOS module all run ``flask-nix-stack serve``. APP_SERVER picks the server:

- ``granian`` (default): granian (Rust, hyper) reads each request's headers, and its RSGI event
  loop collects the body (server/wsgi_bridge.py) before a Python thread runs the app, so slow
  clients cost a socket each, not a worker. bench/servers.py measured it against granian's WSGI
  mode, gunicorn (sync, gthread, gevent, behind nginx) and uvicorn over a2wsgi.
- ``gunicorn``: the config in server/gunicorn_conf.py; with its sync workers it needs a buffering
  proxy in front (the NixOS module's nginx), as gunicorn's own docs say.

Arguments after ``serve`` go to gunicorn's command line (they win over the settings); granian is
configured from the settings only.
"""

from __future__ import annotations

import multiprocessing
import os
import resource
import sys
from pathlib import Path
from typing import Any

from server.config import Settings, SettingsError, load_settings
from server.logs import logging_config
from server.startup import collector_paused

APP = "server.wsgi:app"
RSGI_APP = "server.rsgi:app"  # the same app, body read before a thread is taken
# hyper's read buffer bounds the request head (431 beyond it; 100 header fields at most), in
# place of granian's 408 KiB default. Measured: a 70 KB header still passes, 200 KB does not.
HTTP1_BUFFER_SIZE = 65536
# Files a worker opens besides its clients' connections: pools, logs, libraries, pipes.
FILES_BESIDE_CONNECTIONS = 1024


def split_bind(bind: str) -> tuple[str, int] | Path:
    """``host:port``, ``[v6]:port`` or ``unix:/path``: a (host, port) pair or a socket path."""
    if bind.startswith("unix:"):
        return Path(bind.removeprefix("unix:"))
    host, _, port = bind.rpartition(":")
    return host.strip("[]"), int(port)


def worker_loop(granian_version: str) -> Any:
    """The event loop of granian's workers (a ``granian.constants.Loops``).

    Before granian 2.8 a worker finishing on SIGTERM resolves its loop's future from a Rust
    thread through call_soon_threadsafe; asyncio's self-pipe write there lets go of the GIL, the
    main thread then drops the Rust runtime holding the GIL and waits for that thread forever
    (emmett-framework/granian#875): with granian 2.5.6 every stop on a unix socket hung until
    the kill timeout. uvloop's wake-up keeps the GIL. granian 2.8 reworked that code: there the
    loop stays asyncio, as it was (granian's "auto" would pick uvloop once it is installed).
    """
    from granian.constants import Loops

    major, minor = (int(part) for part in granian_version.split(".")[:2])
    return Loops.uvloop if (major, minor) < (2, 8) else Loops.asyncio


def granian_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments of ``granian.Granian`` for the settings."""
    bound = split_bind(settings.bind)
    where: dict[str, Any] = (
        {"uds": bound} if isinstance(bound, Path) else {"address": bound[0], "port": bound[1]}
    )
    from granian import __version__ as granian_version
    from granian.constants import HTTPModes, Interfaces
    from granian.http import HTTP1Settings

    return {
        "target": RSGI_APP,
        "interface": Interfaces.RSGI,
        # HTTP/1.1 only: what gunicorn and the module's nginx upstream speak, and no h2c
        # (whose header limit is hyper's 16 MiB, not the buffer below).
        "http": HTTPModes.http1,
        "websockets": False,
        "loop": worker_loop(granian_version),
        **where,
        "workers": settings.workers,
        "http1_settings": HTTP1Settings(
            keep_alive=settings.keepalive > 0,
            max_buffer_size=HTTP1_BUFFER_SIZE,
            header_read_timeout=min(settings.timeout, 60) * 1000,  # granian's maximum
        ),
        # Connections, not Python threads: an idle one or one sending its head never reaches
        # Python. granian's default (its listen backlog of 1024 over the workers) let 1100 idle
        # sockets from one client stall a 2-worker server for the head timeout (30 s), and
        # again whenever they reconnected.
        "backpressure": settings.worker_connections,
        # A worker that dies is started again, as gunicorn's master does.
        "respawn_failed_workers": True,
        "respawn_interval": 0.5,
        "workers_lifetime": settings.workers_lifetime or None,
        "workers_kill_timeout": settings.graceful_timeout,
        "log_dictconfig": logging_config(settings, server="granian"),
        # The app logs each request itself (server/middleware/access_log.py), with its request
        # id: granian's access log cannot see response headers.
        "log_access": False,
    }


def run_granian(settings: Settings) -> None:
    from granian import Granian

    # Read by the app in each worker (forked from here): see server/middleware/access_log.py.
    os.environ["APP_ACCESS_LOG"] = "true"
    if not settings.metrics_enabled:
        preload_app_modules()
        Granian(**granian_options(settings)).serve()
        return
    # Before any worker imports the app: their metrics go to files in this directory, which
    # this process serves on APP_METRICS_BIND (gunicorn does the same in server/gunicorn_conf.py).
    # granian has no worker-exit hook: a dead worker's live gauges are pruned at each scrape.
    from server.infra import metrics_exporter

    directory, ours = metrics_exporter.prepare_directory()
    metrics_exporter.start_server(settings.metrics_bind)
    preload_app_modules()
    try:
        Granian(**granian_options(settings)).serve()
    finally:
        if ours:
            metrics_exporter.remove_directory(directory)


def preload_app_modules() -> None:
    """Import the app's modules here, once, where granian forks its workers from this process.

    Each worker (at start, and each one started again: APP_WORKERS_LIFETIME, a crash) then only
    builds the app (server/rsgi.py), about 0.05 CPU-s instead of about 0.45 with the imports.
    Imported, not built, as gunicorn's preload_app does it (server/gunicorn_conf.py): nothing
    connects or starts a thread at import. Called after the metrics directory is set, which
    prometheus_client reads when it is imported. Where multiprocessing does not fork (granian
    then spawns: Python 3.14's default), a worker imports everything itself: nothing to share.
    """
    if multiprocessing.get_start_method() != "fork":
        return
    with collector_paused():  # frozen before the fork: see server/startup.py
        import server.app  # noqa: F401
    # Each worker holds a stop signal from the fork on, until it serves (server/worker_stops.py).
    from server import worker_stops

    worker_stops.hold_from_fork()


def gunicorn_argv(extra: list[str]) -> list[str]:
    return ["gunicorn", "-c", "python:server.gunicorn_conf", *extra, APP]


def run_gunicorn(extra: list[str]) -> None:
    # gunicorn's own entry point, in this process: its master is what the supervisor signals.
    from gunicorn.app.wsgiapp import run

    sys.argv = gunicorn_argv(extra)
    run()


def allow_connections(settings: Settings) -> None:
    """Raise this process's soft limit of open files (which the workers inherit) to cover
    APP_WORKER_CONNECTIONS, as far as the hard limit lets it: systemd starts services with a
    soft limit of 1024 (and a hard one of 524288), which a worker's connections, pools and
    files would reach first. Says so in one line where the hard limit is lower."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = settings.worker_connections + FILES_BESIDE_CONNECTIONS
    if soft == resource.RLIM_INFINITY or soft >= wanted:
        return
    raised = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
    if raised < wanted:
        print(
            f"warning: APP_WORKER_CONNECTIONS={settings.worker_connections} needs {wanted} open "
            f"files, and the hard limit is {hard}: raise it (LimitNOFILE, ulimit -Hn)",
            file=sys.stderr,
        )


USAGE = """\
usage: flask-nix-stack serve [-h] [GUNICORN-ARGUMENT ...]

Run the production server. The settings configure it (`flask-nix-stack config check` shows
them, docs/configuration.md describes each): APP_SERVER picks granian (the default) or gunicorn,
APP_BIND where it listens (host:port, [v6]:port or unix:/path), APP_WORKERS and APP_THREADS
how many requests it serves at once.

With APP_SERVER=gunicorn, arguments go to gunicorn's command line and win over the settings
(`gunicorn --help` lists them); granian takes none.
"""


def main(extra: list[str]) -> None:
    if extra in (["-h"], ["--help"]):
        # Before the settings: help is what a user asks for when they are not right yet.
        print(USAGE, end="")
        return
    try:
        with collector_paused():  # start-up: see server/startup.py
            settings = load_settings()
    except SettingsError as exc:
        sys.exit(f"configuration error: {exc}")
    allow_connections(settings)
    if settings.server == "gunicorn":
        run_gunicorn(extra)
    elif extra:
        sys.exit(f"configuration error: arguments {extra} are for APP_SERVER=gunicorn only")
    else:
        run_granian(settings)

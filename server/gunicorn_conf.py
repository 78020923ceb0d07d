"""gunicorn settings, read from the same Settings as the app (APP_BIND, APP_WORKERS, ...).

Use: ``gunicorn -c python:server.gunicorn_conf server.wsgi:app``; command-line flags still win.

Why 2 sync workers by default, on a 2-core machine (bench/gunicorn_workers.py measures it):
- gthread with 2 workers x 4 threads has been seen bimodal under keep-alive load: a gthread
  worker accepts every connection it can hold, so in some runs one worker takes all of them and
  throughput falls by up to 3x. A sync worker takes one connection at a time and closes it after
  the response, so the kernel spreads connections evenly. Measured here (8 runs of 4 s, 32
  keep-alive connections, /health/live): sync x2 median 3600 req/s (min 3100), gthread 2x4
  median 3070 (min 2900); no bimodal run showed up in those 8, and sync was faster anyway.
- More workers than cores buys nothing on this box and costs memory; with preload_app (below)
  a worker starts by fork, so their number barely changes start-up (0.54 s to the first 200
  with 1 worker, 0.59 s with 5, measured before preloading).
- Sync workers expect a buffering proxy (nginx) in front for slow clients, as the NixOS
  module sets up; choose gthread (APP_WORKER_CLASS, APP_THREADS) to face clients directly.
"""

from __future__ import annotations

import signal
import sys
import threading
from typing import Any

from server import gunicorn_errors, gunicorn_workers
from server.config import SettingsError, load_settings
from server.logs import logging_config

try:
    _settings = load_settings()
except SettingsError as exc:
    # One line naming the setting, not gunicorn's traceback of its config loader.
    sys.exit(f"configuration error: {exc}")

_metrics_dir: Any = None
_metrics_dir_is_ours = False
if _settings.metrics_enabled:
    # Before the app (and with it prometheus_client) is imported: the workers' values go to
    # files in this directory, which the master adds up (server/infra/metrics_exporter.py).
    from server.infra import metrics_exporter

    _metrics_dir, _metrics_dir_is_ours = metrics_exporter.prepare_directory()
_metrics_server: Any = None
# Requests gunicorn refuses itself (request line or headers too long, malformed) get the app's
# problem+json and security headers, not gunicorn's HTML page.
gunicorn_errors.install(hsts=_settings.hsts)

bind = [_settings.bind]
# Our sync worker: a client too slow to send its head hears 408, not 500 (gunicorn_workers.py).
worker_class = (
    "server.gunicorn_workers.SyncWorker"
    if _settings.worker_class == "sync"
    else _settings.worker_class
)
workers = _settings.workers
# gunicorn turns sync workers into gthread ones when threads > 1: only gthread gets them.
threads = _settings.threads if worker_class == "gthread" else 1
worker_connections = _settings.worker_connections  # gthread's (sync serves one at a time)
timeout = _settings.timeout
graceful_timeout = _settings.graceful_timeout
keepalive = _settings.keepalive
max_requests = _settings.max_requests
max_requests_jitter = _settings.max_requests_jitter
# The app is imported once, in the master, and workers are forked from it: a worker starts (and
# is renewed after max_requests) in milliseconds instead of re-importing the app, which cost
# about 15% of throughput at full load. Nothing connects at import; post_fork makes sure no
# database connection crosses a fork anyway (redis-py's pool resets itself on a new pid).
preload_app = True
accesslog = "-"
errorlog = "-"
# {fns.principal}e: the acting principal's id from the WSGI environ (server/auth), "-" if none.
# {fns.target}e: path and query (server/middleware/request_head.py), not the request line as
# sent (%(r)s), whose absolute-form target may carry a password in its userinfo.
access_log_format = (
    '%(h)s "%(m)s %({fns.target}e)s %(H)s" %(s)s %(b)s %(M)sms %({x-request-id}o)s '
    "%({fns.principal}e)s"
)
logconfig_dict = logging_config(_settings, server="gunicorn")
# Forwarded headers are handled by the app's ProxyFix (APP_PROXY_FIX_*): one layer, not two.
# gunicorn itself trusts none, from any peer: by default it takes SCRIPT_NAME and PATH_INFO
# from request headers of 127.0.0.1 and of every unix-socket peer (nginx in the NixOS module
# relays client headers), which let a client put "//attacker" into the app's links.
forwarded_allow_ips = ""
forwarder_headers = ""
secure_scheme_headers: dict[str, str] = {}
proc_name = "flask-nix-stack"
# gunicorn 27's control socket lives at one path per user: a second instance would take it over.
control_socket_disable = True


STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT)


def post_fork(server: Any, worker: Any) -> None:
    """A worker forked while the master is stopping stops too; then no database connection
    inherited from the master is shared (SQLAlchemy's recipe for os.fork()).

    Until gunicorn installs a worker's own handlers, a stop signal lands in the handler the
    worker inherited from the master, which only queues it in the worker's copy of the master's
    queue: lost. With the app preloaded a worker boots in milliseconds, so a stop right after
    start-up (gunicorn forks workers up to 0.1 s apart) hit that window and the master waited
    out its graceful timeout. A stop signal arriving from here until gunicorn's handlers are in
    place now ends the worker once it has booted. (The few instructions between fork and this
    hook remain exposed: gunicorn offers no earlier hook in the worker.)
    """

    def stop(_signum: int, _frame: object) -> None:
        worker.alive = False

    for stop_signal in STOP_SIGNALS:
        signal.signal(stop_signal, stop)

    if _metrics_server is not None:
        # The master's metrics listener: a worker must not hold it open.
        _metrics_server.socket.close()

    wsgi = sys.modules.get("server.wsgi")
    if wsgi is None:  # preload_app turned off on the command line: nothing was inherited
        return
    from server.infra.database import db

    with wsgi.app.app_context():
        for engine in db.engines.values():
            engine.dispose(close=False)


def post_worker_init(worker: Any) -> None:
    """On SIGTERM a sync worker stops listening at once, then finishes its in-flight request.

    gunicorn's master closes its listening socket on SIGTERM, but each worker keeps its inherited
    copy until it exits, so during the drain the kernel would still accept new connections that
    nobody serves, and reset them at exit. A Python signal handler cannot help: it runs only when
    the main thread gets back to Python, and a busy sync worker is waiting inside the database
    driver. So SIGTERM is blocked in the worker's threads and taken by a thread in sigwait(),
    which stops the worker as gunicorn's handler does and closes the listening copies
    (server/gunicorn_workers.py stop_listening). New clients then see a refusal at once and can
    retry elsewhere.

    Only for our sync worker, which stays sound when its listener is closed from another thread.
    gthread's main thread takes the signal itself (requests run in its pool) and stops as
    gunicorn made it: it listens until its requests are done, as granian does. gevent handles
    signals in its hub (a sigwait() "thread" there is a greenlet blocking the whole hub).
    """
    if not isinstance(worker, gunicorn_workers.SyncWorker):
        return
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})  # inherited by later threads

    def on_sigterm() -> None:
        signal.sigwait({signal.SIGTERM})
        gunicorn_workers.stop_listening(worker)

    threading.Thread(target=on_sigterm, name="sigterm", daemon=True).start()


def when_ready(server: Any) -> None:
    """With metrics on, the master serves every worker's metrics on APP_METRICS_BIND."""
    global _metrics_server
    if _settings.metrics_enabled:
        from server.infra import metrics_exporter

        _metrics_server = metrics_exporter.start_server(_settings.metrics_bind)
        server.log.info("metrics on http://%s/metrics", _settings.metrics_bind)


def child_exit(server: Any, worker: Any) -> None:
    if _settings.metrics_enabled:
        from server.infra import metrics_exporter

        metrics_exporter.worker_exited(worker.pid)


def on_exit(server: Any) -> None:
    if _metrics_dir_is_ours:
        from server.infra import metrics_exporter

        metrics_exporter.remove_directory(_metrics_dir)

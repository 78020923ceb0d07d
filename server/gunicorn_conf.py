"""gunicorn settings, read from the same Settings as the app (APP_BIND, APP_WORKERS, ...).

Use: ``gunicorn -c python:server.gunicorn_conf server.wsgi:app``; command-line flags still win.

Why sync workers, 2 by default (measured on a 2-core machine, see bench/):
- gthread with 2 workers x 4 threads is bimodal under keep-alive load: each gthread worker
  accepts as many connections as it can hold, so in about a quarter of runs one worker takes
  every keep-alive connection and throughput falls by 3x. A sync worker takes one connection
  at a time and closes it after the response, so the kernel spreads connections evenly.
- Start-up is paid per worker (each imports the app): 5 sync workers take twice as long as 1
  to serve the first request. One worker per core keeps both cores busy and starts fast.
- Sync workers expect a buffering proxy (nginx) in front for slow clients, as the NixOS
  module sets up; choose gthread (APP_WORKER_CLASS, APP_THREADS) to face clients directly.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from typing import Any

from server.config import SettingsError, load_settings
from server.logs import logging_config

try:
    _settings = load_settings()
except SettingsError as exc:
    # One line naming the setting, not gunicorn's traceback of its config loader.
    sys.exit(f"configuration error: {exc}")

bind = [_settings.bind]
worker_class = _settings.worker_class
workers = _settings.workers
threads = _settings.threads
timeout = _settings.timeout
graceful_timeout = _settings.graceful_timeout
keepalive = _settings.keepalive
max_requests = _settings.max_requests
max_requests_jitter = _settings.max_requests_jitter
# The app is imported in each worker, after fork: no engine or Redis pool crosses a fork.
preload_app = False
accesslog = "-"
errorlog = "-"
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms %({x-request-id}o)s'
logconfig_dict = logging_config(_settings, gunicorn=True)
# Forwarded headers are handled by the app's ProxyFix (APP_PROXY_FIX_*): one layer, not two.
forwarded_allow_ips = "127.0.0.1"
proc_name = "flask-nix-stack"
# gunicorn 27's control socket lives at one path per user: a second instance would take it over.
control_socket_disable = True


def post_worker_init(worker: Any) -> None:
    """On SIGTERM a worker stops listening at once, then finishes its in-flight request.

    gunicorn's master closes its listening socket on SIGTERM, but each worker keeps its inherited
    copy until it exits, so during the drain the kernel would still accept new connections that
    nobody serves, and reset them at exit. A Python signal handler cannot help: it runs only when
    the main thread gets back to Python, and a busy worker is waiting inside the database driver.
    So SIGTERM is blocked in the worker's threads and taken by a thread in sigwait(), which does
    what gunicorn's own handler does (alive = False), closes the listening copies, and wakes the
    worker's select(). New clients then see a refusal at once and can retry elsewhere.
    """
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})  # inherited by later threads

    def on_sigterm() -> None:
        signal.sigwait({signal.SIGTERM})
        worker.alive = False
        for listener in worker.sockets:
            with contextlib.suppress(OSError):
                listener.close()
        with contextlib.suppress(OSError):
            os.write(worker.PIPE[1], b".")

    threading.Thread(target=on_sigterm, name="sigterm", daemon=True).start()

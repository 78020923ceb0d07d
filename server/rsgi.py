"""granian's entry point (``server.rsgi:app``): the app behind server/wsgi_bridge.py.

Imported in each granian worker, where it also keeps a stop signal sent before the worker
serves (server/worker_stops.py).
"""

from __future__ import annotations

import asyncio
import ctypes
import multiprocessing
import os
import signal
import sys

from server import worker_stops
from server.wsgi_bridge import Response, WSGIBridge

# What the kernel sends a worker whose main process died (PR_SET_PDEATHSIG): ours, not granian's.
_PARENT_DIED = signal.SIGUSR2
_serving = False  # set once granian's own handlers are in place (App.__rsgi_init__)
# After the worker's server loop has started: a stop raised earlier is not seen (granian 2.5).
_REDELIVERY_DELAY = 0.2


def _hold_stop_signals() -> None:
    """In a granian worker, keep a stop signal that arrives before it serves (server/
    worker_stops.py: held from the fork on where the main process forked it, from here where
    it was spawned); App.__rsgi_init__ raises it again once the worker serves."""
    if multiprocessing.current_process().name != "granian-worker":
        return
    worker_stops.on_stop = _on_stop
    worker_stops.hold()
    _stop_with_parent()


def _on_stop(signum: int) -> None:
    if _orphaned():
        # The main process died (a stop sent to the whole group with it; _parent_died handles
        # the kernel's notice): a worker still importing the app has nothing to drain and
        # nobody to report to. Held, the stop waited for the import (seconds; far longer on a
        # loaded machine) and the worker's start.
        os._exit(0)
    worker_stops.held.append(signum)


def _orphaned() -> bool:
    parent = multiprocessing.parent_process()
    return parent is not None and os.getppid() != parent.pid


def _stop_with_parent() -> None:
    """A worker whose main process dies (SIGKILL after a stop timeout) stops, within the
    graceful timeout.

    granian's workers do not watch their parent: orphaned, they kept serving on the port
    (gunicorn's workers notice a new parent pid and exit). Linux's PR_SET_PDEATHSIG makes the
    kernel send a signal (_parent_died); elsewhere nothing changes.
    """
    if not sys.platform.startswith("linux"):
        return
    signal.signal(_PARENT_DIED, _parent_died)
    pr_set_pdeathsig = 1  # <linux/prctl.h>
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(pr_set_pdeathsig, _PARENT_DIED, 0, 0, 0)
    if _orphaned():  # it died before the prctl
        os._exit(0)


def _parent_died(_signum: int, _frame: object) -> None:
    """Still importing the app: nothing to drain, exit. Serving: stop as SIGTERM stops a worker,
    with the deadline the dead main process would have enforced (it kills workers after the
    graceful timeout). The kernel ends the process when that alarm fires (SIGALRM's default
    action), whatever the worker is doing: an orphaned worker's drain was seen to hang for good,
    in granian's signal handler (a futex) or at exit joining a request thread still blocked in
    the database, holding its listener all along."""
    if not _serving:
        os._exit(0)
    signal.signal(signal.SIGALRM, signal.SIG_DFL)
    signal.alarm(_settings.graceful_timeout)
    os.kill(os.getpid(), signal.SIGTERM)


_hold_stop_signals()

from server.startup import collector_paused  # noqa: E402

with collector_paused():
    from server.config.runtime import current_settings
    from server.server_problems import problem_document
    from server.wsgi import app as wsgi_app  # slow: after the signals are held


class App(WSGIBridge):
    """The app with the settings' threads and body limit, and its own answers in the app's shape."""

    def __rsgi_init__(self, loop: asyncio.AbstractEventLoop) -> None:
        # Called once granian's handlers are set, before it serves: redeliver held stops.
        global _serving
        _serving = True
        for signum in worker_stops.held:
            loop.call_later(_REDELIVERY_DELAY, os.kill, os.getpid(), signum)

    def problem(self, status: int, detail: str) -> Response:
        headers, body = problem_document(status, hsts=_settings.hsts, detail=detail)
        return status, headers, body


_settings = current_settings(wsgi_app)
app = App(
    wsgi_app,
    _settings.threads,
    _settings.max_content_length,
    _settings.timeout,
    _settings.body_memory,
)

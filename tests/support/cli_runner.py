"""The command line run inside the test's process, as if it were a process of its own.

``run_cli_in_process`` calls the console script's own entry point (server.cli:main) with the
same arguments and environment a subprocess of ``run_cli`` (support/processes.py) would get,
and answers the same CompletedProcess: exit status, stdout and stderr apart. It saves the
interpreter start and the app's imports of every call (about 0.7 CPU-s, more under coverage).

For commands whose behaviour is the subject. What only a real process shows stays a subprocess:
the console script's start, what it imports (-X importtime, sys.modules), the reloader, and
what a shell sees of a process on exit (interpreter warnings, output after the command).

A fresh process starts with nothing of its parent's state, so the call runs in an empty
contextvars context (no app or request context of the test) with its own os.environ, sys.argv,
stdio and cwd, and leaves nothing behind: logging as it was (the command's dictConfig), signal
handlers and mask, warnings filters, sys.path; its database engines and Redis pools closed.
The command modules it imports (server/cli/group.py's LAZY_COMMANDS) stay imported: modules
hold no state of a call, and laziness is proven in a fresh interpreter (tests/test_cli.py).
Settings are read anew by every call (no cache); the one cache in server/ is the migration
heads read from the shipped scripts (migration_status.head_revisions), the same in any process.
"""

from __future__ import annotations

import contextlib
import contextvars
import io
import logging
import os
import signal
import subprocess
import sys
import traceback
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from flask import Flask, appcontext_pushed
from sqlalchemy import Connection, Engine, event

from server.cli import PROG, main

from .processes import script

# What the console script calls: ``sys.exit(entry(argv))``.
Entry = Callable[[list[str]], object]


def run_cli_in_process(
    *args: str,
    env: dict[str, str],
    check: bool = True,
    input: str | None = None,
    entry: Entry = main,
) -> subprocess.CompletedProcess[str]:
    """``flask-nix-stack *args`` with ``env`` as its whole environment and ``input`` on stdin,
    run by ``entry`` (default: the console script's); raises if ``check`` and it fails."""
    stdout, stderr = io.BytesIO(), io.BytesIO()
    argv = [script(PROG), *args]
    with as_a_fresh_process(argv, env, input, stdout, stderr):
        returncode = contextvars.Context().run(_exit_status, entry, list(args))
    result = subprocess.CompletedProcess(argv, returncode, _text(stdout), _text(stderr))
    if check and returncode != 0:
        raise AssertionError(f"{args} exited {returncode}:\n{result.stdout}\n{result.stderr}")
    return result


def one_line_failure(*args: str, env: dict[str, str]) -> str:
    """The one line a command that fails (exit 1) prints instead of a traceback."""
    line, *rest = one_line_failure_report(*args, env=env)
    assert not rest, rest
    return line


def one_line_failure_report(*args: str, env: dict[str, str]) -> list[str]:
    """What a command that fails (exit 1) prints: its line, then any report after it."""
    result = run_cli_in_process(*args, env=env, check=False)
    assert result.returncode == 1, result
    assert "Traceback" not in result.stderr, result.stderr
    return result.stderr.strip().splitlines()


def _exit_status(entry: Entry, args: list[str]) -> int:
    """What the interpreter makes of ``sys.exit(entry(args))``: a status, a message printed
    on stderr, or a traceback."""
    try:
        code = entry(args)
    except SystemExit as exc:
        code = exc.code
    except Exception:
        traceback.print_exc()
        return 1
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF  # what the parent sees of it
    print(code, file=sys.stderr)
    return 1


def _text(raw: io.BytesIO) -> str:
    """Decoded as subprocess.run(text=True) does: UTF-8 here, universal newlines."""
    return io.TextIOWrapper(io.BytesIO(raw.getvalue()), encoding="utf-8").read()


@contextlib.contextmanager
def as_a_fresh_process(
    argv: list[str], env: dict[str, str], input: str | None, stdout: io.BytesIO, stderr: io.BytesIO
) -> Iterator[None]:
    """The process-wide state a command sees and may change, set as a new process would have
    it and put back afterwards."""
    with contextlib.ExitStack() as stack:
        stack.enter_context(_environment(env))
        stack.enter_context(_list_restored(sys.argv, argv))
        stack.enter_context(_list_restored(sys.path))
        stack.enter_context(contextlib.chdir(os.getcwd()))
        stack.enter_context(_stdio(input, stdout, stderr))
        stack.enter_context(warnings.catch_warnings())
        stack.enter_context(_signals_restored())
        stack.enter_context(_logging_restored())
        stack.enter_context(_connections_closed())
        yield


@contextlib.contextmanager
def _environment(env: dict[str, str]) -> Iterator[None]:
    """``env`` as the whole of os.environ (and so of the C environment libpq reads)."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@contextlib.contextmanager
def _list_restored(target: list[str], contents: Sequence[str] | None = None) -> Iterator[None]:
    saved = target[:]
    if contents is not None:
        target[:] = contents
    try:
        yield
    finally:
        target[:] = saved


@contextlib.contextmanager
def _stdio(input: str | None, stdout: io.BytesIO, stderr: io.BytesIO) -> Iterator[None]:
    """Text streams over bytes, encoded as a child process's are here (UTF-8; stderr with
    backslash escapes); stdin holds ``input`` and then ends, as a pipe from run(input=) does."""
    saved = sys.stdin, sys.stdout, sys.stderr
    out = io.TextIOWrapper(stdout, encoding="utf-8", write_through=True)
    err = io.TextIOWrapper(stderr, encoding="utf-8", errors="backslashreplace", write_through=True)
    sys.stdin = io.TextIOWrapper(io.BytesIO((input or "").encode()), encoding="utf-8")
    sys.stdout, sys.stderr = out, err
    try:
        yield
    finally:
        sys.stdin, sys.stdout, sys.stderr = saved
        # Detached, not closed (which would close the bytes before they are read): a write
        # through a stream the command left behind now fails loudly.
        for stream in (out, err):
            stream.flush()
            stream.detach()


@contextlib.contextmanager
def _signals_restored() -> Iterator[None]:
    catchable = set(signal.valid_signals()) - {signal.SIGKILL, signal.SIGSTOP}
    handlers = {number: signal.getsignal(number) for number in catchable}
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, [])
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        for number, handler in handlers.items():
            # None: a handler not set from Python, which Python cannot set back (nor change).
            if handler is not None and signal.getsignal(number) is not handler:
                signal.signal(number, handler)


LoggerState = tuple[int, list[logging.Handler], list[Any], bool, bool]
FRESH_LOGGER: LoggerState = (logging.NOTSET, [], [], True, False)


@contextlib.contextmanager
def _logging_restored() -> Iterator[None]:
    """Every logger's level, handlers, filters, propagation and disabled flag as before; the
    handlers the command added closed. Its dictConfig (server/logs.py) replaces the root's
    handlers with one writing to the command's stderr, and flips logging's record switches."""
    manager = logging.Logger.manager
    saved = {logger: _state(logger) for logger in _loggers()}
    switches = (
        logging._srcfile,
        logging.logThreads,
        logging.logProcesses,
        logging.logMultiprocessing,
        manager.disable,
    )
    try:
        yield
    finally:
        for logger in _loggers():
            if logger in saved:
                level, handlers, filters, propagate, disabled = saved[logger]
            else:
                # New in the call: as getLogger made it, plus a library's import-time
                # NullHandler, if any (its modules stay imported).
                level, handlers, filters, propagate, disabled = FRESH_LOGGER
                handlers = [h for h in logger.handlers if type(h) is logging.NullHandler]
            for handler in logger.handlers:
                if handler not in handlers:
                    handler.close()
            logger.handlers[:] = handlers
            logger.filters[:] = filters
            logger.propagate = propagate
            logger.disabled = disabled
            logger.setLevel(level)
        (
            logging._srcfile,
            logging.logThreads,
            logging.logProcesses,
            logging.logMultiprocessing,
            disable,
        ) = switches
        logging.disable(disable)


def _loggers() -> list[logging.Logger]:
    children = logging.Logger.manager.loggerDict.values()
    return [logging.getLogger(), *(x for x in children if isinstance(x, logging.Logger))]


def _state(logger: logging.Logger) -> LoggerState:
    return (
        logger.level,
        logger.handlers[:],
        list(logger.filters),
        logger.propagate,
        logger.disabled,
    )


@contextlib.contextmanager
def _connections_closed() -> Iterator[None]:
    """The engines that connected during the call disposed, and the Redis pools of the apps it
    ran in disconnected: in a process of its own, the command's exit would close them."""
    engines: list[Engine] = []
    apps: list[Flask] = []

    def connected(connection: Connection) -> None:
        engines.append(connection.engine)

    def pushed(app: Flask, **_: object) -> None:
        apps.append(app)

    event.listen(Engine, "engine_connect", connected)
    appcontext_pushed.connect(pushed, weak=False)
    try:
        yield
    finally:
        appcontext_pushed.disconnect(pushed)
        event.remove(Engine, "engine_connect", connected)
        for app in dict.fromkeys(apps):
            if (client := app.extensions.get("redis")) is not None:
                client.connection_pool.disconnect()
        for engine in dict.fromkeys(engines):
            engine.dispose()

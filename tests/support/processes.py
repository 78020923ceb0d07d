"""Run the installed command line the way an operator would: a subprocess with its own env."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from server.auth.tokens import generate


def script(name: str) -> str:
    """A console script: beside the interpreter (venv), else on PATH (the Nix build's check)."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else shutil.which(name) or str(beside)


SESSION_TOKEN = generate()[0]
# Seconds a server may take to start serving (see start_server).
START_TIMEOUT = 120


def app_env(database_url: str, redis_url: str, **extra: str) -> dict[str, str]:
    """A clean environment: no APP_* from the caller, no .env from the working directory.

    The installed server knows no testing profile: subprocesses run the development one, with
    the tests' servers and, like the tests' own profile, no rate limits unless ``extra`` sets them.

    It carries the session's APP_BOOTSTRAP_ADMIN_TOKEN: the first `db upgrade` of a database
    stores it for principal ``admin``, so servers on that database can be called with
    ``auth_headers(env)`` (or ``authed``), as an operator's fresh host would be. One token for
    the whole session: environments built later for an already migrated database still hold
    a token it knows.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("APP_")}
    env.update(
        {
            "APP_ENV": "development",
            "APP_ENV_FILE": "/nonexistent",
            "APP_RATELIMIT_ENABLED": "false",
            "APP_DATABASE_URL": database_url,
            "APP_REDIS_URL": redis_url,
            "APP_LOG_LEVEL": "WARNING",
            "APP_BOOTSTRAP_ADMIN_TOKEN": SESSION_TOKEN,
            **extra,
        }
    )
    return env


def auth_headers(env: dict[str, str]) -> dict[str, str]:
    """The bootstrap admin token of ``env`` as an Authorization header."""
    return {"Authorization": f"Bearer {env['APP_BOOTSTRAP_ADMIN_TOKEN']}"}


_tokens_by_port: dict[int, str] = {}


class ApiClient:
    """requests' functions, sending the bootstrap admin token of the server on the URL's port
    (each server started by start_server registers its own) unless Authorization is given.
    No pooled connections: each call opens and closes its own, as requests.get does."""

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        token = _tokens_by_port.get(urlsplit(url).port or 0)
        headers = dict(kwargs.pop("headers", None) or {})
        if token and not any(name.lower() == "authorization" for name in headers):
            headers["Authorization"] = f"Bearer {token}"
        return requests.request(method, url, headers=headers, **kwargs)

    def get(self, url: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> requests.Response:
        return self.request("POST", url, **kwargs)

    def put(self, url: str, **kwargs: Any) -> requests.Response:
        return self.request("PUT", url, **kwargs)

    def patch(self, url: str, **kwargs: Any) -> requests.Response:
        return self.request("PATCH", url, **kwargs)

    def delete(self, url: str, **kwargs: Any) -> requests.Response:
        return self.request("DELETE", url, **kwargs)

    def head(self, url: str, **kwargs: Any) -> requests.Response:
        return self.request("HEAD", url, **kwargs)

    def options(self, url: str, **kwargs: Any) -> requests.Response:
        return self.request("OPTIONS", url, **kwargs)


authed = ApiClient()


def run_cli(
    *args: str, env: dict[str, str], check: bool = True
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [script("flask-nix-stack"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"{args} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
        )
    return result


def child_pids(pid: int) -> set[int]:
    """The direct children of ``pid`` (the server's workers), from /proc."""
    found: set[int] = set()
    # A task (or the whole process) may vanish while we read: that is an answer, not an error.
    with contextlib.suppress(FileNotFoundError, ProcessLookupError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(FileNotFoundError, ProcessLookupError):
                found.update(int(child) for child in (task / "children").read_text().split())
    return found


@dataclass
class Server:
    """One production server (``flask-nix-stack serve``: granian, or gunicorn with
    APP_SERVER=gunicorn); its log goes to a file (an unread pipe would fill and block it)."""

    process: subprocess.Popen[bytes]
    port: int
    log_path: Path
    env: dict[str, str]

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def kind(self) -> str:
        return self.env.get("APP_SERVER", "granian")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def workers(self) -> set[int]:
        return child_pids(self.process.pid)

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM and wait; SIGKILL if it outlives ``timeout``. The exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.wait_stopped(timeout)

    def wait_stopped(self, timeout: float = 30.0) -> int:
        """The exit status of a server already told to stop (SIGKILL if it outlives
        ``timeout``), without a second SIGTERM to one still draining."""
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(timeout=timeout)


def spawn_server(full_env: dict[str, str], port: int, log_path: Path) -> Server:
    """``flask-nix-stack serve`` with ``full_env`` (its APP_BIND on ``port``), logging to
    ``log_path``; returned at once, not waited for."""
    with log_path.open("wb") as sink:
        process = subprocess.Popen(
            [script("flask-nix-stack"), "serve"],
            env=full_env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    return Server(process, port, log_path, full_env)


def start_server(env: dict[str, str], log_dir: Path, **overrides: str) -> Server:
    """``flask-nix-stack serve`` on a free port with ``env`` plus ``overrides``, once it serves
    and every worker is up."""
    from .servers import free_port, wait_until

    port = free_port()
    full_env = {**env, "APP_BIND": f"127.0.0.1:{port}", **overrides}
    log_path = log_dir / f"{full_env.get('APP_SERVER', 'granian')}-{port}.log"
    server = spawn_server(full_env, port, log_path)
    if "APP_BOOTSTRAP_ADMIN_TOKEN" in full_env:
        _tokens_by_port[port] = full_env["APP_BOOTSTRAP_ADMIN_TOKEN"]

    def serving_or_exited() -> bool:
        return (
            server.process.poll() is not None
            or requests.get(f"{server.base}/health/live", timeout=1).ok
        )

    try:
        # A bound for a failure, not a speed expectation: in a parallel run (load 20-30 on
        # 2 cores) gunicorn once took over 30 s to serve, with nothing logged yet. An exit
        # fails at once.
        wait_until(serving_or_exited, START_TIMEOUT, "server")
        if server.process.poll() is not None:
            raise AssertionError(f"{server.kind} exited at start:\n{server.log()}")
        workers = int(full_env.get("APP_WORKERS", "2"))
        wait_until(lambda: len(server.workers()) == workers, 15, "server workers")
    except TimeoutError:
        server.stop()
        raise AssertionError(f"{server.kind} did not start:\n{server.log()}") from None
    return server


@contextmanager
def shared_servers(
    env_of: Callable[[str], dict[str, str]], workers: int = 2
) -> Iterator[Callable[[str], Server]]:
    """``server(kind)``: the production server of that kind (granian, gunicorn) on the
    environment ``env_of(kind)`` with ``workers`` workers, started on first use and the same
    one on every later call; all stopped on exit. For tests that neither stop nor reconfigure
    the server they share."""
    with contextlib.ExitStack() as stack:
        started: dict[str, Server] = {}

        def server(kind: str) -> Server:
            if kind not in started:
                env = {**env_of(kind), "APP_SERVER": kind}
                started[kind] = stack.enter_context(running_server(env, workers))
            return started[kind]

        yield server


@contextmanager
def running_server(env: dict[str, str], workers: int = 2, **overrides: str) -> Iterator[Server]:
    """The production server (APP_SERVER in ``env``, default granian) on a free port, stopped
    afterwards."""
    with tempfile.TemporaryDirectory(prefix="fns-server-") as log_dir:
        server = start_server(env, Path(log_dir), APP_WORKERS=str(workers), **overrides)
        try:
            yield server
        finally:
            server.stop()

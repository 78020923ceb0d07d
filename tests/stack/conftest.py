"""Run the real process-compose stack (process-compose.yaml) on a temp state dir and free ports.

Use the `stack` fixture (a factory) rather than importing from here: several test directories
have a `conftest.py`, so `from conftest import ...` is ambiguous.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from server.auth.tokens import generate

REPO_ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO_ROOT / "process-compose.yaml"
# process-compose itself stays off port 8080 and off any .env in the checkout, so a developer's
# settings cannot move the test's ports; -t=false because there is no terminal.
PC_FLAGS = ("--no-server", "--disable-dotenv", "-t=false")
# process-compose's own log: "... Exited exit_code=0 process=web", coloured.
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")
EXITED = re.compile(r"\bExited\b.*\bprocess=(\S+)")
READY_TIMEOUT = 90.0
STOP_TIMEOUT = 60.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def postgres_bindir() -> Path | None:
    """Where initdb lives: PATH first, then Debian's /usr/lib/postgresql/<major>/bin."""
    if found := shutil.which("initdb"):
        return Path(found).parent
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), reverse=True)
    return candidates[0].parent if candidates else None


def missing_tools() -> str | None:
    """Why the stack cannot run on this machine, or None."""
    if shutil.which("process-compose") is None:
        return "process-compose is not on PATH (script/bootstrap builds it; see troubleshooting)"
    if postgres_bindir() is None:
        return "PostgreSQL server binaries (initdb, postgres) not found"
    if shutil.which("redis-server") is None or shutil.which("redis-cli") is None:
        return "redis-server / redis-cli not on PATH"
    if shutil.which("flask-nix-stack") is None:
        return "the flask-nix-stack console script is not on PATH (pip install -e .)"
    if os.geteuid() == 0:
        return "PostgreSQL refuses to run as root: run the tests as an unprivileged user"
    return None


# The stacks' first admin token: `migrate` (db upgrade) stores it from the environment, as a
# host's credential would be; every request below sends it.
ADMIN_TOKEN = generate()[0]


def http(method: str, url: str, body: Any = None, timeout: float = 5.0) -> tuple[int, Any]:
    """(status, decoded JSON or None), as the stack's admin; HTTP errors are returned."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Authorization", f"Bearer {ADMIN_TOKEN}")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            raw = response.read()
            status = response.status
    except urllib.error.HTTPError as exc:
        raw, status = exc.read(), exc.code
    return status, (json.loads(raw) if raw else None)


def ready_status(base_url: str) -> int | None:
    """Status of /health/ready, or None when nothing answers."""
    try:
        return http("GET", f"{base_url}/health/ready", timeout=2.0)[0]
    except (OSError, ValueError):
        return None


def processes_of(session: int, marker: str) -> list[tuple[int, str]]:
    """(pid, command line) of the stack's processes still alive, and of their children.

    process-compose runs in a session of its own (start_new_session) and what it starts stays
    there: redis, gunicorn, the postmaster. The environment marker (STACK_DATA_DIR=<dir>) also
    catches a process that left the session; titles rewritten by redis and postgres clobber
    /proc/PID/environ, hence both signs. Postgres backends call setsid() and show no marker:
    they are found as children of a postmaster found so.
    """
    table: dict[int, tuple[int, str]] = {}  # pid -> (parent pid, command line)
    stack_pids = set()
    needle = marker.encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            # After the ")" that closes the command name: state, ppid, pgrp, session, ...
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            environ = (entry / "environ").read_bytes().split(b"\0")
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, IndexError):  # gone, or not ours
            continue
        pid = int(entry.name)
        table[pid] = (int(stat[1]), cmdline.strip())
        if int(stat[3]) == session or needle in environ:
            stack_pids.add(pid)
    grown = True
    while grown:
        children = {pid for pid, (ppid, _) in table.items() if ppid in stack_pids}
        grown = not children <= stack_pids
        stack_pids |= children
    return sorted((pid, table[pid][1]) for pid in stack_pids)


@dataclass
class Stack:
    """One process-compose project: a state dir, its ports, and at most one running `up`."""

    data_dir: Path
    web_mode: str = "prod"
    # APP_WORKERS for prod mode's server; None: the server's default, as a user runs it.
    web_workers: int | None = None
    pg_port: int = field(default_factory=free_port)
    redis_port: int = field(default_factory=free_port)
    web_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    runs: int = 0
    session: int = -1  # process-compose's pid, which is its session id

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    @property
    def log_path(self) -> Path:
        return self.data_dir / f"up-{self.runs}.log"

    @property
    def pc_log_path(self) -> Path:
        return self.data_dir / "process-compose.log"

    def env(self) -> dict[str, str]:
        bindir = postgres_bindir()
        path = os.environ.get("PATH", "")
        if bindir is not None and str(bindir) not in path.split(os.pathsep):
            path = f"{bindir}{os.pathsep}{path}"
        workers = {} if self.web_workers is None else {"APP_WORKERS": str(self.web_workers)}
        return {
            **os.environ,
            "PATH": path,
            "STACK_DATA_DIR": str(self.data_dir),
            "STACK_PG_PORT": str(self.pg_port),
            "STACK_REDIS_PORT": str(self.redis_port),
            "STACK_WEB_PORT": str(self.web_port),
            "STACK_WEB_MODE": self.web_mode,
            # The app reads a .env in its working directory (the checkout): not in tests.
            "APP_ENV_FILE": "/nonexistent",
            "APP_BOOTSTRAP_ADMIN_TOKEN": ADMIN_TOKEN,
            **workers,
        }

    def start(self, *args: str, extra_files: Sequence[Path] = ()) -> None:
        """`process-compose up` in the background; args select processes (e.g. "web", "seed")."""
        assert self.process is None, "stack already running"
        self.runs += 1
        files = [arg for f in (COMPOSE_FILE, *extra_files) for arg in ("-f", str(f))]
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [
                    "process-compose",
                    *files,
                    "up",
                    *PC_FLAGS,
                    "-L",
                    str(self.pc_log_path),
                    *args,
                ],
                cwd=REPO_ROOT,
                env=self.env(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # our SIGTERM is the only signal it gets
            )
        self.session = self.process.pid

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> None:
        """Poll /health/ready until 200; fail with the log if the stack exits or times out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if ready_status(self.base_url) == 200:
                return
            if self.process is not None and self.process.poll() is not None:
                pytest.fail(f"stack exited ({self.process.returncode}) before ready:\n{self.log()}")
            time.sleep(0.1)
        pytest.fail(f"stack not ready after {timeout}s:\n{self.log()}")

    def wait_exit(self, timeout: float = STOP_TIMEOUT) -> int:
        assert self.process is not None
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"process-compose still running after {timeout}s:\n{self.log()}")
        self.process = None
        return code

    def stop(self) -> int:
        """SIGTERM to process-compose, as a service manager or `kill` would; its exit code."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.wait_exit()

    def leftovers(self, grace: float = 0.0) -> list[tuple[int, str]]:
        """Processes of this stack still alive, after waiting up to `grace` s for them to go.

        The grace covers a readiness probe run that was in flight when process-compose exited:
        it notices within 0.1 s and ends by itself (process-compose.yaml). Servers never end
        by themselves, so they still show up.
        """
        deadline = time.monotonic() + grace
        marker = f"STACK_DATA_DIR={self.data_dir}"
        while (found := processes_of(self.session, marker)) and (time.monotonic() < deadline):
            time.sleep(0.1)
        return found

    def exit_order(self) -> list[str]:
        """Names of the processes in the order they exited in the latest run.

        process-compose truncates its own log (-L) at each start, so the file is that run's.
        """
        text = ANSI_ESCAPE.sub("", self.pc_log_path.read_text(errors="replace"))
        return EXITED.findall(text)

    def log(self, tail: int = 120) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-tail:])

    def kill_everything(self) -> None:
        """Last resort after a failed test: nothing of this stack may outlive it."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.process = None
        for pid, _ in self.leftovers():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@pytest.fixture(scope="session")
def stack_tools() -> None:
    if reason := missing_tools():
        print(f"skipping the process-compose stack tests: {reason}")
        pytest.skip(reason)


@pytest.fixture
def stack(stack_tools: None) -> Iterator[Callable[..., Stack]]:
    """Factory: `stack(web_mode="prod", web_workers=None)` gives a Stack on a fresh short state
    dir and free ports."""
    made: list[Stack] = []

    def make(**kwargs: Any) -> Stack:
        # Short path under /tmp: socket paths over ~100 bytes break PostgreSQL and Redis.
        data_dir = Path(tempfile.mkdtemp(prefix="fns-", dir="/tmp"))
        made.append(Stack(data_dir=data_dir, **kwargs))
        return made[-1]

    yield make
    for each in made:
        each.kill_everything()
        shutil.rmtree(each.data_dir, ignore_errors=True)


def poll(check: Callable[[], bool], timeout: float, interval: float = 0.2) -> bool:
    """True once check() is, False if it never is within timeout seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(interval)
    return False


@pytest.fixture
def stack_http() -> Callable[..., tuple[int, Any]]:
    """http(method, url, json_body=None) -> (status, decoded JSON)."""
    return http


@pytest.fixture
def stack_poll() -> Callable[..., bool]:
    return poll

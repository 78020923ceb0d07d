"""Run the installed command line the way an operator would: a subprocess with its own env."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests


def script(name: str) -> str:
    """A console script: beside the interpreter (venv), else on PATH (the Nix build's check)."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else shutil.which(name) or str(beside)


def app_env(database_url: str, redis_url: str, **extra: str) -> dict[str, str]:
    """A clean environment: no APP_* from the caller, no .env from the working directory."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("APP_")}
    env.update(
        {
            "APP_ENV": "testing",
            "APP_ENV_FILE": "/nonexistent",
            "APP_DATABASE_URL": database_url,
            "APP_REDIS_URL": redis_url,
            "APP_LOG_LEVEL": "WARNING",
            **extra,
        }
    )
    return env


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


@dataclass
class Gunicorn:
    base: str
    process: subprocess.Popen[bytes]
    log: Path  # stdout and stderr: a file, since an unread pipe would fill and block gunicorn

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


@contextmanager
def gunicorn_server(env: dict[str, str], workers: int = 2) -> Iterator[Gunicorn]:
    """gunicorn with the packaged config on a free port, stopped afterwards."""
    from servers import free_port, wait_until

    port = free_port()
    log = Path(tempfile.mkstemp(prefix="fns-gunicorn-", suffix=".log")[1])
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [script("gunicorn"), "-c", "python:server.gunicorn_conf", "server.wsgi:app"],
            env={**env, "APP_BIND": f"127.0.0.1:{port}", "APP_WORKERS": str(workers)},
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    server = Gunicorn(f"http://127.0.0.1:{port}", process, log)
    try:
        wait_until(lambda: requests.get(f"{server.base}/health/live", timeout=1).ok, 30, "gunicorn")
        yield server
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=60)
        log.unlink(missing_ok=True)

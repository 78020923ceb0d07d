"""Time from `process-compose up` to a 200 from /health/ready, cold and warm, against a floor.

    runuser -u fns -- env PATH=/usr/lib/postgresql/15/bin:/opt/fns-venv/bin:$PATH \\
        python -m bench.stack_startup [--runs 5] [--mode prod|dev]

cold = a fresh state dir (initdb, role and database, first migration); warm = the same state
dir again. The floor is measured in the same run, interleaved with the stack's starts, from the
bare parts started one after the other without process-compose: what any orchestration must
pay on this machine, under the same load.
  cold floor = initdb + postgres start + first migration + web server to its first 200
  warm floor = postgres start + migration with nothing to do + web server to its first 200
(the web server is `flask-nix-stack serve`, the production server the stack's prod mode, the
image and the module run: granian unless APP_SERVER says gunicorn. The same floor in both
modes: dev's reloader must not cost more than the production server's start.)
(redis starts in parallel with postgres and is faster, so it is listed but not added; the
role and database, made by pg-init's temporary server in the stack, are made by psql here.)
--against TREE also starts the stack of another checkout of this repository (for instance
`git worktree add /tmp/base main`) in every round, alternating which goes first, against the same
floor: an A/B of a change under the same load. Its `flask-nix-stack` imports that tree's
`server` (PYTHONPATH); the floor is always this tree's.
Not a test: it asserts nothing, it prints figures. PostgreSQL refuses root: run as a user.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import first_line

REPO_ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = REPO_ROOT / "process-compose.yaml"
POLL = 0.01  # seconds between readiness polls: the resolution of every figure
SLOW_STOP = 5.0  # seconds; a stop slower than this keeps its logs for a look


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status == 200)
    except (OSError, urllib.error.URLError):
        return False


def tcp_open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def wait_for(check: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError("not ready in time")
        time.sleep(POLL)


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def summary(values: list[float]) -> str:
    return (
        f"min {min(values):5.2f}  median {statistics.median(values):5.2f}  max {max(values):5.2f}"
    )


class StackRun:
    """process-compose up on a state dir, from ``tree``; stop() sends SIGTERM and waits."""

    def __init__(self, data_dir: Path, mode: str, tree: Path = REPO_ROOT) -> None:
        self.data_dir = data_dir
        self.web_port = free_port()
        env = {
            **os.environ,
            **({} if tree == REPO_ROOT else {"PYTHONPATH": str(tree)}),
            "STACK_DATA_DIR": str(data_dir),
            "STACK_PG_PORT": str(free_port()),
            "STACK_REDIS_PORT": str(free_port()),
            "STACK_WEB_PORT": str(self.web_port),
            "STACK_WEB_MODE": mode,
            "APP_ENV_FILE": "/nonexistent",
        }
        argv = ["process-compose", "-f", str(tree / COMPOSE_FILE.name), "up", "--no-server"]
        argv += ["--disable-dotenv", "-t=false", "-L", str(data_dir / "pc.log")]
        self.log = open(data_dir / "up.log", "ab")  # noqa: SIM115  # closed in stop()
        self.started = time.perf_counter()
        self.process = subprocess.Popen(
            argv, cwd=tree, env=env, stdout=self.log, stderr=subprocess.STDOUT
        )

    def time_to_ready(self) -> float:
        """Seconds from spawning process-compose to the first 200 from /health/ready."""
        wait_for(lambda: http_ok(f"http://127.0.0.1:{self.web_port}/health/ready"))
        return time.perf_counter() - self.started

    def stop(self) -> float:
        start = time.perf_counter()
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(60)
        self.log.close()
        took = time.perf_counter() - start
        if took > SLOW_STOP:  # a process sat out its shutdown timeout: keep the logs to see which
            kept = Path(tempfile.mkdtemp(prefix="fns-slow-stop-", dir="/tmp"))
            for name in ("up.log", "pc.log"):
                shutil.copy(self.data_dir / name, kept / name)
            print(f"  (stop took {took:.1f}s; logs kept in {kept})")
        return took


def time_stack(
    mode: str, data_dir: Path, figures: dict[str, list[float]], key: str, tree: Path = REPO_ROOT
) -> None:
    """One `up` on data_dir: time to ready under `key`, time to stop under "stop"."""
    run = StackRun(data_dir, mode, tree)
    try:
        figures[key].append(run.time_to_ready())
    finally:
        figures["stop"].append(run.stop())


def time_initdb(pgdata: Path) -> float:
    """initdb with pg-init's flags."""
    argv = ["initdb", "-D", str(pgdata), "-U", "postgres", "--auth=trust", "--encoding=UTF8"]
    argv += ["--no-locale", "--no-instructions", "--no-sync"]
    return timed(lambda: subprocess.run(argv, check=True, capture_output=True))


def start_server(argv: list[str], ready: Callable[[], bool], **popen: Any) -> tuple[Any, float]:
    """Start argv; (the process, seconds until ready() is true)."""
    start = time.perf_counter()
    server = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **popen)
    wait_for(ready)
    return server, time.perf_counter() - start


def stop_server(server: Any) -> None:
    server.send_signal(signal.SIGINT)  # PostgreSQL's fast shutdown; redis and the server quit too
    server.wait(30)


PARTS = ("initdb", "postgres", "redis", "migrate-first", "migrate-noop", "serve")


def measure_parts(parts: dict[str, list[float]]) -> None:
    """The stack's steps run bare, one after the other, each timed to its own readiness."""
    work = Path(tempfile.mkdtemp(prefix="fns-b-", dir="/tmp"))
    servers: list[Any] = []
    try:
        pgdata = work / "pg"
        parts["initdb"].append(time_initdb(pgdata))

        pg_port = str(free_port())
        isready = ["pg_isready", "-q", "-h", "127.0.0.1", "-p", pg_port, "-U", "postgres"]
        postgres = ["postgres", "-D", str(pgdata), "-p", pg_port]
        postgres += ["-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories="]
        server, took = start_server(
            postgres,
            lambda: subprocess.run(isready, check=False).returncode == 0,
        )
        servers.append(server)
        parts["postgres"].append(took)

        redis_port = free_port()
        redis = ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1"]
        redis += ["--dir", str(work), "--save", ""]
        server, took = start_server(redis, lambda: tcp_open(redis_port))
        servers.append(server)
        parts["redis"].append(took)

        psql = ["psql", "-q", "-h", "127.0.0.1", "-p", pg_port, "-U", "postgres"]
        for statement in ("CREATE ROLE app LOGIN", "CREATE DATABASE app OWNER app"):
            subprocess.run([*psql, "-c", statement], check=True)
        web_port = free_port()
        env = {
            **os.environ,
            "APP_ENV_FILE": "/nonexistent",
            "APP_DATABASE_URL": f"postgresql+psycopg2://app@127.0.0.1:{pg_port}/app",
            "APP_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
            "APP_BIND": f"127.0.0.1:{web_port}",
        }
        migrate = ["flask-nix-stack", "db", "upgrade"]
        for name in ("migrate-first", "migrate-noop"):
            parts[name].append(
                timed(lambda: subprocess.run(migrate, env=env, check=True, capture_output=True))
            )

        serve = ["flask-nix-stack", "serve"]
        ready = f"http://127.0.0.1:{web_port}/health/ready"
        server, took = start_server(serve, lambda: http_ok(ready), env=env, cwd=REPO_ROOT)
        servers.append(server)
        parts["serve"].append(took)
    finally:
        for server in reversed(servers):
            stop_server(server)
        shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=first_line(__doc__))
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--mode", choices=("prod", "dev"), default="prod")
    parser.add_argument(
        "--against", type=Path, help="another checkout, started alternately with this one"
    )
    args = parser.parse_args()
    if os.geteuid() == 0:
        print("PostgreSQL refuses root: run as an unprivileged user (runuser -u fns -- ...)")
        return 2
    tools = ("process-compose", "initdb", "postgres", "psql", "redis-server")
    for tool in (*tools, "flask-nix-stack"):
        if shutil.which(tool) is None:
            print(f"{tool} is not on PATH")
            return 2
    trees = {"this": REPO_ROOT}
    if args.against:
        if not (args.against / COMPOSE_FILE.name).is_file():
            print(f"--against {args.against}: no {COMPOSE_FILE.name} there")
            return 2
        trees["against"] = args.against.resolve()

    print(f"{os.cpu_count()} CPUs; {args.runs} rounds; web mode {args.mode}; seconds\n")
    # Each round times the bare parts, then a cold and a warm start, so the floor and the stack
    # see the same load (other work on the machine shifts both by tens of percent).
    parts: dict[str, list[float]] = {name: [] for name in PARTS}
    stacks: dict[str, dict[str, list[float]]] = {
        name: {"cold": [], "warm": [], "stop": []} for name in trees
    }
    warm_dirs = {name: Path(tempfile.mkdtemp(prefix="fns-b-", dir="/tmp")) for name in trees}
    loads: list[float] = []
    try:
        for name, tree in trees.items():  # not counted
            time_stack(args.mode, warm_dirs[name], {"init": [], "stop": []}, "init", tree)
        for round_ in range(args.runs):
            loads.append(os.getloadavg()[0])
            measure_parts(parts)
            names = list(trees)
            for name in names[round_ % len(names) :] + names[: round_ % len(names)]:
                cold_dir = Path(tempfile.mkdtemp(prefix="fns-b-", dir="/tmp"))
                try:
                    time_stack(args.mode, cold_dir, stacks[name], "cold", trees[name])
                finally:
                    shutil.rmtree(cold_dir, ignore_errors=True)
                time_stack(args.mode, warm_dirs[name], stacks[name], "warm", trees[name])
    finally:
        for warm_dir in warm_dirs.values():
            shutil.rmtree(warm_dir, ignore_errors=True)

    print(f"load average (1 min) at the rounds' starts: {summary(loads)}\n")
    med = {name: statistics.median(values) for name, values in parts.items()}
    print("bare parts (each started alone):")
    for name, values in parts.items():
        print(f"  {name:<13} {summary(values)}")
    cold_floor = med["initdb"] + med["postgres"] + med["migrate-first"] + med["serve"]
    warm_floor = med["postgres"] + med["migrate-noop"] + med["serve"]
    print(f"  floor: cold {cold_floor:5.2f}  warm {warm_floor:5.2f}  (medians, summed)")

    for name, stack in stacks.items():
        where = "" if name == "this" else f" ({trees[name]})"
        print(f"\n{name}{where}: process-compose up -> /health/ready 200:")
        for key, floor in (("cold", cold_floor), ("warm", warm_floor)):
            values = stack[key]
            ratio = statistics.median(values) / floor
            print(f"  {key:<5} {summary(values)}   median / floor {ratio:4.2f}")
        print(f"  stop  {summary(stack['stop'])}   (SIGTERM to exit, all processes gone)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

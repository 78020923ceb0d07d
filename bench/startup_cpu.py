"""CPU seconds of one start of each command: what a deploy, and the test suite, pay per process.

    python -m bench.startup_cpu [--runs 5] [--coverage] [--against TREE]

Each figure is the CPU time (user + system) of the command's whole process tree, as the kernel
accounts it to the processes this one waits for (a server's workers included: this process
adopts orphans, as a subreaper), so other work on the machine slows the commands but is not
counted. The commands:
- ``config check`` (settings only), ``tokens generate`` (no app), ``principals list`` (the app);
- ``db upgrade`` on a new database, with APP_BOOTSTRAP_ADMIN_TOKEN set (as the tests and a new
  host run it), and on a database already at the newest revision (every start of the stack);
- ``serve`` with granian (the default) and with gunicorn, 2 workers, from its start until
  /health/live answers 200, then stopped with SIGTERM (the stop counts: the suite pays it too).

``--coverage`` runs them under the test suite's subprocess coverage (COVERAGE_PROCESS_START on
this tree's pyproject.toml). ``--against TREE`` also runs another checkout of this repository
(for instance ``git worktree add /tmp/base main``), command by command, alternating which goes
first: its ``flask-nix-stack`` imports that tree's ``server`` (PYTHONPATH). Prints the median and
the range per command and tree. Not a test: it asserts nothing. PostgreSQL refuses root: run as
a user, with PostgreSQL's binaries on PATH.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench import first_line
from bench.servers_for_bench import BIN, backends
from bench.servers_for_bench import app_env as bench_env
from bench.stack_startup import http_ok

from support.servers import free_port

ROOT = Path(__file__).resolve().parent.parent
COMMAND = str(BIN / "flask-nix-stack")
PR_SET_CHILD_SUBREAPER = 36  # <linux/prctl.h>
READY_TIMEOUT = 60.0


def children_cpu() -> float:
    """CPU seconds of every child this process has waited for so far."""
    times = os.times()
    return times.children_user + times.children_system


def reap_orphans(grace: float = 0.5) -> None:
    """Wait for adopted orphans (a server's workers that outlived their main process)."""
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            time.sleep(0.02)


def run_cpu(argv: list[str], env: dict[str, str]) -> float:
    before = children_cpu()
    subprocess.run(argv, env=env, check=True, capture_output=True)
    return children_cpu() - before


def serve_cpu(env: dict[str, str]) -> float:
    port = free_port()
    env = {**env, "APP_BIND": f"127.0.0.1:{port}", "APP_WORKERS": "2"}
    before = children_cpu()
    server = subprocess.Popen(
        [COMMAND, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + READY_TIMEOUT
    while not http_ok(f"http://127.0.0.1:{port}/health/live"):
        if time.monotonic() > deadline or server.poll() is not None:
            server.kill()
            raise SystemExit(f"serve ({env.get('APP_SERVER', 'granian')}) never answered")
        time.sleep(0.01)
    server.send_signal(signal.SIGTERM)
    server.wait(60)
    reap_orphans()
    return children_cpu() - before


def commands(
    env: dict[str, str], new_database: Callable[[], str]
) -> dict[str, Callable[[], float]]:
    return {
        "config check": lambda: run_cpu([COMMAND, "config", "check"], env),
        "tokens generate": lambda: run_cpu([COMMAND, "tokens", "generate"], env),
        "principals list": lambda: run_cpu([COMMAND, "principals", "list"], env),
        "db upgrade, new database": lambda: run_cpu(
            [COMMAND, "db", "upgrade"], {**env, "APP_DATABASE_URL": new_database()}
        ),
        "db upgrade, at the newest": lambda: run_cpu([COMMAND, "db", "upgrade"], env),
        "serve, granian": lambda: serve_cpu(env),
        "serve, gunicorn": lambda: serve_cpu({**env, "APP_SERVER": "gunicorn"}),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=first_line(__doc__))
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--coverage", action="store_true", help="the suite's subprocess coverage")
    parser.add_argument("--against", type=Path, help="another checkout, run alternately")
    args = parser.parse_args()
    if os.geteuid() == 0:
        print("PostgreSQL refuses root: run as an unprivileged user (runuser -u fns -- ...)")
        return 2
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    trees = {"this": ROOT, **({"against": args.against.resolve()} if args.against else {})}
    work = Path(tempfile.mkdtemp(prefix="fns-startup-cpu-"))
    figures: dict[tuple[str, str], list[float]] = {}
    with backends() as (pg, redis):
        count = 0

        def new_database() -> str:
            nonlocal count
            count += 1
            return pg.create_database(f"startup_cpu_{count}")

        base = bench_env(new_database(), redis.url, APP_SERVER="granian")
        if args.coverage:
            base["COVERAGE_PROCESS_START"] = str(ROOT / "pyproject.toml")
            base["COVERAGE_FILE"] = str(work / ".coverage")
        subprocess.run([COMMAND, "db", "upgrade"], env=base, check=True, capture_output=True)
        print(
            f"{os.cpu_count()} CPUs; {args.runs} runs; coverage {'on' if args.coverage else 'off'};"
            f" CPU seconds per start (load average {os.getloadavg()[0]:.2f} at the start)\n"
        )
        names = list(trees)
        for run in range(args.runs):
            order = names[run % len(names) :] + names[: run % len(names)]
            for command in commands(base, new_database):
                for name in order:
                    env = {**base, "PYTHONPATH": str(trees[name])}
                    measure = commands(env, new_database)[command]
                    figures.setdefault((command, name), []).append(measure())
    width = max(len(command) for command, _ in figures)
    for (command, name), values in figures.items():
        print(
            f"{command:{width}}  {name:7}  median {statistics.median(values):5.2f}"
            f"  min {min(values):5.2f}  max {max(values):5.2f}"
        )
    if args.against:
        print()
        for command in dict.fromkeys(command for command, _ in figures):
            ratio = statistics.median(figures[command, "this"]) / statistics.median(
                figures[command, "against"]
            )
            print(f"{command:{width}}  this / against: {ratio:.2f}")
    print(f"\nload average at the end {os.getloadavg()[0]:.2f}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

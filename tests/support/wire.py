"""What a client really sends PostgreSQL: a TCP proxy that records each query on the wire.

SQLAlchemy's events see the statements it executes, not the BEGIN that psycopg2 sends by
itself before the first one, nor the ROLLBACK or COMMIT of the DBAPI connection: each of
those is a round trip too. psycopg2 sends everything as simple Query messages ("Q", the text
of the query); the proxy parses the client's side of the protocol and keeps their text.
https://www.postgresql.org/docs/current/protocol-message-formats.html
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.engine import make_url

# Before the startup message, a client may ask for TLS or GSS encryption: 8-byte requests
# with no type byte, as the startup message itself has none.
_ENCRYPTION_REQUESTS = {80877103, 80877104}


class WireRecorder:
    """Listens on 127.0.0.1 and forwards to PostgreSQL; ``queries`` lists what clients sent."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.queries: list[str] = []
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._open: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, database_url: str) -> str:
        """``database_url`` through the proxy, in plain text (the proxy reads the messages)."""
        url = make_url(database_url).set(host="127.0.0.1", port=self.port)
        query = {k: v for k, v in url.query.items() if k not in ("host", "port")}
        return url.set(query={**query, "sslmode": "disable"}).render_as_string(hide_password=False)

    def take(self) -> list[str]:
        """The queries recorded since the last take."""
        with self._lock:
            taken, self.queries = self.queries, []
        return taken

    def close(self) -> None:
        self._listener.close()
        for sock in self._open:
            with contextlib.suppress(OSError):
                sock.close()

    def _connect_upstream(self) -> socket.socket:
        host, port = self.target
        if host.startswith("/"):  # a socket directory, as PGHOST may name
            upstream = socket.socket(socket.AF_UNIX)
            upstream.connect(f"{host}/.s.PGSQL.{port}")
            return upstream
        return socket.create_connection((host, port))

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                client, _ = self._listener.accept()
                upstream = self._connect_upstream()
                self._open += [client, upstream]
                pumps = ((self._client_side, (client, upstream)), (_copy, (upstream, client)))
                for pump, ends in pumps:
                    threading.Thread(target=pump, args=ends, daemon=True).start()

    def _client_side(self, client: socket.socket, upstream: socket.socket) -> None:
        buffer = bytearray()
        started = False
        with contextlib.suppress(OSError):
            while data := client.recv(65536):
                buffer += data
                # Recorded before it is forwarded: a test that has its answer has its record.
                while (message := _next_message(buffer, started)) is not None:
                    kind, body = message
                    if kind is None:
                        started = int.from_bytes(body[:4], "big") not in _ENCRYPTION_REQUESTS
                    elif kind == b"Q":
                        with self._lock:
                            self.queries.append(body.rstrip(b"\0").decode())
                upstream.sendall(data)
        with contextlib.suppress(OSError):
            upstream.shutdown(socket.SHUT_WR)


def _next_message(buffer: bytearray, started: bool) -> tuple[bytes | None, bytes] | None:
    """Take one whole message off ``buffer``: (type byte or None before startup, body)."""
    head = 5 if started else 4
    if len(buffer) < head:
        return None
    length = int.from_bytes(buffer[head - 4 : head], "big")  # counts itself, not the type
    end = head - 4 + length
    if len(buffer) < end:
        return None
    kind = bytes(buffer[:1]) if started else None
    body = bytes(buffer[head:end])
    del buffer[:end]
    return kind, body


def _copy(source: socket.socket, target: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := source.recv(65536):
            target.sendall(data)
    with contextlib.suppress(OSError):
        target.shutdown(socket.SHUT_WR)


@contextmanager
def wire_recorder(host: str, port: int) -> Iterator[WireRecorder]:
    recorder = WireRecorder(host, port)
    try:
        yield recorder
    finally:
        recorder.close()

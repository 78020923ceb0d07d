"""server/wsgi_bridge.py: the WSGI environ it builds and how it reads bodies (no server needed;
tests/test_serve.py and tests/faults run it under granian for real)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from server.wsgi_bridge import BrokenBody, build_environ, call_wsgi, read_body


class Headers:
    def __init__(self, items: list[tuple[str, str]]) -> None:
        self._items = items

    def items(self) -> list[tuple[str, str]]:
        return self._items


@dataclass
class Scope:
    headers: Headers
    path: str = "/api/v1/projects"
    query_string: str = ""
    method: str = "GET"
    server: str = "127.0.0.1:8000"
    client: str = "127.0.0.1:50000"
    http_version: str = "1.1"
    scheme: str = "http"


def test_environ_follows_pep_3333() -> None:
    scope = Scope(
        Headers(
            [
                ("host", "api.test"),
                ("content-type", "application/json"),
                ("content-length", "2"),
                ("x-forwarded-for", "10.0.0.1"),
                ("x-forwarded-for", "10.0.0.2"),
            ]
        ),
        path="/caf\u00e9 x",
        query_string="a=%20b",
        method="POST",
        client="[::1]:4321",
    )
    environ = build_environ(scope, b"{}")
    assert environ["REQUEST_METHOD"] == "POST"
    assert environ["PATH_INFO"] == "/caf\u00c3\u00a9 x"  # UTF-8 bytes as latin-1
    assert environ["QUERY_STRING"] == "a=%20b"
    assert environ["CONTENT_TYPE"] == "application/json"
    assert environ["CONTENT_LENGTH"] == "2"
    assert "HTTP_CONTENT_TYPE" not in environ
    assert environ["HTTP_HOST"] == "api.test"
    assert environ["HTTP_X_FORWARDED_FOR"] == "10.0.0.1,10.0.0.2"
    assert (environ["REMOTE_ADDR"], environ["REMOTE_PORT"]) == ("::1", "4321")
    assert (environ["SERVER_NAME"], environ["SERVER_PORT"]) == ("127.0.0.1", "8000")
    assert environ["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert environ["wsgi.input"].read() == b"{}"


def test_call_wsgi_collects_status_headers_and_body() -> None:
    closed: list[bool] = []

    class Body(list[bytes]):
        def close(self) -> None:
            closed.append(True)

    def app(environ: dict[str, Any], start_response: Any) -> Body:
        start_response("201 Created", [("Location", "/x")])
        return Body([b"a", b"b"])

    assert call_wsgi(app, {}) == (201, [("Location", "/x")], b"ab")
    assert closed == [True]


@dataclass
class Proto:
    """The body side of granian's RSGI protocol: async iteration over chunks."""

    chunks: list[bytes]
    read: list[bytes] = field(default_factory=list)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            self.read.append(chunk)
            yield chunk


@pytest.mark.parametrize(
    ("chunks", "declared", "expected"),
    [
        ([b"ab", b"cd"], "4", b"abcd"),
        ([b"ab", b"cd"], None, b"abcd"),  # chunked: no Content-Length
        ([b"ab"], "4", None),  # the client left mid-body: the app never runs
        ([b"abcdef", b"gh"], None, b"abcdef"),  # past the limit: stop reading, the app says 413
        ([b"x"], "999", b""),  # declared past the limit: nothing read at all
    ],
)
def test_read_body(chunks: list[bytes], declared: str | None, expected: bytes | None) -> None:
    chunks = [*chunks, b""]  # granian ends every body with an empty chunk
    proto = Proto(chunks)
    assert asyncio.run(read_body(proto, declared, limit=5)) == expected
    if declared == "999":
        assert proto.read == []


@pytest.mark.parametrize("chunks", [[b"ab", b"", b""], [b"", b""]])
def test_a_body_granian_could_not_decode_is_broken(chunks: list[bytes]) -> None:
    """granian turns a decoding error into one more empty chunk before the last one."""
    body = asyncio.run(read_body(Proto(chunks), None, limit=5))
    assert isinstance(body, BrokenBody)
    with pytest.raises(OSError, match="chunked framing"):
        body.read()

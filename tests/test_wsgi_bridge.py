"""server/wsgi_bridge.py: the WSGI environ it builds and how it reads bodies (no server needed;
tests/test_serve.py and tests/faults run it under granian for real)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from werkzeug import Request

from server.wsgi_bridge import (
    FREE_CHUNKS,
    INTERNAL_ERROR,
    MIN_CHUNK,
    NO_BODY_SLOT,
    REFUSAL,
    BrokenBody,
    CutShort,
    Response,
    TooFragmented,
    TooSlow,
    WSGIBridge,
    build_environ,
    call_wsgi,
    read_body,
    reads_a_body,
)


class Headers:
    """granian's RSGIHeaders over the values received (None: one granian cannot decode, bytes
    outside visible ASCII): ``keys()`` and ``len()`` count every name, ``items()`` only the
    values it could decode, ``headers[name]`` is a name's first value ("" if undecodable)."""

    def __init__(self, received: Sequence[tuple[str, str | None]]) -> None:
        self._received = received

    def items(self) -> list[tuple[str, str]]:
        return [(name, value) for name, value in self._received if value is not None]

    def keys(self) -> list[str]:
        return list(dict.fromkeys(name for name, _ in self._received))

    def __getitem__(self, name: str) -> str:
        return next(value or "" for key, value in self._received if key == name)

    def __len__(self) -> int:
        return len(self.keys())

    def __contains__(self, name: str) -> bool:
        return name in self.keys()

    def get(self, name: str, default: str | None = None) -> str | None:
        values = [value or "" for key, value in self._received if key == name]
        return values[0] if values else default


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
    authority: str | None = None  # set for an absolute-form target


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
    assert REFUSAL not in environ


def test_a_raw_utf8_target_reaches_werkzeug_as_sent() -> None:
    """granian passes raw UTF-8 in a target on, decoded: the query handed on as that text made
    werkzeug fail to encode it for PEP 3333 (a 500 around the app)."""
    scope = Scope(Headers([]), path="/caf\u00e9", query_string="\u0663=\u00e9&b=%C3%A9")
    request = Request(build_environ(scope, b""))
    assert request.path == "/caf\u00e9"
    assert request.query_string == "\u0663=\u00e9&b=%C3%A9".encode()
    assert request.args.to_dict() == {"\u0663": "\u00e9", "b": "\u00e9"}


def test_http_1_0_is_spelled_as_pep_3333_does() -> None:
    """granian's http_version for HTTP/1.0 is "1"."""
    environ = build_environ(Scope(Headers([]), http_version="1"), b"")
    assert environ["SERVER_PROTOCOL"] == "HTTP/1.0"


def test_an_absolute_form_target_names_the_host() -> None:
    scope = Scope(Headers([("host", "127.0.0.1")]), authority="rebound.example")
    assert build_environ(scope, b"")["HTTP_HOST"] == "rebound.example"


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        (Headers([("host", "a"), ("if-match", None)]), "outside visible ASCII"),
        (Headers([("host", None)]), "outside visible ASCII"),
        (Headers([("host", "a"), ("x-a", None), ("x-a", "ok")]), "outside visible ASCII"),
        (Headers([("host", "a"), ("host", "a")]), "more than one Host"),
    ],
    ids=[
        "a header granian left out",
        "the Host granian left out",
        "a repeated header whose first value granian left out",
        "repeated Host",
    ],
)
def test_what_granian_lets_through_is_marked_for_refusal(headers: Headers, reason: str) -> None:
    """(A repeated header whose later values granian leaves out cannot be told from one sent
    without them: granian 2.8's RSGIHeaders has no count of values. docs/operations.md.)"""
    assert reason in build_environ(Scope(headers), b"")[REFUSAL]


def test_repeated_and_empty_values_are_not_refused() -> None:
    headers = Headers([("host", "a"), ("x-a", ""), ("x-a", "ok"), ("x-b", "1"), ("x-b", "2")])
    environ = build_environ(Scope(headers), b"")
    assert REFUSAL not in environ
    assert (environ["HTTP_X_A"], environ["HTTP_X_B"]) == (",ok", "1,2")


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


class Answered(WSGIBridge):
    """A bridge whose own answers are recognisable (server/rsgi.py gives them the app's shape)."""

    def problem(self, status: int, detail: str) -> Response:
        return status, [("Content-Type", "application/problem+json")], detail.encode()


DEADLINE = 30.0


@dataclass
class Proto:
    """The body side of granian's RSGIHTTPProtocol: async iteration over chunks, or the whole
    body at once (``await proto()``), which raises if the body ended before its length; with
    ``stalls``, the client sends nothing more after the chunks."""

    chunks: list[bytes]
    ended_early: bool = False
    stalls: bool = False
    read: list[bytes] = field(default_factory=list)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            self.read.append(chunk)
            yield chunk
        if self.stalls:
            await asyncio.Event().wait()

    async def __call__(self) -> bytes:
        self.read.extend(self.chunks)
        if self.stalls:
            await asyncio.Event().wait()
        if self.ended_early:
            raise ConnectionError("body ended before its length")  # granian's ProtocolClosed
        return b"".join(self.chunks)


@dataclass
class Exchange(Proto):
    """Both sides of granian's RSGIHTTPProtocol: the body, and the answer sent."""

    sent: list[Response] = field(default_factory=list)

    def response_bytes(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.sent.append((status, headers, body))


def post(body: bytes) -> Scope:
    return Scope(Headers([("content-length", str(len(body)))]), method="POST")


def test_a_failure_around_the_app_is_the_bridges_own_problem(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """What the app raises past Flask's handlers (werkzeug reading a broken environ, say) is
    answered in the app's shape, not as text/plain."""

    def broken(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        raise UnicodeEncodeError("latin-1", "\u0663", 0, 1, "ordinal not in range(256)")

    exchange = Exchange([])
    bridge = Answered(broken, threads=1, max_body=5, body_deadline=DEADLINE, body_memory=6)
    asyncio.run(bridge.__rsgi__(Scope(Headers([])), exchange))
    assert exchange.sent == [
        (500, [("Content-Type", "application/problem+json")], INTERNAL_ERROR.encode())
    ]
    assert "raised outside its error handlers" in caplog.text


def test_bodies_past_the_memory_wait_and_requests_without_one_do_not() -> None:
    """The bodies a worker holds at once are bounded (APP_BODY_MEMORY); granian's connection limit
    did that before, and it now lets idle connections be many. A request without a body never
    waits for a slot; one with a body waits, and past the body deadline is 503 without its
    body being read."""
    release = threading.Event()

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        if environ["wsgi.input"].read() == b"slow":
            release.wait(10)
        start_response("200 OK", [])
        return [b"ok"]

    # One slot: room for one body of at most 5 bytes (and its one byte more).
    bridge = Answered(app, threads=4, max_body=5, body_deadline=0.2, body_memory=6)

    async def scenario() -> dict[str, Exchange]:
        held, get, refused = Exchange([b"slow"]), Exchange([]), Exchange([b"fast"])
        holding = asyncio.create_task(bridge.__rsgi__(post(b"slow"), held))
        await asyncio.sleep(0.05)  # the slow request has the slot, and its app is running
        await bridge.__rsgi__(Scope(Headers([])), get)
        await bridge.__rsgi__(post(b"fast"), refused)
        release.set()
        await holding
        later = Exchange([b"fast"])
        await bridge.__rsgi__(post(b"fast"), later)
        return {"held": held, "get": get, "refused": refused, "later": later}

    answers = asyncio.run(scenario())
    assert [answers[name].sent[0][0] for name in ("held", "get", "refused", "later")] == [
        200,
        200,
        503,
        200,
    ]
    _, headers, payload = answers["refused"].sent[0]
    assert ("Retry-After", "1") in headers
    assert ("Connection", "close") in headers
    assert payload == NO_BODY_SLOT.encode()
    assert answers["refused"].read == []  # never read: the client may retry it whole


@pytest.mark.parametrize(
    ("declared", "chunked", "reads"),
    [("0", False, False), ("5", False, True), ("6", False, False), (None, True, True)],
)
def test_what_reads_a_body(declared: str | None, chunked: bool, reads: bool) -> None:
    """Only a body read_body reads takes a slot: none, or one declared past the limit (413
    from the headers alone), takes none."""
    assert reads_a_body(declared, chunked, limit=5) is reads


@pytest.mark.parametrize(
    ("proto", "declared", "chunked", "expected"),
    [
        (Proto([b"ab", b"cd"]), "4", False, b"abcd"),
        (Proto([b"ab", b"cd", b""]), None, True, b"abcd"),
        (Proto([b"ab"], ended_early=True), "4", False, "cut short"),  # the app never runs
        (Proto([b"abcdef", b"gh", b""]), None, True, b"abcdef"),  # past the limit: the app 413s
        (Proto([b"x"]), "999", False, b""),  # declared past the limit: nothing read at all
        (Proto([b"x"]), None, False, b""),  # no length, not chunked: no body, nothing read
    ],
)
def test_read_body(
    proto: Proto, declared: str | None, chunked: bool, expected: bytes | str
) -> None:
    body = asyncio.run(read_body(proto, declared, chunked, limit=5, deadline=DEADLINE))
    if expected == "cut short":
        assert isinstance(body, CutShort)
        assert "before its 4 bytes" in body.detail
    else:
        assert body == expected
    if declared == "999" or not (declared or chunked):
        assert proto.read == []


@pytest.mark.parametrize("chunks", [[b"ab", b"", b""], [b"", b""]])
def test_a_body_granian_could_not_decode_is_broken(chunks: list[bytes]) -> None:
    """granian turns a decoding error into one more empty chunk before the last one."""
    body = asyncio.run(read_body(Proto(chunks), None, True, limit=5, deadline=DEADLINE))
    assert isinstance(body, BrokenBody)
    with pytest.raises(OSError, match="chunked framing"):
        body.read()


def test_a_body_in_many_tiny_chunks_is_refused_before_its_end() -> None:
    """Each chunk costs granian a future (about 20 us); 1-byte chunks cost 21 CPU-s for a
    1 MiB body. Past FREE_CHUNKS they must average more than MIN_CHUNK bytes."""
    tiny = Proto([b"x"] * 100_000 + [b""])
    body = asyncio.run(read_body(tiny, None, True, limit=1 << 20, deadline=DEADLINE))
    assert isinstance(body, TooFragmented)
    assert len(tiny.read) == FREE_CHUNKS + 1  # stopped at the first chunk over the budget
    # Some small chunks among larger ones (1 KiB: what a client writing a buffer sends).
    fair = [b"y"] * 10 + [b"x" * 1024] * 1000 + [b"y"] * 10 + [b""]
    assert asyncio.run(
        read_body(Proto(fair), None, True, limit=1 << 20, deadline=DEADLINE)
    ) == b"".join(fair)
    assert MIN_CHUNK < 1024


@pytest.mark.parametrize(("declared", "chunked"), [("4", False), (None, True)])
def test_a_body_slower_than_its_deadline_is_408(declared: str | None, chunked: bool) -> None:
    """A client trickling its body would hold its connection for as long as it liked."""
    body = asyncio.run(read_body(Proto([b"ab"], stalls=True), declared, chunked, 5, 0.05))
    assert isinstance(body, TooSlow)
    assert body.status == 408
    assert body.detail == "The request body did not arrive within 0.05 seconds."

"""Hostile HTTP through the production server: over-size chunked bodies, foreign Host headers,
doubled slashes and foreign encodings all get the app's problem+json with security headers."""

from __future__ import annotations

import json
import re
import socket
import threading
import uuid
from collections.abc import Callable, Iterator

import pytest
import requests

from server.auth.tokens import generate
from server.errors import STATUS_SLUGS, TYPE_BASE

from support.cli_runner import run_cli_in_process
from support.processes import Server, app_env, shared_servers
from support.servers import raw_answer, wait_until

# The slugs of what a server refuses by itself, the same as the nginx front's (nix/module.nix).
SERVER_SLUGS = {**STATUS_SLUGS, 417: "expectation-failed", 501: "not-implemented"}
LIMIT = 1024 * 1024  # APP_MAX_CONTENT_LENGTH's default
# Valid JSON at any cut: a name, then spaces. Cut at the limit, it would still parse.
PADDED = b'{"name": "padded"}' + b" " * (3 * LIMIT)


@pytest.fixture(scope="module")
def database(migrated_database: Callable[[str], str]) -> str:
    return migrated_database("fns_hostile_http")


@pytest.fixture(scope="module")
def token(database: str, redis_url: str) -> str:
    """The demo principal's token (`seed` prints it): every API request needs one."""
    seeded = run_cli_in_process("seed", env=app_env(database, redis_url))
    return seeded.stdout.strip().splitlines()[-1]


@pytest.fixture(autouse=True)
def _authorized(token: str) -> None:
    AUTH.value = f"Bearer {token}"


class _Auth:
    value = ""

    def headers(self, **more: str) -> dict[str, str]:
        return {"Authorization": self.value, **more}


AUTH = _Auth()


@pytest.fixture(scope="module")
def servers(database: str, redis_url: str) -> Iterator[Callable[[str], Server]]:
    """``servers(kind)``: one production server of each kind for the whole module.

    One worker each: what a server and the app refuse is the same in every worker, and no
    test here is about how many there are."""
    env = app_env(database, redis_url, APP_KEY_PREFIX="hostile")
    with shared_servers(lambda _: env, workers=1) as get:
        yield get


# Both production servers `flask-nix-stack serve` offers: granian (the default) and gunicorn.
@pytest.fixture(scope="module", params=["granian", "gunicorn"])
def server(request: pytest.FixtureRequest, servers: Callable[[str], Server]) -> Server:
    return servers(request.param)


@pytest.fixture(scope="module")
def gunicorn(servers: Callable[[str], Server]) -> Server:
    """gunicorn alone: server/gunicorn_errors.py rewrites what gunicorn refuses by itself."""
    return servers("gunicorn")


def raw_request(server: Server, head: bytes, chunks: Iterator[bytes] | list[bytes]) -> bytes:
    """Send ``head`` and then ``chunks`` in chunked framing while reading the answer."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:

        def send() -> None:
            try:
                sock.sendall(head)
                for chunk in chunks:
                    sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sock.sendall(b"0\r\n\r\n")
            except OSError:  # the server answered and closed before reading it all
                pass

        sender = threading.Thread(target=send)
        sender.start()
        answer = b""
        try:
            while data := sock.recv(65536):
                answer += data
                if b"\r\n\r\n" in answer and _complete(answer):
                    break
        except ConnectionResetError:
            pass
        sender.join(timeout=30)
    return answer


def _complete(answer: bytes) -> bool:
    head, _, body = answer.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(body) >= int(line.split(b":")[1])
    return False


def post_chunked(
    server: Server, body: bytes, chunk_size: int = 65536
) -> tuple[int, dict[str, str], bytes]:
    head = (
        b"POST /api/v1/projects HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        + f"Authorization: {AUTH.value}\r\n".encode()
        + b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
        b"Connection: close\r\n\r\n"
    )
    chunks = [body[i : i + chunk_size] for i in range(0, len(body), chunk_size)]
    answer = raw_request(server, head, chunks)
    head_text, _, payload = answer.partition(b"\r\n\r\n")
    lines = head_text.decode("latin-1").split("\r\n")
    assert lines[0].startswith("HTTP/1.1 "), answer[:200]
    headers = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])}
    return int(lines[0].split()[1]), headers, payload


def project_names(server: Server) -> list[str]:
    answer = requests.get(
        f"{server.base}/api/v1/projects?limit=100", headers=AUTH.headers(), timeout=10
    )
    items = answer.json()["items"]
    return [item["name"] for item in items]


def test_oversize_chunked_body_is_413_and_never_parsed(server: Server) -> None:
    status, headers, payload = post_chunked(server, PADDED)
    assert status == 413, payload[:300]
    assert headers["content-type"] == "application/problem+json"
    assert headers["x-content-type-options"] == "nosniff"
    assert json.loads(payload)["status"] == 413
    assert "padded" not in project_names(server)


def test_same_body_with_content_length_is_413(server: Server) -> None:
    try:
        response = requests.post(
            f"{server.base}/api/v1/projects",
            data=PADDED,
            headers=AUTH.headers(**{"Content-Type": "application/json"}),
            timeout=30,
        )
    except requests.ConnectionError:
        pytest.fail("the server reset the connection instead of answering 413")
    assert response.status_code == 413
    assert "padded" not in project_names(server)


def test_chunked_body_within_the_limit_is_accepted(server: Server) -> None:
    name = f"chunked-{server.kind}"
    body = b'{"name": "%s"}' % name.encode() + b" " * (LIMIT - 100)
    status, _, payload = post_chunked(server, body)
    assert status == 201, payload[:300]
    assert json.loads(payload)["name"] == name


@pytest.mark.parametrize(
    "framing",
    ["zz\r\n{body}\r\n0\r\n\r\n", "{size:x}\r\n{body}XX0\r\n\r\n", "ff\r\n{body}\r\n0\r\n\r\n"],
    ids=["bad-size", "no-terminator", "short-chunk"],
)
def test_malformed_chunked_framing_is_400_problem(server: Server, framing: str) -> None:
    """A body whose chunked framing is broken (or cut short) is the client's error (400), never
    a 500, and the app never takes what arrived for the whole body."""
    name = f"broken-framing-{server.kind}"
    body = json.dumps({"name": name})
    chunked = framing.format(body=body, size=len(body)).encode()
    head = (
        b"POST /api/v1/projects HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        + f"Authorization: {AUTH.value}\r\n".encode()
        + b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
        b"Connection: close\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(head + chunked)
        sock.shutdown(socket.SHUT_WR)
        answer = b""
        try:
            while data := sock.recv(65536):
                answer += data
        except ConnectionResetError:
            pass
    status_line = answer.split(b"\r\n", 1)[0]
    assert status_line.startswith(b"HTTP/1.1 400 "), answer[:300]
    head_text, _, payload = answer.partition(b"\r\n\r\n")
    headers = head_text.decode("latin-1").lower()
    assert "content-type: application/problem+json" in headers, answer[:300]
    assert "x-content-type-options: nosniff" in headers
    assert json.loads(payload)["status"] == 400
    assert name not in project_names(server)


def test_untrusted_host_is_400_problem(server: Server) -> None:
    response = requests.get(
        f"{server.base}/api/v1/projects",
        headers={"Host": "rebound.evil.example", "X-Forwarded-Proto": "https"},
        timeout=10,
    )
    assert response.status_code == 400
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.headers["X-Frame-Options"] == "DENY"


def test_doubled_slash_is_404_problem_not_a_redirect(server: Server) -> None:
    response = requests.get(
        f"{server.base}/api//v1/projects",
        headers={"X-Forwarded-Proto": "https"},
        allow_redirects=False,
        timeout=10,
    )
    assert response.status_code == 404
    assert "Location" not in response.headers
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.headers["Content-Security-Policy"].startswith("default-src 'none'")


def test_utf16_declared_latin1_is_415(server: Server) -> None:
    response = requests.post(
        f"{server.base}/api/v1/projects",
        data='{"name": "utf16"}'.encode("utf-16"),
        headers=AUTH.headers(**{"Content-Type": "application/json; charset=latin-1"}),
        timeout=10,
    )
    assert response.status_code == 415
    assert response.headers["Content-Type"] == "application/problem+json"


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GET /api/v1/tasks?" + b"tag=x&" * 2000 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 414),
        (b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n", 431),
        (b"NOT A REQUEST LINE\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nBad Header: <x>\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nExpect: <x>\r\n\r\n", 417),
        (
            b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: <x>chunked\r\n\r\n",
            501,
        ),
    ],
    ids=[
        "request line too long",
        "header too large",
        "garbage",
        "bad header name",
        "unknown expectation",
        "unknown transfer coding",
    ],
)
def test_what_gunicorn_refuses_itself_is_problem_json(
    gunicorn: Server, request_bytes: bytes, status: int
) -> None:
    """gunicorn answers these before the app sees them: still problem+json, still secured."""
    got, headers, body = raw_answer(gunicorn.port, request_bytes)
    assert got == status, body[:300]
    assert headers["content-type"] == "application/problem+json"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["content-security-policy"].startswith("default-src 'none'")
    problem = json.loads(body)
    assert problem["status"] == status
    assert problem["type"] == TYPE_BASE + SERVER_SLUGS[status]
    assert b"<x>" not in body
    assert b"aaaa" not in body


def assert_problem_answer(answer: tuple[int, dict[str, str], bytes], status: int) -> dict:  # type: ignore[type-arg]
    got, headers, body = answer
    assert got == status, body[:300]
    assert headers["content-type"] == "application/problem+json"
    assert headers["x-content-type-options"] == "nosniff"
    problem = json.loads(body)
    assert problem["status"] == status
    return dict(problem)


def head(request_line: bytes, *fields: bytes) -> bytes:
    """A request head: the line, the fields, Connection: close."""
    return b"\r\n".join([request_line, *fields, b"Connection: close", b"", b""])


def test_an_expectation_no_server_meets_is_417_under_every_server(server: Server) -> None:
    """gunicorn from 24 refuses it itself (above); granian and gunicorn 23 hand it on, and the
    app refuses it (RFC 9110 section 10.1.1)."""
    request = head(b"GET /health/live HTTP/1.1", b"Host: 127.0.0.1", b"Expect: <x>")
    problem = assert_problem_answer(raw_answer(server.port, request), 417)
    assert problem["type"].endswith("/expectation-failed")
    continued = head(b"GET /health/live HTTP/1.1", b"Host: 127.0.0.1", b"Expect: 100-continue")
    assert raw_answer(server.port, continued)[0] in (100, 200)  # an interim 100 first, or not


def test_an_absolute_form_target_names_the_host_checked(server: Server) -> None:
    """``GET http://host/path`` is for the host it names (RFC 9112 section 3.2.2), whatever the
    Host header says: APP_TRUSTED_HOSTS applies to it, as it does behind nginx."""
    request = head(
        b"GET http://rebound.evil.example/api/v1/projects HTTP/1.1",
        b"Host: 127.0.0.1",
        f"Authorization: {AUTH.value}".encode(),
    )
    problem = assert_problem_answer(raw_answer(server.port, request), 400)
    assert problem["type"].endswith("/bad-host")
    trusted = head(b"GET http://127.0.0.1/health/live HTTP/1.1", b"Host: rebound.evil.example")
    assert raw_answer(server.port, trusted)[0] == 200


def test_http_1_1_without_host_is_400(server: Server) -> None:
    """RFC 9112 section 3.2: a server MUST refuse it. (HTTP/1.0 needs no Host.)"""
    assert_problem_answer(raw_answer(server.port, head(b"GET /health/live HTTP/1.1")), 400)
    assert raw_answer(server.port, head(b"GET /health/live HTTP/1.0"))[0] == 200


def test_a_header_the_app_cannot_read_never_vanishes(server: Server) -> None:
    """granian leaves out a header value holding bytes outside ASCII (obs-text): an If-Match
    such as ``"v\\xff"`` disappeared, and a conditional write became an unconditional one.
    Refused by the bridge (granian) or read as sent and found outside If-Match's documented
    syntax, visible ASCII (gunicorn), it is 400 on both, and the resource stays as it was."""
    created = requests.post(
        f"{server.base}/api/v1/projects",
        json={"name": f"if-match-{server.kind}"},
        headers=AUTH.headers(),
        timeout=10,
    )
    assert created.status_code == 201, created.text
    url = f"/api/v1/projects/{created.json()['id']}"
    body = b'{"description": "changed"}'
    request = head(
        f"PATCH {url} HTTP/1.1".encode(),
        b"Host: 127.0.0.1",
        f"Authorization: {AUTH.value}".encode(),
        b'If-Match: "v\xff"',
        b"Content-Type: application/json",
        b"Content-Length: %d" % len(body),
    )
    assert_problem_answer(raw_answer(server.port, request + body), 400)
    after = requests.get(f"{server.base}{url}", headers=AUTH.headers(), timeout=10).json()
    assert after["description"] == ""
    assert after["version"] == 1


def project_post_head(framing: bytes) -> bytes:
    """The head of an authorised JSON POST creating a project, its body framed by ``framing``."""
    return head(
        b"POST /api/v1/projects HTTP/1.1",
        b"Host: 127.0.0.1",
        f"Authorization: {AUTH.value}".encode(),
        b"Content-Type: application/json",
        framing,
    )


def test_a_body_cut_short_is_400_and_never_parsed(server: Server) -> None:
    """A client that closes its side before its Content-Length is in: the part that came is
    valid JSON, yet the request is refused (gunicorn handed it on as whole: 201; granian said
    500 by itself)."""
    name = f"cut-short-{server.kind}"
    body = json.dumps({"name": name}).encode()
    request = project_post_head(b"Content-Length: %d" % (len(body) + 100))
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(request + body)
        sock.shutdown(socket.SHUT_WR)  # still listening for the answer
        answer = b""
        while data := sock.recv(65536):
            answer += data
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line.startswith(b"HTTP/1.1 400 "), answer[:300]
    assert b"content-type: application/problem+json" in rest.lower()
    assert name not in project_names(server)


def test_client_text_never_forges_a_log_line(server: Server) -> None:
    """A request path is decoded before it is logged: CR, LF and escape sequences in it come
    out escaped in the readable log format (the JSON one escapes them by itself)."""
    marker = f"FORGED-{server.kind}"
    request = head(f"GET /x%0d%0a{marker}%1b[2J HTTP/1.1".encode(), b"Host: 127.0.0.1")
    assert raw_answer(server.port, request)[0] == 404
    wait_until(lambda: marker in server.log(), 10, "the access line")  # written after the answer
    log = server.log()
    assert not any(line.startswith(marker) for line in log.splitlines())
    assert "\x1b" not in log


def test_options_is_204_without_a_body_or_content_type(server: Server) -> None:
    """Flask's own OPTIONS answer was an empty 200 declared as text/html."""
    request = head(b"OPTIONS /api/v1/projects HTTP/1.1", b"Host: 127.0.0.1")
    status, headers, body = raw_answer(server.port, request)
    assert status == 204
    assert "content-type" not in headers
    assert body == b""
    assert set(headers["allow"].replace(" ", "").split(",")) >= {"GET", "POST", "OPTIONS"}
    assert headers["x-content-type-options"] == "nosniff"


# Every method and path no route answers, on a probe path and an API path.
NO_ROUTE = [
    ("TRACE", "/health/live", 405),
    ("DELETE", "/health/ready", 405),
    ("TRACE", "/api/v1/projects", 405),
    ("PUT", "/api/v1/projects", 405),
    ("GET", "/api/v1/no-such-thing", 404),
    ("POST", "/no-such-thing", 404),
]


def test_no_route_is_404_or_405_whatever_the_credential(server: Server) -> None:
    """What no route answers does not depend on the credential sent (RFC 9110 sections 15.5.5
    and 15.5.6): an unknown token was looked up and answered 401 on a probe path, where a
    valid one or none got 405. The route table is public (the OpenAPI document): the status
    tells nothing, and a credential is never checked for a request no view can serve."""
    credentials = {
        "none": [],
        "unknown token": [f"Authorization: Bearer {generate()[0]}".encode()],
        "malformed": [b"Authorization: Bearer not-a-token"],
        "valid token": [f"Authorization: Bearer {AUTH.value.split()[-1]}".encode()],
    }
    seen: dict[tuple[str, str, str], int] = {}
    for method, path, status in NO_ROUTE:
        for name, fields in credentials.items():
            request = head(f"{method} {path} HTTP/1.1".encode(), b"Host: 127.0.0.1", *fields)
            answer = raw_answer(server.port, request)
            seen[(method, path, name)] = answer[0]
            if answer[0] == status:
                assert_problem_answer(answer, status)
                assert status == 404 or "allow" in answer[1]
    assert seen == {(m, p, name): s for m, p, s in NO_ROUTE for name in credentials}


def test_a_repeated_header_with_an_unreadable_first_value_is_refused(server: Server) -> None:
    """granian leaves out the values it cannot decode, and kept the others: the app saw a
    header the client never sent. Refused (granian) or read whole as Latin-1 (gunicorn).
    (Values left out after a readable one cannot be seen: docs/operations.md.)"""
    request = head(
        b"GET /health/live HTTP/1.1", b"Host: 127.0.0.1", b"Accept: \xff", b"Accept: */*"
    )
    answer = raw_answer(server.port, request)
    if server.kind == "granian":
        assert_problem_answer(answer, 400)
    else:
        assert answer[0] == 200


@pytest.mark.parametrize(
    ("coding", "status"),
    [(b"gzip, chunked", 501), (b"identity, chunked", 501), (b"chunked, chunked", 400)],
)
def test_a_transfer_coding_besides_chunked_is_refused(
    server: Server, coding: bytes, status: int
) -> None:
    """Both servers undid the chunked framing and handed the rest on as if plain: a gzip-coded
    body was parsed as JSON (RFC 9112 section 6.1: a coding the server does not know is 501),
    and granian took ``chunked, chunked`` (which no sender may send) for one chunked."""
    name = f"coded-{server.kind}-{coding.split(b',')[0].decode()}"
    body = json.dumps({"name": name}).encode()
    request = project_post_head(b"Transfer-Encoding: " + coding)
    answer = raw_answer(server.port, request + b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body))
    assert_problem_answer(answer, status)
    assert name not in project_names(server)


@pytest.mark.parametrize("coding", [b"gzip", b"identity, deflate", b"x-made-up"])
def test_a_content_coding_is_refused_not_read_as_plain(server: Server, coding: bytes) -> None:
    """Nothing here decodes a coded body, and both servers hand one on: the app parsed the
    bytes of a body labelled gzip as if they were the JSON itself (201). RFC 9110 section
    15.5.16: 415, naming the coding it takes."""
    name = f"content-coded-{server.kind}-{coding.split(b',')[-1].strip().decode()}"
    body = json.dumps({"name": name}).encode()
    length = b"Content-Length: %d" % len(body)
    request = project_post_head(b"Content-Encoding: " + coding + b"\r\n" + length)
    answer = raw_answer(server.port, request + body)
    assert_problem_answer(answer, 415)
    assert answer[1]["accept-encoding"] == "identity"
    assert name not in project_names(server)
    plain = project_post_head(b"Content-Encoding: identity\r\n" + length)
    assert raw_answer(server.port, plain + body)[0] == 201


def test_a_raw_utf8_query_means_its_percent_encoded_form(server: Server) -> None:
    """granian passes on a target holding raw UTF-8 (RFC 3986 wants it percent-encoded), as
    text: werkzeug could not encode ``?\u0663=1`` for PEP 3333 (a text/plain 500), and the
    access line could not decode ``?caf\u00e9=1`` (a 500). Now it means what the
    percent-encoded query means. gunicorn (27) refuses such a target as a whole: 400."""
    for name in ("caf\u00e9", "\u0663", "\U0001f600"):
        target = f"GET /api/v1/tasks?{name}=1 HTTP/1.1".encode()
        answer = raw_answer(
            server.port, head(target, b"Host: 127.0.0.1", f"Authorization: {AUTH.value}".encode())
        )
        if server.kind == "gunicorn" and answer[0] == 400:
            assert_problem_answer(answer, 400)
            continue
        problem = assert_problem_answer(answer, 422)
        assert [error["field"] for error in problem["errors"]] == [name]
        encoded = requests.get(
            f"{server.base}/api/v1/tasks", params={name: "1"}, headers=AUTH.headers(), timeout=10
        )
        assert encoded.json() == problem


def test_a_method_is_case_sensitive(server: Server) -> None:
    """``get`` is not ``GET`` (RFC 9110 section 9.1): granian passed it on, and werkzeug
    upper-cases the method, so it was served as a GET; gunicorn (and nginx) refuse it."""
    answer = raw_answer(server.port, head(b"get /health/live HTTP/1.1", b"Host: 127.0.0.1"))
    assert_problem_answer(answer, 400)


def test_a_body_in_tiny_chunks_costs_granian_no_more_than_a_fair_one(server: Server) -> None:
    """granian hands each chunk to Python through a future of its own (about 20 us): 1-byte
    chunks made a 1 MiB body cost 21 CPU-s, in one request. Under granian, past 64 chunks
    they must average more than 256 bytes (server/wsgi_bridge.py); gunicorn decodes chunks
    itself, at a twelfth of that cost, and takes the body."""
    name = f"tiny-chunks-{server.kind}"
    body = json.dumps({"name": name}).encode() + b" " * 500
    status, headers, payload = post_chunked(server, body, chunk_size=1)
    if server.kind == "granian":
        assert status == 400, payload[:300]
        assert headers["content-type"] == "application/problem+json"
        assert "chunks" in json.loads(payload)["detail"]
        assert name not in project_names(server)
    else:
        assert status == 201, payload[:300]


def test_credentials_in_a_target_never_reach_the_log(server: Server) -> None:
    """The API takes credentials in the Authorization header only, but a client may put one in
    the target: the access line (gunicorn's, or the app's under granian) never shows it.

    ``GET http://user:password@host/path`` (RFC 9110 section 4.2.4: userinfo is an error) is
    refused, and gunicorn's access line had quoted the request line as sent; a token or a
    secret-named parameter in the path or query is redacted."""
    secret = f"{uuid.uuid4().hex}{'s' * 11}"  # a token's 43-character secret
    token = f"fns_abcdefgh_{secret}"
    authorization = f"Authorization: {AUTH.value}".encode()
    request_ids = []
    for target, fields, statuses in (
        (f"http://user:{secret}@127.0.0.1/health/live", [], {400}),
        (f"/api/v1/me?access_token={token}", [authorization], {422}),
        (f"/api/v1/me?q=x&API-Key={secret}", [authorization], {422}),
        (f"/api/v1/projects/{token}", [authorization], {404}),
        ("/api/v1/me?q=" + token.replace("_", "%5F"), [authorization], {422}),
    ):
        request_ids.append(f"redact-{uuid.uuid4().hex}")
        request = head(
            f"GET {target} HTTP/1.1".encode(),
            b"Host: 127.0.0.1",
            *fields,
            f"X-Request-ID: {request_ids[-1]}".encode(),
        )
        assert raw_answer(server.port, request)[0] in statuses, target
    wait_until(lambda: all(r in server.log() for r in request_ids), 10, "the access lines")
    log = server.log()
    assert secret not in log
    assert "[redacted]" in log


@pytest.mark.parametrize(
    "line",
    [
        "Authorization Bearer {token}",
        "Authorization Basic {secret}",
        "Authorization: Bearer {token}",
    ],
    ids=["no colon", "no colon, basic", "obsolete folding"],
)
def test_a_malformed_credential_header_never_reaches_the_log(server: Server, line: str) -> None:
    """A client that left out the colon of its Authorization header: gunicorn refused it (400)
    and logged the whole line, the credential with it, in its warning. Under granian the line
    is refused in Rust and never logged; under gunicorn it is now shown without its value."""
    secret = f"{uuid.uuid4().hex}{'s' * 11}"
    token = f"fns_abcdefgh_{secret}"
    header = line.format(token=token, secret=secret).encode()
    if line.startswith("Authorization:"):  # the value continued on an indented line
        header += b"\r\n\tcontinued"
    request_id = f"malformed-{uuid.uuid4().hex}"
    marker = head(
        b"GET /health/live HTTP/1.1", b"Host: 127.0.0.1", f"X-Request-ID: {request_id}".encode()
    )
    answer = raw_answer(server.port, head(b"GET /api/v1/me HTTP/1.1", b"Host: 127.0.0.1", header))
    assert answer[0] in {400, 401}  # a folded line: a server taking it leaves it to the app
    # A request logged after it: the refusal's own line, if any, is written by then.
    raw_answer(server.port, marker)
    wait_until(lambda: request_id in server.log(), 10, "the access line of the request after it")
    log = server.log()
    assert secret not in log
    if server.kind == "gunicorn" and ":" not in line:
        # Logged, naming the header, without its value.
        assert "Invalid HTTP Header: 'Authorization [redacted]'" in log


@pytest.mark.parametrize(
    "refused",
    [
        b"Content-Type: text/plain\r\nContent-Length: %d\r\n\r\n",
        b"Content-Type: application/json\r\nTransfer-Encoding: gzip, chunked\r\n\r\n%x\r\n",
    ],
    ids=["415 with a length", "501 chunked"],
)
def test_a_request_pipelined_after_a_refused_one_is_its_own(server: Server, refused: bytes) -> None:
    """The refused request's body, itself a request, is never taken for one: granian (keep-alive)
    answers the next request in order; gunicorn's sync workers close after each answer."""
    smuggled = b"GET /smuggled HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    first = (
        b"POST /api/v1/projects HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        + f"Authorization: {AUTH.value}\r\n".encode()
        + refused % len(smuggled)
        + smuggled
        + (b"\r\n0\r\n\r\n" if b"chunked" in refused else b"")
    )
    last = head(b"GET /health/live HTTP/1.1", b"Host: 127.0.0.1")
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(first + last)
        answer = b""
        while data := sock.recv(65536):
            answer += data
    statuses = re.findall(rb"HTTP/1\.1 (\d{3}) ", answer)
    expected = b"415" if b"text/plain" in refused else b"501"
    assert statuses == ([expected, b"200"] if server.kind == "granian" else [expected])

"""OIDC access tokens against a real JWKS served over HTTP from keys this test generates.

Each attack a token can carry is refused with 401: expired, wrong audience, wrong issuer,
unknown kid, ``alg: none``, HS256 "signed" with the public key, a tampered signature, ``nbf``
in the future (and ``iat`` in the future). An unknown kid refetches the JWKS at a bounded rate.
The JWKS is not fetched through a redirect to plain HTTP elsewhere.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from flask import Flask
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from support.auth import anonymous, bearer, make_principal

ISSUER = "https://id.example.test"
AUDIENCE = "flask-nix-stack"
SUBJECT = "user-4f2a"


class Jwks:
    """A JWKS endpoint (on 127.0.0.1 unless told) whose keys the test controls; counts its
    requests. ``/moved`` redirects to ``redirect_to``."""

    def __init__(self, address: str = "127.0.0.1") -> None:
        self.keys: dict[str, Any] = {}
        self.requests = 0
        self.redirect_to = ""
        jwks = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                jwks.requests += 1
                if self.path == "/moved":
                    self.send_response(302)
                    self.send_header("Location", jwks.redirect_to)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = json.dumps({"keys": [jwks.public_jwk(k) for k in jwks.keys]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer((address, 0), Handler)
        self.base = f"http://{address}:{self.server.server_address[1]}"
        self.url = f"{self.base}/jwks.json"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def add_rsa(self, kid: str) -> rsa.RSAPrivateKey:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.keys[kid] = key
        return key

    def add_ec(self, kid: str) -> ec.EllipticCurvePrivateKey:
        key = ec.generate_private_key(ec.SECP256R1())
        self.keys[kid] = key
        return key

    def public_jwk(self, kid: str) -> dict[str, Any]:
        key = self.keys[kid]
        if isinstance(key, rsa.RSAPrivateKey):
            jwk: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
            jwk["alg"] = "RS256"
        else:
            jwk = json.loads(ECAlgorithm.to_jwk(key.public_key()))
            jwk["alg"] = "ES256"
        jwk.update(kid=kid, use="sig")
        return jwk

    def public_pem(self, kid: str) -> bytes:
        pem: bytes = (
            self.keys[kid]
            .public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        return pem


@pytest.fixture(scope="module")
def jwks() -> Iterator[Jwks]:
    server = Jwks()
    server.add_rsa("rsa-1")
    server.add_ec("ec-1")
    yield server
    server.server.shutdown()
    server.server.server_close()


@pytest.fixture
def oidc_app(make_app: Callable[..., Flask], jwks: Jwks) -> Flask:
    return app_with_keys_at(make_app, jwks.url, with_principal=True)


def app_with_keys_at(
    make_app: Callable[..., Flask], jwks_url: str, with_principal: bool = False
) -> Flask:
    app = make_app(oidc_issuer=ISSUER, oidc_audience=AUDIENCE, oidc_jwks_url=jwks_url)
    if with_principal:  # the principal whose oidc_subject SUBJECT is
        principal = make_principal("oidc-user")
        principal.oidc_subject = SUBJECT
        from server.infra.database import db

        db.session.commit()
    return app


def claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    values = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": SUBJECT,
        "iat": now,
        "nbf": now,
        "exp": now + 300,
        "scope": "openid read write",
    }
    values.update(changes)
    return {k: v for k, v in values.items() if v is not None}


def sign(jwks: Jwks, kid: str = "rsa-1", alg: str = "RS256", **changes: Any) -> str:
    return jwt.encode(claims(**changes), jwks.keys[kid], algorithm=alg, headers={"kid": kid})


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def me(app: Flask, token: str):  # type: ignore[no-untyped-def]
    return anonymous(app).get("/api/v1/me", headers=bearer(token))


def test_a_valid_token_acts_as_the_subjects_principal(oidc_app: Flask, jwks: Jwks) -> None:
    for kid, alg in (("rsa-1", "RS256"), ("ec-1", "ES256")):
        answer = me(oidc_app, sign(jwks, kid, alg))
        assert answer.status_code == 200, answer.json
        assert answer.json["principal"]["name"] == "oidc-user"
        assert answer.json["authenticated_by"] == "oidc"
        assert answer.json["scopes"] == ["read", "write"]  # "openid" is not ours: dropped


def hs256_with_public_key(jwks: Jwks) -> str:
    header = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "rsa-1"}).encode())
    payload = b64(json.dumps(claims()).encode())
    signing_input = f"{header}.{payload}".encode()
    mac = hmac.new(jwks.public_pem("rsa-1"), signing_input, hashlib.sha256).digest()
    return f"{header}.{payload}.{b64(mac)}"


def alg_none() -> str:
    header = b64(json.dumps({"alg": "none", "typ": "JWT", "kid": "rsa-1"}).encode())
    return f"{header}.{b64(json.dumps(claims()).encode())}."


def tampered(jwks: Jwks) -> str:
    header, payload, signature = sign(jwks).split(".")
    forged = json.loads(base64.urlsafe_b64decode(payload + "=="))
    forged["sub"] = "someone-else"
    return f"{header}.{b64(json.dumps(forged).encode())}.{signature}"


ATTACKS: dict[str, Callable[[Jwks], str]] = {
    "expired": lambda j: sign(j, exp=int(time.time()) - 3600, iat=int(time.time()) - 7200),
    "wrong audience": lambda j: sign(j, aud="another-api"),
    "wrong issuer": lambda j: sign(j, iss="https://evil.example"),
    "unknown kid": lambda j: jwt.encode(
        claims(),
        rsa.generate_private_key(public_exponent=65537, key_size=2048),
        algorithm="RS256",
        headers={"kid": "not-published"},
    ),
    "alg none": lambda j: alg_none(),
    "HS256 with the public key": hs256_with_public_key,
    "tampered signature": tampered,
    "nbf in the future": lambda j: sign(j, nbf=int(time.time()) + 3600),
    "iat in the future": lambda j: sign(j, iat=int(time.time()) + 3600),
    "no exp": lambda j: sign(j, exp=None),
    "iat as a string": lambda j: sign(j, iat=str(int(time.time()))),
    "exp as a string": lambda j: sign(j, exp=str(int(time.time()) + 3600)),
    "nbf as true": lambda j: sign(j, nbf=True),
    "unknown subject": lambda j: sign(j, sub="nobody-here"),
    "signed by another key with a published kid": lambda j: jwt.encode(
        claims(),
        rsa.generate_private_key(public_exponent=65537, key_size=2048),
        algorithm="RS256",
        headers={"kid": "rsa-1"},
    ),
}


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_attacks_are_refused(oidc_app: Flask, jwks: Jwks, attack: str) -> None:
    answer = me(oidc_app, ATTACKS[attack](jwks))
    assert answer.status_code == 401, answer.json
    assert 'error="invalid_token"' in answer.headers["WWW-Authenticate"]
    assert answer.mimetype == "application/problem+json"


def test_small_clock_skew_is_tolerated(oidc_app: Flask, jwks: Jwks) -> None:
    now = int(time.time())
    assert me(oidc_app, sign(jwks, exp=now - 10, iat=now - 300)).status_code == 200
    assert me(oidc_app, sign(jwks, nbf=now + 10)).status_code == 200


def test_unknown_kids_refetch_the_jwks_at_a_bounded_rate(oidc_app: Flask, jwks: Jwks) -> None:
    cache = oidc_app.extensions["auth_gate"].verifier.jwks
    assert cache.min_refresh_interval == 60.0
    assert me(oidc_app, sign(jwks)).status_code == 200
    unknown = ATTACKS["unknown kid"](jwks)
    before = jwks.requests
    for _ in range(20):
        assert me(oidc_app, unknown).status_code == 401
    # The keys were fetched a moment ago: 20 unknown kids cause no refetch at all.
    assert jwks.requests == before
    # A real key rotation is picked up once the interval has passed (aged here, not slept).
    jwks.add_rsa("rsa-2")
    token = sign(jwks, "rsa-2")
    assert me(oidc_app, token).status_code == 401
    cache._fetched_at -= cache.min_refresh_interval
    assert me(oidc_app, token).status_code == 200
    assert jwks.requests == before + 1


def test_openapi_lists_the_oidc_scheme(oidc_app: Flask) -> None:
    document = anonymous(oidc_app).get("/openapi.json").json
    schemes = document["components"]["securitySchemes"]
    assert schemes["oidc"]["openIdConnectUrl"] == f"{ISSUER}/.well-known/openid-configuration"
    operation = document["paths"]["/api/v1/projects"]["post"]
    assert {"bearerAuth": ["write"]} in operation["security"]
    assert {"oidc": ["write"]} in operation["security"]


def non_loopback_address() -> str | None:
    """An address of this machine other than loopback (a UDP connect sends nothing)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: only picks the outgoing interface
        except OSError:
            return None
        address: str = probe.getsockname()[0]
    return None if address.startswith("127.") else address


def test_keys_are_not_fetched_through_a_redirect_to_plain_http_elsewhere(
    make_app: Callable[..., Flask], jwks: Jwks
) -> None:
    address = non_loopback_address()
    if address is None:
        pytest.skip("this machine has no IPv4 address but loopback to serve keys elsewhere on")
    elsewhere = Jwks(address)
    elsewhere.keys = jwks.keys
    try:
        # Followed: a redirect to where keys may come from (http to a loopback address).
        jwks.redirect_to = jwks.url
        app = app_with_keys_at(make_app, f"{jwks.base}/moved", with_principal=True)
        assert me(app, sign(jwks)).status_code == 200
        # Refused: the same keys, redirected to plain http on another address.
        jwks.redirect_to = elsewhere.url
        app = app_with_keys_at(make_app, f"{jwks.base}/moved")
        assert me(app, sign(jwks)).status_code == 401
        assert elsewhere.requests == 0
    finally:
        elsewhere.server.shutdown()
        elsewhere.server.server_close()

"""Authentication and scopes, tested as an attacker would: no, bad, revoked, expired, foreign
and under-scoped credentials; failures throttled; tokens never stored or logged in clear."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy import create_engine, select, update

from server.auth import token_cache, tokens
from server.auth.tokens import key_from_settings
from server.config.runtime import current_settings
from server.infra.database import db
from server.models import ApiToken
from server.services import principals

from support.apps import recorded_statements
from support.auth import AuthenticatedClient, anonymous, bearer, make_principal, make_token

PUBLIC = {"/health/live", "/health/ready", "/openapi.json", "/docs"}


def protected_rules(app: Flask) -> list[tuple[str, str]]:
    """(method, url) of every route but the public ones, ids filled with 1."""
    found = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or rule.endpoint.split(".")[0] in {"health", "docs"}:
            continue
        url = re.sub(r"<[^>]+>", "1", rule.rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            found.append((method, url))
    return found


def assert_401(response, error: str | None = None) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == 401, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith("Bearer ")
    if error:
        assert f'error="{error}"' in challenge
    assert response.json["type"].endswith("/unauthorized")


def test_every_operation_needs_a_credential(app: Flask) -> None:
    client = anonymous(app)
    rules = protected_rules(app)
    assert len(rules) >= 25  # the API, /me, /tokens and /admin
    for method, url in rules:
        assert_401(client.open(url, method=method, json={}))


def test_public_endpoints_answer_without_credentials(app: Flask) -> None:
    client = anonymous(app)
    for url in PUBLIC:
        assert client.get(url).status_code == 200, url


def test_closed_docs_need_a_credential(make_app: Callable[..., Flask]) -> None:
    closed = make_app(docs_public=False)
    assert_401(anonymous(closed).get("/docs"))
    assert_401(anonymous(closed).get("/openapi.json"))
    assert closed.test_client().get("/openapi.json").status_code == 200
    assert anonymous(closed).get("/health/ready").status_code == 200


@pytest.mark.parametrize(
    "header",
    [
        "Basic dXNlcjpwYXNz",
        "Bearer",
        "Bearer ",
        "Bearer a b",
        "bearer-ish fns_abcdefgh_x",
        "Token fns_abcdefgh_" + "a" * 43,
    ],
)
def test_malformed_authorization_is_401(app: Flask, header: str) -> None:
    assert_401(anonymous(app).get("/api/v1/projects", headers={"Authorization": header}))


@pytest.mark.parametrize(
    "credential",
    [
        "fns_abcdefgh_" + "a" * 43,  # well-formed, unknown prefix
        "fns_abcdefgh_" + "a" * 42,  # too short
        "not-a-token",
        "a.b.c",  # looks like a JWT, OIDC is off
        "fns_ABCDEFGH_" + "a" * 43,  # prefix outside the alphabet
    ],
)
def test_unknown_tokens_are_401(app: Flask, credential: str) -> None:
    response = anonymous(app).get("/api/v1/projects", headers=bearer(credential))
    assert_401(response, "invalid_token")


def test_a_right_prefix_with_a_wrong_secret_is_401(app: Flask) -> None:
    token = make_token(make_principal("mallory"))
    prefix = token.split("_")[1]
    forged = f"fns_{prefix}_" + "A" * 43
    assert_401(anonymous(app).get("/api/v1/projects", headers=bearer(forged)), "invalid_token")
    assert anonymous(app).get("/api/v1/projects", headers=bearer(token)).status_code == 200


def test_token_format_and_storage(app: Flask) -> None:
    owner = make_principal("store")
    token = make_token(owner)
    assert re.fullmatch(r"fns_[a-z0-9]{8}_[A-Za-z0-9_-]{43}", token)
    row = db.session.scalar(select(ApiToken).where(ApiToken.principal_id == owner.id))
    assert row is not None
    # Only the keyed hash is stored: neither the token nor its secret part appears in the row.
    stored = repr([row.prefix, row.hash, row.scopes, row.name])
    assert token not in stored
    assert token.split("_", 2)[2] not in stored
    assert row.hash == tokens.digest(key_from_settings(current_settings()), token)
    # 256 bits of randomness: 1000 tokens, all different, secrets decode to 32 bytes.
    values = {tokens.generate()[0] for _ in range(1000)}
    assert len(values) == 1000


def test_revoked_token_fails_at_once(app: Flask) -> None:
    owner = make_principal("revokee")
    token = make_token(owner)
    client = anonymous(app)
    assert client.get("/api/v1/projects", headers=bearer(token)).status_code == 200
    row = principals.token_by_prefix(token.split("_")[1])
    principals.revoke(row)
    assert_401(client.get("/api/v1/projects", headers=bearer(token)), "invalid_token")


def test_a_revocation_during_a_lookup_is_not_undone_by_caching_it(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A request reads a token from the database; before it caches the row, another process
    revokes the token and its commit drops the token cache. The request still answers (the
    token was valid when read), but must not put the token back in the cache: it did, and the
    revoked token then passed for up to token_cache.TTL seconds."""
    owner = make_principal("raced")
    token = make_token(owner)
    elsewhere = create_engine(current_settings().database_url.get_secret_value())
    looked_up = tokens.lookup

    def lookup_then_revoked_elsewhere(key: bytes, credential: str) -> ApiToken | None:
        row = looked_up(key, credential)
        assert row is not None
        with elsewhere.begin() as connection:  # another process's revocation...
            connection.execute(
                update(ApiToken).where(ApiToken.id == row.id).values(revoked_at=datetime.now(UTC))
            )
        token_cache.drop_all()  # ...and its commit's drop of the token cache
        return row

    monkeypatch.setattr(tokens, "lookup", lookup_then_revoked_elsewhere)
    client = anonymous(app)
    try:
        assert client.get("/api/v1/me", headers=bearer(token)).status_code == 200
    finally:
        monkeypatch.undo()
        elsewhere.dispose()
    assert_401(client.get("/api/v1/me", headers=bearer(token)), "invalid_token")


def test_expired_token_fails(app: Flask) -> None:
    owner = make_principal("expiree")
    token = make_token(owner, expires_in=timedelta(minutes=1))
    row = principals.token_by_prefix(token.split("_")[1])
    row.expires_at = datetime.now(UTC) - timedelta(seconds=1)
    db.session.commit()
    assert_401(anonymous(app).get("/api/v1/projects", headers=bearer(token)), "invalid_token")


def test_disabled_principal_fails(app: Flask) -> None:
    owner = make_principal("disabled")
    token = make_token(owner)
    principals.set_disabled(owner, True)
    assert_401(anonymous(app).get("/api/v1/projects", headers=bearer(token)), "invalid_token")


def test_read_scope_cannot_write(app: Flask) -> None:
    token = make_token(make_principal("reader"), "read")
    client = anonymous(app)
    assert client.get("/api/v1/projects", headers=bearer(token)).status_code == 200
    for method, url in protected_rules(app):
        if method == "GET":
            continue
        response = client.open(url, method=method, json={}, headers=bearer(token))
        assert response.status_code == 403, (method, url)
        assert response.json["type"].endswith("/insufficient-scope")
        assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]


def test_write_scope_alone_cannot_read(app: Flask) -> None:
    token = make_token(make_principal("writer"), "write")
    response = anonymous(app).get("/api/v1/projects", headers=bearer(token))
    assert response.status_code == 403
    assert response.json["required_scope"] == "read"


def test_admin_endpoints_need_an_admin_with_the_admin_scope(app: Flask) -> None:
    client = anonymous(app)
    user = make_token(make_principal("plain"))
    admin = make_principal("boss", admin=True)
    admin_without_scope = make_token(admin, "read", "write")
    admin_token = make_token(admin)
    for token in (user, admin_without_scope):
        assert client.get("/api/v1/admin/principals", headers=bearer(token)).status_code == 403
    assert client.get("/api/v1/admin/principals", headers=bearer(admin_token)).status_code == 200


def test_admin_scope_is_refused_to_non_admins(app: Flask) -> None:
    owner = make_principal("climber")
    with pytest.raises(principals.ScopeNotAllowed):
        make_token(owner, "read", "admin")


def test_an_admin_scope_for_a_non_admin_is_403_naming_the_field(app: Flask) -> None:
    """A body the document allows that the principal's rights refuse: 403 (not 422, which says
    the request broke the document's rules), with the field and a type to switch on."""
    client = anonymous(app)
    admin_token = make_token(make_principal("granter", admin=True))
    plain = make_principal("grantee")
    refused = client.post(
        f"/api/v1/admin/principals/{plain.id}/tokens",
        json={"scopes": ["read", "admin"]},
        headers=bearer(admin_token),
    )
    assert refused.status_code == 403
    assert refused.mimetype == "application/problem+json"
    assert refused.json["type"].endswith("/not-allowed")
    assert refused.json["errors"] == [
        {
            "in": "body",
            "field": "scopes",
            "message": "Scopes not allowed here: admin.",
            "type": "not_allowed",
        }
    ]
    assert (
        client.get(f"/api/v1/admin/principals/{plain.id}/tokens", headers=bearer(admin_token)).json[
            "items"
        ]
        == []
    )


def test_self_service_tokens_stay_within_own_scopes(app: Flask) -> None:
    client = anonymous(app)
    token = make_token(make_principal("selfserve"), "read", "write")
    created = client.post("/api/v1/tokens", json={"scopes": ["read"]}, headers=bearer(token))
    assert created.status_code == 201
    new = created.json["token"]
    assert client.get("/api/v1/me", headers=bearer(new)).json["scopes"] == ["read"]
    listed = client.get("/api/v1/tokens", headers=bearer(token)).json["items"]
    assert new not in str(listed)  # shown once, never again
    assert {t["prefix"] for t in listed} == {token.split("_")[1], new.split("_")[1]}
    escalate = client.post("/api/v1/tokens", json={"scopes": ["admin"]}, headers=bearer(token))
    assert escalate.status_code == 403
    # A read-only token cannot mint a write token (and cannot POST at all).
    assert (
        client.post("/api/v1/tokens", json={"scopes": ["write"]}, headers=bearer(new)).status_code
        == 403
    )
    revoke = client.delete(f"/api/v1/tokens/{created.json['id']}", headers=bearer(token))
    assert revoke.status_code == 204
    assert_401(client.get("/api/v1/me", headers=bearer(new)))


def test_me(app: Flask) -> None:
    me = anonymous(app).get("/api/v1/me", headers=bearer(make_token(make_principal("whoami"))))
    assert me.status_code == 200
    assert me.json["principal"]["name"] == "whoami"
    assert me.json["scopes"] == ["read", "write"]
    assert me.json["authenticated_by"] == "token"


def test_last_used_is_recorded_at_most_once_a_minute(app: Flask) -> None:
    owner = make_principal("user-of-tokens")
    token = make_token(owner)
    client = anonymous(app)
    client.get("/api/v1/projects", headers=bearer(token))
    row = principals.token_by_prefix(token.split("_")[1])
    db.session.refresh(row)
    first = row.last_used_at
    assert first is not None
    client.get("/api/v1/projects", headers=bearer(token))
    db.session.refresh(row)
    assert row.last_used_at == first


def test_failed_authentication_is_throttled_per_address(make_app: Callable[..., Flask]) -> None:
    limited = make_app(ratelimit_enabled=True, auth_failure_limit="3 per minute")
    client = anonymous(limited)
    good = make_token(make_principal("victim"))
    bad = "fns_abcdefgh_" + "b" * 43
    statuses = [client.get("/api/v1/me", headers=bearer(bad)).status_code for _ in range(3)]
    assert statuses == [401, 401, 401]
    refused = client.get("/api/v1/me", headers=bearer(bad))
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 0
    # Even a valid token from that address waits: guessing cannot go on at the API's speed.
    assert client.get("/api/v1/me", headers=bearer(good)).status_code == 429
    other = limited.test_client()
    other_address = other.get("/api/v1/me", environ_base={"REMOTE_ADDR": "10.9.8.7"})
    assert other_address.status_code == 200


def test_tokens_never_reach_the_logs(
    app: Flask, caplog: pytest.LogCaptureFixture, client: AuthenticatedClient
) -> None:
    token = make_token(make_principal("logged"))
    digest = principals.token_by_prefix(token.split("_")[1]).hash
    with caplog.at_level(logging.DEBUG):
        anonymous(app).get("/api/v1/projects", headers=bearer(token))
        anonymous(app).get("/api/v1/projects", headers=bearer(token[:-1] + "x"))
        anonymous(app).post("/api/v1/tokens", json={"scopes": ["read"]}, headers=bearer(token))
    text = caplog.text + repr([r.__dict__ for r in caplog.records])
    assert token not in text
    assert token.split("_", 2)[2] not in text
    assert digest.hex() not in text


def test_a_cached_lookup_needs_no_database_and_revocation_still_wins(app: Flask) -> None:
    owner = make_principal("cached")
    token = make_token(owner)
    client = anonymous(app)
    assert client.get("/api/v1/me", headers=bearer(token)).status_code == 200  # cached now
    with recorded_statements(app) as statements:
        assert client.get("/api/v1/tags", headers=bearer(token)).status_code == 200
    assert any("FROM tags" in s for s in statements), statements  # the listener sees queries
    assert not any("api_tokens" in s for s in statements), statements
    principals.revoke(principals.token_by_prefix(token.split("_")[1]))
    assert_401(client.get("/api/v1/me", headers=bearer(token)), "invalid_token")
    other = make_token(make_principal("disabled-later"))
    assert client.get("/api/v1/me", headers=bearer(other)).status_code == 200
    principals.set_disabled(principals.principal_named("disabled-later"), True)
    assert_401(client.get("/api/v1/me", headers=bearer(other)), "invalid_token")

"""APP_TRUSTED_HOSTS encoded once: the same hosts pass and fail as under werkzeug's own check."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest
from flask import Flask
from werkzeug.exceptions import SecurityError
from werkzeug.test import EnvironBuilder
from werkzeug.wsgi import get_host

from server.config import Settings
from server.middleware.trusted_hosts import TrustedHosts

from support.settings import make_settings

ENTRY_LISTS = [
    ["localhost", "127.0.0.1"],
    ["api.example.com", ".example.org"],
    [".example.org"],
    ["localhost:8000", "[::1]", "::1"],
    ["bücher.example", ".straße.example"],
    ["xn--bcher-kva.example"],
    ["Mixed.Example"],
    ["."],
]
HOSTS = [
    "localhost",
    "localhost:8000",
    "localhost:80",
    "localhost:443",
    "localhost:0",
    "localhost:99999",
    "LOCALHOST",
    "127.0.0.1",
    "127.0.0.1:54321",
    "127.0.0.2",
    "[::1]",
    "[::1]:8000",
    "[::1",
    "::1",
    "api.example.com",
    "api.example.com.",
    "example.org",
    "eu.example.org",
    "a.b.example.org:8443",
    "evilexample.org",
    "example.org.evil",
    "xn--bcher-kva.example",
    "sub.xn--strae-oqa.example",
    "xn--strae-oqa.example",
    "bücher.example",
    "mixed.example",
    "Mixed.Example",
    "foo.",
    "a b",
    "",
    "localhost.evil.example",
]


def environ(host: str, scheme: str) -> dict:  # type: ignore[type-arg]
    built = EnvironBuilder(base_url=f"{scheme}://placeholder/").get_environ()
    built["HTTP_HOST"] = host
    return built


def werkzeug_verdict(env: dict, entries: list[str]) -> bool:  # type: ignore[type-arg]
    try:
        get_host(env, entries)
    except SecurityError:
        return False
    return True


def our_verdict(env: dict, trusted: TrustedHosts) -> bool:  # type: ignore[type-arg]
    try:
        trusted.check(env)
    except SecurityError:
        return False
    return True


@pytest.mark.parametrize("entries", ENTRY_LISTS, ids=lambda entries: ",".join(entries))
def test_same_verdict_as_werkzeug(entries: list[str]) -> None:
    trusted = TrustedHosts(entries)
    passed = 0
    for host, scheme in itertools.product(HOSTS, ["http", "https"]):
        env = environ(host, scheme)
        expected = werkzeug_verdict(env, entries)
        assert our_verdict(env, trusted) == expected, (host, scheme, entries)
        passed += expected
    assert passed  # each list lets some host through, so the comparison is not all refusals


def test_no_host_header_is_judged_as_werkzeug_does() -> None:
    env = EnvironBuilder(base_url="http://placeholder/").get_environ()
    env.pop("HTTP_HOST", None)
    env["SERVER_NAME"], env["SERVER_PORT"] = "evil.example", "80"
    assert not werkzeug_verdict(env, ["localhost"])
    assert not our_verdict(env, TrustedHosts(["localhost"]))
    env["SERVER_NAME"] = "localhost"
    assert werkzeug_verdict(env, ["localhost"])
    assert our_verdict(env, TrustedHosts(["localhost"]))


def test_app_answers_idna_ipv6_and_ports(make_app: Callable[..., Flask]) -> None:
    client = make_app(trusted_hosts="bücher.example,.example.org,[::1]").test_client()
    for host, status in [
        ("xn--bcher-kva.example", 200),
        ("xn--bcher-kva.example:8080", 200),
        ("bücher.example", 400),
        ("XN--BCHER-KVA.EXAMPLE", 400),  # werkzeug compares case-sensitively
        ("eu.example.org:443", 200),
        ("example.org.evil", 400),
        ("[::1]", 400),  # werkzeug cuts the entry at its first ":", so "[::1]" never matches
        ("localhost", 400),
    ]:
        response = client.get("/health/live", headers={"Host": host})
        assert response.status_code == status, host
        if status == 400:
            assert response.mimetype == "application/problem+json"
            assert response.json["type"].endswith("/bad-host")


def test_config_keeps_werkzeug_from_checking_again(app: Flask) -> None:
    # Flask's own list would make werkzeug encode every entry on every request again.
    assert app.config["TRUSTED_HOSTS"] is None
    assert app.trusted_hosts is not None  # type: ignore[attr-defined]


@pytest.mark.parametrize("value", ["localhost,a..b", "x" * 64 + ".example"])
def test_an_entry_idna_cannot_encode_stops_startup(settings: Settings, value: str) -> None:
    # werkzeug would have raised on every request that no earlier entry matched (a 500).
    with pytest.raises(ValueError, match="IDNA"):
        make_settings(
            settings.database_url.get_secret_value(), settings.redis_url, trusted_hosts=value
        )

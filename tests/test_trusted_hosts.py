"""APP_TRUSTED_HOSTS: werkzeug checks the Host against it (Flask's TRUSTED_HOSTS); an entry it
could never match, or could not compare, stops start-up with one line."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask

from server.config import Settings

from support.auth import client_of
from support.settings import make_settings


def test_app_answers_idna_names_on_any_port(make_app: Callable[..., Flask]) -> None:
    client = client_of(make_app(trusted_hosts="bücher.example,.example.org"))
    for host, status in [
        ("xn--bcher-kva.example", 200),
        ("xn--bcher-kva.example:8080", 200),
        ("bücher.example", 400),
        ("XN--BCHER-KVA.EXAMPLE", 200),  # in any case (server/middleware/canonical_host.py)
        ("eu.example.org:443", 200),
        ("example.org.evil", 400),
        ("[::1]", 400),  # no entry can name an IPv6 literal (see below)
        ("localhost", 400),
    ]:
        response = client.get("/health/live", headers={"Host": host})
        assert response.status_code == status, host
        if status == 400:
            assert response.mimetype == "application/problem+json"
            assert response.json["type"].endswith("/bad-host")


def test_config_hands_the_list_to_werkzeug(app: Flask) -> None:
    assert app.config["TRUSTED_HOSTS"] == ["localhost", "127.0.0.1"]


@pytest.mark.parametrize("value", ["localhost,a..b", "x" * 64 + ".example"])
def test_an_entry_idna_cannot_encode_stops_startup(settings: Settings, value: str) -> None:
    # werkzeug would have raised on every request that no earlier entry matched (a 500).
    with pytest.raises(ValueError, match="IDNA"):
        make_settings(
            settings.database_url.get_secret_value(), settings.redis_url, trusted_hosts=value
        )


def test_a_json_list_is_taken_as_pydantic_settings_takes_lists(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app(trusted_hosts='["API.example.com", ".example.org"]')
    assert app.config["TRUSTED_HOSTS"] == ["api.example.com", ".example.org"]
    client = client_of(app)
    assert client.get("/health/live", headers={"Host": "api.example.com"}).status_code == 200
    assert client.get("/health/live", headers={"Host": "localhost"}).status_code == 400

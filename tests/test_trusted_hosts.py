"""APP_TRUSTED_HOSTS: werkzeug checks the Host against it (Flask's TRUSTED_HOSTS); an entry it
could not compare stops start-up."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask

from server.config import Settings

from support.settings import make_settings


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


def test_config_hands_the_list_to_werkzeug(app: Flask) -> None:
    assert app.config["TRUSTED_HOSTS"] == ["localhost", "127.0.0.1"]


@pytest.mark.parametrize("value", ["localhost,a..b", "x" * 64 + ".example"])
def test_an_entry_idna_cannot_encode_stops_startup(settings: Settings, value: str) -> None:
    # werkzeug would have raised on every request that no earlier entry matched (a 500).
    with pytest.raises(ValueError, match="IDNA"):
        make_settings(
            settings.database_url.get_secret_value(), settings.redis_url, trusted_hosts=value
        )

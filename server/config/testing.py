"""Testing profile: the test suite sets the URLs of its own throwaway servers."""

from __future__ import annotations

from typing import Literal

from pydantic import SecretStr

from server.config.base import Settings


class TestingSettings(Settings):
    env: Literal["testing"] = "testing"
    secret_key: SecretStr = SecretStr("testing-only-insecure-secret-key")
    database_url: SecretStr = SecretStr("postgresql+psycopg2://app@127.0.0.1:54320/app_test")
    # Tests that exercise limits set their own; the rest must not trip over a shared budget.
    ratelimit_enabled: bool = False

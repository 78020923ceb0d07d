"""The tests' settings profile, and settings for apps built inside the tests.

The server knows only its development and production profiles; this one is test code. Built
directly (not through APP_ENV), it reads no .env file and no secrets directory.
"""

from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import SecretStr

from server.config import Settings


class TestingSettings(Settings):
    __test__ = False  # not a test class, whatever pytest's name patterns say

    env: Literal["testing"] = "testing"  # type: ignore[assignment]
    secret_key: SecretStr = SecretStr("testing-only-insecure-secret-key")
    database_url: SecretStr = SecretStr("postgresql+psycopg2://app@127.0.0.1:54320/app_test")
    # Tests that exercise limits set their own; the rest must not trip over a shared budget.
    ratelimit_enabled: bool = False


def make_settings(database_url: str, redis_url: str | SecretStr, **overrides: Any) -> Settings:
    """Testing-profile settings for these servers, with a Redis key prefix of their own."""
    values: dict[str, Any] = {
        "database_url": database_url,
        "redis_url": redis_url,
        "key_prefix": f"test-{uuid.uuid4().hex[:8]}",
        **overrides,
    }
    return TestingSettings(_env_file=None, _secrets_dir=None, **values)  # type: ignore[call-arg]

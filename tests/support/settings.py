"""Settings for apps built inside the tests (a module, not conftest: several conftest.py exist)."""

from __future__ import annotations

import uuid
from typing import Any

from server.config import Settings, load_settings


def make_settings(database_url: str, redis_url: str, **overrides: Any) -> Settings:
    """Testing-profile settings for these servers, ignoring the caller's environment."""
    values: dict[str, Any] = {
        "env": "testing",
        "database_url": database_url,
        "redis_url": redis_url,
        "key_prefix": f"test-{uuid.uuid4().hex[:8]}",
        **overrides,
    }
    return load_settings(environ={"APP_ENV_FILE": "/nonexistent"}, **values)

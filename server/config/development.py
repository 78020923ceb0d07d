"""Development profile: works out of the box against the local process-compose stack."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr

from server.config.base import Settings


class DevelopmentSettings(Settings):
    # Narrower than the base's Profile on purpose: each profile's class holds only its own name.
    env: Literal["development"] = "development"  # pyright: ignore[reportIncompatibleVariableOverride]
    secret_key: SecretStr = SecretStr("dev-only-insecure-secret-key-change-me")
    database_url: SecretStr = SecretStr("postgresql+psycopg2://app@127.0.0.1:54320/app")
    log_format: Literal["json", "text"] = Field("text")

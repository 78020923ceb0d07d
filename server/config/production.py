"""Production profile: no usable default for anything secret, and insecure settings are refused."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, model_validator

from server.config.base import Settings

# Secrets shipped in this repository's profiles and examples: never accepted in production.
KNOWN_INSECURE_KEYS = frozenset(
    {
        "dev-only-insecure-secret-key-change-me",
        "testing-only-insecure-secret-key",
        "change-me",
        "changeme",
        "secret",
    }
)
MIN_SECRET_KEY_LENGTH = 32


class ProductionSettings(Settings):
    env: Literal["production"] = "production"
    log_format: Literal["json", "text"] = Field("json")
    hsts: bool = True

    @model_validator(mode="after")
    def _refuse_insecure(self) -> Self:
        key = self.secret_key.get_secret_value()
        if key in KNOWN_INSECURE_KEYS or key.startswith("dev-") or "change-me" in key:
            raise ValueError(
                "APP_SECRET_KEY: a known example value; set a random one "
                '(python3 -c "import secrets; print(secrets.token_urlsafe(48))")'
            )
        if len(key) < MIN_SECRET_KEY_LENGTH:
            raise ValueError(
                f"APP_SECRET_KEY: {len(key)} characters; production needs "
                f"{MIN_SECRET_KEY_LENGTH} or more random characters"
            )
        if self.debug:
            raise ValueError("APP_DEBUG: debug mode is refused in production; unset it")
        if "*" in self.cors_origins and self.cors_allow_credentials:
            raise ValueError(
                "APP_CORS_ORIGINS: '*' with APP_CORS_ALLOW_CREDENTIALS=true lets any site act "
                "as the user; list the origins"
            )
        return self

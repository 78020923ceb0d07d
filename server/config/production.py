"""Production profile: no usable default for anything secret, and insecure settings are refused."""

from __future__ import annotations

import math
import re
from collections import Counter
from typing import Literal, Self

from pydantic import Field, model_validator

from server.config.base import Settings
from server.config.origins import allowed_origins

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
# Below this a key can be guessed or is a pattern (32 x "a", 32 spaces, "abab..."): refused.
MIN_SECRET_BITS = 128


class ProductionSettings(Settings):
    # Narrower than the base's Profile on purpose (see DevelopmentSettings).
    env: Literal["production"] = "production"  # pyright: ignore[reportIncompatibleVariableOverride]
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
        for name, secret in (("APP_SECRET_KEY", key), ("APP_TOKEN_HASH_KEY", self._hash_key())):
            if secret is not None and entropy_bits(secret) < MIN_SECRET_BITS:
                raise ValueError(
                    f"{name}: too predictable (about {max(0.0, entropy_bits(secret)):.0f} bits; "
                    f"{MIN_SECRET_BITS} needed); set a random one "
                    '(python3 -c "import secrets; print(secrets.token_urlsafe(48))")'
                )
        if self.debug:
            raise ValueError("APP_DEBUG: debug mode is refused in production; unset it")
        if self.cors_allow_credentials and self._admits_any_origin():
            raise ValueError(
                "APP_CORS_ORIGINS: admits any site (a wildcard or a catch-all pattern) with "
                "APP_CORS_ALLOW_CREDENTIALS=true, which lets any site act as the user; list "
                "the origins"
            )
        return self

    def _hash_key(self) -> str | None:
        return self.token_hash_key.get_secret_value() if self.token_hash_key else None

    def _admits_any_origin(self) -> bool:
        probes = ("https://attacker.invalid", "http://evil.example:8080", "null")
        for origin in allowed_origins(self):
            if origin == "*":
                return True
            if isinstance(origin, re.Pattern) and any(origin.match(p) for p in probes):
                return True
        return False


def entropy_bits(secret: str) -> float:
    """Shannon entropy of the characters, times the length: a rough upper bound on the
    unpredictability of a string. 32 x "a" has 0 bits; token_urlsafe(48) has about 350."""
    counts = Counter(secret)
    per_char = -sum(n / len(secret) * math.log2(n / len(secret)) for n in counts.values())
    return per_char * len(secret)

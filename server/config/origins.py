"""CORS origins as Flask-Cors must receive them: exact strings exact, patterns anchored."""

from __future__ import annotations

import re

from server.config.base import Settings


def allowed_origins(settings: Settings) -> list[str | re.Pattern[str]]:
    """Exact origins as exact strings, patterns anchored at both ends.

    Flask-Cors treats any origin string with a regex character in it as an unanchored-at-the-
    end pattern: ``https://app\\.example\\.com`` would admit
    ``https://app.example.com.attacker.net``. So exact origins are escaped and anchored, and
    patterns (APP_CORS_ORIGIN_PATTERNS) are anchored too.
    """
    allowed: list[str | re.Pattern[str]] = []
    for origin in settings.cors_origins:
        if origin == "*" and not settings.cors_origin_patterns:
            allowed.append("*")
        elif settings.cors_origin_patterns:
            allowed.append(re.compile(f"^(?:{origin})$"))
        else:
            allowed.append(re.compile(f"^{re.escape(origin)}$"))
    return allowed

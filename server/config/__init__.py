"""Load the settings of the active profile, and turn any mistake into one line that names it."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from dotenv import dotenv_values
from pydantic import ValidationError

from server.config.base import ENV_PREFIX, Settings
from server.config.development import DevelopmentSettings
from server.config.production import ProductionSettings
from server.config.quoting import one_line, quoted

__all__ = [
    "PROFILES",
    "Settings",
    "SettingsError",
    "load_settings",
    "secrets_dir",
    "settings_or_exit",
]

PROFILES: dict[str, type[Settings]] = {
    "development": DevelopmentSettings,
    "production": ProductionSettings,
}
# Read before Settings exists, so they are not fields: where secrets live, and the dotenv file.
BOOTSTRAP_VARS = frozenset({f"{ENV_PREFIX}SECRETS_DIR", f"{ENV_PREFIX}ENV_FILE"})


class SettingsError(Exception):
    """A missing or invalid setting; ``str()`` is one line naming it."""

    def __init__(self, message: str) -> None:
        super().__init__(one_line(message))


def secrets_dir(environ: Mapping[str, str]) -> Path | None:
    """APP_SECRETS_DIR, else systemd's $CREDENTIALS_DIRECTORY, else /run/secrets if present."""
    for candidate in (
        environ.get(f"{ENV_PREFIX}SECRETS_DIR"),
        environ.get("CREDENTIALS_DIRECTORY"),
        "/run/secrets",
    ):
        # os.path, not Path: it answers False for a name the system refuses (too long).
        if candidate and os.path.isdir(candidate):
            return Path(candidate)
    if explicit := environ.get(f"{ENV_PREFIX}SECRETS_DIR"):
        raise SettingsError(f"{ENV_PREFIX}SECRETS_DIR: {quoted(explicit)} is not a directory")
    return None


def load_settings(environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Settings of the profile named by APP_ENV (environment, then .env), validated.

    ``environ`` (default os.environ) decides the profile, the secrets dir, the dotenv file and
    the misspelling check; pydantic-settings reads the values themselves from os.environ, the
    dotenv file and the secrets dir. ``overrides`` win over every source.
    """
    environ = os.environ if environ is None else environ
    env_file = environ.get(f"{ENV_PREFIX}ENV_FILE", ".env")
    dotenv = {k: v for k, v in dotenv_values(env_file).items() if v is not None}
    _refuse_unknown_names({**dotenv, **environ})
    profile = str(overrides.get("env") or environ.get(f"{ENV_PREFIX}ENV") or "")
    profile = profile or dotenv.get(f"{ENV_PREFIX}ENV", "development")
    if profile not in PROFILES:
        raise SettingsError(
            f"{ENV_PREFIX}ENV: {quoted(profile)} is not one of {', '.join(PROFILES)}"
        )
    cls = PROFILES[profile]
    secrets = secrets_dir(environ)
    try:
        return cls(_env_file=env_file, _secrets_dir=secrets, **overrides)  # type: ignore[call-arg]
    except ValidationError as exc:
        raise SettingsError(_one_line(exc)) from None


@contextmanager
def settings_or_exit() -> Iterator[None]:
    """A SettingsError inside ends the process: exit 2 with one line naming the bad setting."""
    try:
        yield
    except SettingsError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def _refuse_unknown_names(variables: Mapping[str, str]) -> None:
    """A misspelt APP_ variable would silently leave the default in force: refuse it."""
    known = {f"{ENV_PREFIX}{name.upper()}" for name in Settings.model_fields} | BOOTSTRAP_VARS
    for name in sorted(variables):
        if name.upper().startswith(ENV_PREFIX) and name.upper() not in known:
            raise SettingsError(f"{name}: not a setting of this app (misspelt?)")


def _one_line(exc: ValidationError) -> str:
    error = exc.errors()[0]
    location = error["loc"]
    message = error["msg"].removeprefix("Value error, ")
    if location:
        name = f"{ENV_PREFIX}{str(location[0]).upper()}"
        if error["type"] == "missing":
            return f"{name}: required in this profile but not set"
        return f"{name}: {message}"
    # Model-level checks already start with the variable's name.
    return message

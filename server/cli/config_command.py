"""``config check``: show the effective settings, secrets masked; exit 1 if any is invalid."""

from __future__ import annotations

import json
import sys
from urllib.parse import urlsplit, urlunsplit

import click
from pydantic import SecretStr

from server.config import Settings, SettingsError, load_settings
from server.startup import collector_paused


@click.group("config")
def config_group() -> None:
    """Inspect the configuration."""


@config_group.command("check", context_settings={"ignore_unknown_options": False})
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of NAME=value lines.")
def check(as_json: bool) -> None:
    """Validate the settings and print them with secrets masked."""
    try:
        # Checking imports what the settings are checked with (SQLAlchemy's URL parser,
        # limits): start-up, for the collector (server/startup.py).
        with collector_paused():
            settings = load_settings()
    except SettingsError as exc:
        click.echo(f"configuration error: {exc}", err=True)
        sys.exit(1)
    shown = masked(settings)
    if as_json:
        click.echo(json.dumps(shown, indent=2, sort_keys=True))
    else:
        for name, value in sorted(shown.items()):
            click.echo(f"{name}={value}")
    click.echo(f"ok: profile {settings.env}", err=True)


# Secret settings that are URLs: shown with only the password masked.
URL_SETTINGS = frozenset({"database_url", "redis_url"})


def masked(settings: Settings) -> dict[str, object]:
    """Every setting by its environment name; secret values and URL passwords as '***'."""
    shown: dict[str, object] = {}
    for field in type(settings).model_fields:
        value = getattr(settings, field)
        if field in URL_SETTINGS and value is not None:
            value = mask_url_password(value.get_secret_value())
        elif isinstance(value, SecretStr):
            value = "***"
        shown[settings.env_name(field)] = value
    return shown


def mask_url_password(url: str) -> str:
    """The URL with its password (if any) as '***': the rest helps to spot a wrong host."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))

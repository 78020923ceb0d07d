"""The URL settings, checked as their consumers will read them, so that a URL which would only
fail at the first connection (or be silently misread) stops start-up instead.

Every message names the part that is wrong and never repeats the URL: it may hold a password.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import parse_qs, unquote, urlsplit

from server.config.quoting import quoted

# URL schemes taken for PostgreSQL through psycopg2, the driver this app ships with.
POSTGRES_SCHEMES = ("postgres", "postgresql", "postgresql+psycopg2")
# libpq's sslmode values; libpq itself would only refuse another at connect time.
SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")


def postgres_url(value: str) -> str:
    """The URL with psycopg2 named as its driver (postgres:// and postgresql://, what hosting
    providers hand out, mean another driver to SQLAlchemy, which is not installed)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        url = make_url(value)
        port = url.port
    except (ArgumentError, ValueError):
        raise ValueError(
            "not a database URL (postgresql://user:password@host:port/database)"
        ) from None
    if url.drivername not in POSTGRES_SCHEMES:
        raise ValueError(
            "must be a postgresql:// (or postgres://, postgresql+psycopg2://) URL, "
            f"not {url.drivername}://"
        )
    if not url.database:
        raise ValueError("names no database (postgresql://user@host:port/DATABASE)")
    if port is not None and not 0 < port < 65536:
        raise ValueError("its port is not a number from 1 to 65535")
    _libpq_options(dict(url.query))
    return url.set(drivername="postgresql+psycopg2").render_as_string(hide_password=False)


def _libpq_options(query: dict[str, str | tuple[str, ...]]) -> None:
    """SQLAlchemy hands the query to psycopg2 as libpq connection options: refuse a name libpq
    does not know, and an sslmode it would refuse, now rather than at the first connect."""
    import psycopg2
    from psycopg2.extensions import make_dsn, parse_dsn

    for name, value in query.items():
        text = ",".join(value) if isinstance(value, tuple) else value  # host=a&host=b
        try:
            parse_dsn(make_dsn(**{name: text}))
        except psycopg2.ProgrammingError:
            raise ValueError(f"{quoted(name)} is not a PostgreSQL connection option") from None
        if name == "sslmode" and text not in SSL_MODES:
            raise ValueError(f"sslmode must be one of {', '.join(SSL_MODES)}")


def check_redis_url(value: str) -> None:
    """What redis-py would raise on at the first connection, or silently misread."""
    if not value.startswith(("redis://", "rediss://", "unix://")):
        raise ValueError("must start with redis://, rediss:// or unix://")
    parts = urlsplit(value)
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0:
        raise ValueError("its port is not a number from 1 to 65535")
    database = parse_qs(parts.query).get("db", [None])[0]
    if parts.scheme != "unix" and database is None:
        # redis-py reads the path as the database number and ignores one it cannot read.
        database = unquote(parts.path).strip("/") or None
    if database is not None and not database.isdigit():
        raise ValueError("its database is not a number (redis://host:port/0)")


def check_sentry_dsn(value: str) -> None:
    """A DSN sentry-sdk would raise on when the app starts; without sentry-sdk installed the
    app warns and runs without it, so there is nothing to check against."""
    try:
        from sentry_sdk.utils import BadDsn, Dsn
    except ImportError:
        return
    try:
        Dsn(value)
    except BadDsn:
        raise ValueError("not a Sentry DSN (https://PUBLIC_KEY@HOST/PROJECT_ID)") from None


def check_key_url(value: str) -> None:
    """Where signing keys may be fetched from: https, or plain http to a loopback address (a
    provider on the same host). Keys fetched over plain HTTP from elsewhere could be swapped on
    the way, and with them the signature check of every token."""
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError("must be an https:// URL")
    try:
        parts.port  # noqa: B018 - raises for a port that is not a number in range
    except ValueError:
        raise ValueError("its port is not a number from 1 to 65535") from None
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise ValueError("must be an https:// URL (http:// only to a loopback address)")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False

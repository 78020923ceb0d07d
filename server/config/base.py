"""The one typed Settings class: every setting's name, type, default and meaning."""

from __future__ import annotations

import json
import os
import re
import types
from typing import Annotated, Literal, Self, get_args

from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from server.config.quoting import quoted
from server.config.urls import check_key_url, check_redis_url, check_sentry_dsn, postgres_url

ENV_PREFIX = "APP_"
# An origin as browsers send it: scheme, host, optional port; nothing else.
EXACT_ORIGIN = re.compile(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?")
# What werkzeug compares a Host header's name with (werkzeug.sansio.utils._host_re, IPv6 aside):
# a trusted-host entry with any other character, once IDNA-encoded, can never match one.
HOST_NAME = re.compile(r"[a-z0-9.-]+")
Profile = Literal["development", "production"]
# Upper bounds of numeric settings: far above any sane value, far below what their consumers
# take (PostgreSQL's statement_timeout is an int4 of milliseconds, Python's timers overflow
# near 2**63 ns, granian's and gunicorn's counters), so a typo stops start-up instead.
HOUR, DAY, GIB = 3600, 86400, 1024**3
MAX_COUNT = 2**31 - 1
# Each connection is a file descriptor: systemd's default hard limit for one is 524288.
MAX_CONNECTIONS = 65536


class Settings(BaseSettings):
    """Settings shared by every profile; profiles subclass it to change defaults and checks.

    Each field is read from ``APP_<NAME>`` in the environment, then a ``.env`` file in the working
    directory, then a file named ``APP_<NAME>`` in the secrets directory.
    """

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        allow_inf_nan=False,
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        validate_default=True,
    )

    env: Profile = Field("development", description="Profile: development or production.")
    secret_key: SecretStr = Field(
        description="Key that signs anything the app signs. Production needs 32+ random characters."
    )
    debug: bool = Field(False, description="Flask debug mode. Refused in production.")

    database_url: SecretStr = Field(
        description=(
            "URL of the PostgreSQL database: postgresql://, postgres:// or "
            "postgresql+psycopg2://user:password@host:port/database. A UTF8 database: "
            "`db upgrade` refuses another encoding."
        )
    )
    db_pool_size: int = Field(5, ge=1, le=100, description="Connections kept open per process.")
    db_max_overflow: int = Field(5, ge=0, le=100, description="Extra connections under load.")
    db_pool_timeout: float = Field(
        5.0, gt=0, le=HOUR, description="Seconds to wait for a free connection."
    )
    db_pool_recycle: int = Field(
        1800, ge=-1, le=DAY, description="Seconds before a connection is renewed (-1 = never)."
    )
    db_pool_pre_ping: bool = Field(
        True,
        description="Check each pooled connection before use: pinged if idle over 10 s or if "
        "the server sent something (a close).",
    )
    db_connect_timeout: int = Field(
        5, ge=1, le=HOUR, description="Seconds to wait when connecting."
    )
    db_statement_timeout_ms: int = Field(
        5000,
        ge=0,
        le=DAY * 1000,
        description="statement_timeout set at connect; 0 sets none (the role's applies: PgBouncer)",
    )

    db_ca_file: str | None = Field(
        None,
        description="CA certificate for TLS to PostgreSQL: sslmode=verify-full against it.",
    )

    redis_url: SecretStr = Field(
        SecretStr("redis://127.0.0.1:63790/0"),
        description="Redis URL: redis://host:port/db, rediss://... or unix:///path.sock?db=0.",
    )
    redis_socket_timeout: float = Field(
        0.5, gt=0, le=HOUR, description="Seconds a Redis call may take before it counts as down."
    )
    redis_ca_file: str | None = Field(
        None,
        description="CA certificate for TLS to Redis (a rediss:// URL), checked with it; on"
        " Python 3.13 and later (the Nix package's) strictly, as RFC 5280 asks: a CA"
        " certificate without keyUsage is refused.",
    )
    cache_enabled: bool = Field(True, description="Cache API reads in Redis.")
    cache_ttl: int = Field(30, ge=1, le=DAY, description="Seconds a cached read lives at most.")
    cache_max_entry_bytes: int = Field(
        256 * 1024, ge=1024, le=GIB // 2, description="Largest answer the cache stores, in bytes."
    )
    cache_max_bytes: int = Field(
        64 * 1024 * 1024,
        ge=64 * 1024,
        le=1024 * GIB,
        description="Bytes of answers the cache holds at most (then it stores no new answer "
        "until its TTL, or a write it cannot attribute, empties it).",
    )
    key_prefix: str = Field(
        "fns", min_length=1, description="Prefix of every Redis key this app writes."
    )

    ratelimit_enabled: bool = Field(True, description="Apply rate limits.")
    ratelimit_default: str = Field(
        "300 per minute",
        description="One budget per client (principal, else address) across every route "
        "(limits syntax).",
    )
    ratelimit_fail_open: bool = Field(
        True, description="When Redis is down: allow requests (true) or answer 503 (false)."
    )

    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description=(
            "Origins allowed by CORS, comma-separated or a JSON list. "
            "Empty = no cross-origin access."
        ),
    )
    trusted_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["localhost", "127.0.0.1"],
        description=(
            "Host names the server answers for, comma-separated or a JSON list; '.example.com' "
            "also matches its subdomains, '*' any host; any port. Other Host headers get 400 "
            "(DNS rebinding). An entry no Host could match (a port, a URL, an IPv6 literal) "
            "stops start-up."
        ),
    )
    cors_allow_credentials: bool = Field(False, description="Let browsers send credentials.")
    cors_origin_patterns: bool = Field(
        False,
        description="Treat APP_CORS_ORIGINS as regular expressions, each matched against the "
        "whole origin (default: exact origins).",
    )
    max_content_length: int = Field(
        1024 * 1024, ge=1024, le=GIB, description="Largest request body accepted, in bytes."
    )
    # 512: bodies of the default 1 MiB a worker reads at once before one waits; a flood of
    # large bodies then costs each worker at most this much memory, whatever comes in.
    body_memory: int = Field(
        512 * 1024 * 1024,
        ge=1024,
        le=64 * GIB,
        description="granian: bytes of request bodies each worker holds at once, each up to "
        "APP_MAX_CONTENT_LENGTH + 1; past them a request with a body waits for one to finish "
        "(503 after APP_TIMEOUT). Size it to the memory a worker may use.",
    )
    require_if_match: bool = Field(
        False, description="Require If-Match on PUT, PATCH and DELETE (428 without it)."
    )
    hsts: bool = Field(False, description="Send Strict-Transport-Security (only behind HTTPS).")
    docs_public: bool = Field(
        True,
        description="Serve /docs and /openapi.json without credentials (false: a token is needed).",
    )

    token_hash_key: SecretStr | None = Field(
        None,
        description="Key of the API tokens' keyed hash (default: derived from APP_SECRET_KEY; "
        "set it so a secret key rotation keeps tokens valid).",
    )
    auth_failure_limit: str = Field(
        "20 per minute",
        description="Failed authentications allowed per client address (then 429).",
    )
    bootstrap_admin_token: SecretStr | None = Field(
        None,
        description="A token (fns_...) that `db upgrade` makes an admin token of principal "
        "'admin' if it does not exist yet; best given as a credential file.",
    )
    oidc_issuer: str | None = Field(
        None, description="OIDC issuer (the iss claim) whose JWT access tokens are accepted."
    )
    oidc_audience: str | None = Field(None, description="Audience (aud) those tokens must name.")
    oidc_jwks_url: str | None = Field(
        None,
        description="URL of the issuer's JWKS (signing keys): https://, or http:// to a "
        "loopback address.",
    )
    oidc_algorithms: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["RS256", "ES256"],
        description="JWT algorithms accepted, comma-separated or a JSON list (asymmetric only).",
    )
    oidc_leeway: int = Field(
        30, ge=0, le=300, description="Seconds of clock skew allowed for exp, nbf and iat."
    )
    oidc_scope_claim: str = Field(
        "scope", min_length=1, description="Claim holding the token's space-separated scopes."
    )

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="Lowest level logged."
    )
    log_format: Literal["json", "text"] = Field(
        "text", description="json: one JSON object a line; text: readable lines."
    )

    proxy_fix_x_for: int = Field(0, ge=0, le=5, description="Proxies trusted for X-Forwarded-For.")
    proxy_fix_x_proto: int = Field(
        0, ge=0, le=5, description="Proxies trusted for -Proto (in any case: HTTPS is https)."
    )
    proxy_fix_x_host: int = Field(0, ge=0, le=5, description="Proxies trusted for -Host.")
    proxy_fix_x_prefix: int = Field(0, ge=0, le=5, description="Proxies trusted for -Prefix.")

    metrics_enabled: bool = Field(
        False, description="Serve Prometheus metrics on APP_METRICS_BIND (never on APP_BIND)."
    )
    metrics_bind: str = Field(
        "127.0.0.1:9464",
        description="host:port of the metrics listener, apart from the API's.",
    )

    tracing_enabled: bool = Field(
        False, description="OpenTelemetry traces, set up by the OTEL_* variables (tracing extra)."
    )

    sentry_dsn: SecretStr | None = Field(None, description="Sentry DSN; Sentry is off without it.")
    sentry_traces_sample_rate: float = Field(
        0.0, ge=0, le=1, description="Share of requests traced by Sentry."
    )

    server: Literal["granian", "gunicorn"] = Field(
        "granian", description="HTTP server `flask-nix-stack serve` runs (server/serve.py)."
    )
    access_log: bool = Field(
        False, description="The app logs each request (set by `serve` for granian)."
    )
    bind: str = Field(
        "127.0.0.1:8000", description="Server bind: host:port, [v6]:port or unix:/path/to.sock."
    )
    worker_class: Literal["sync", "gthread"] = Field("sync", description="gunicorn worker class.")
    workers: int = Field(2, ge=1, le=64, description="Server worker processes.")
    # 4: a granian worker's threads mostly wait on Redis and PostgreSQL; bench/hot_path.py
    # measured +30% on the cached read with 4 rather than 1 (one worker, same run).
    threads: int = Field(
        4, ge=1, le=64, description="Python threads per worker (granian; gunicorn gthread only)."
    )
    worker_connections: int = Field(
        4096,
        ge=1,
        le=MAX_CONNECTIONS,
        description="Connections each worker holds at once (granian; gunicorn gthread only): "
        "idle, sending a request or being answered; more wait in the listen queue. "
        "An idle one costs granian a few KB.",
    )
    timeout: int = Field(
        30,
        ge=1,
        le=DAY,
        description="gunicorn: seconds before a silent worker is restarted; "
        "granian: seconds a client may take to send its headers (at most 60), then its body "
        "(408 after that).",
    )
    graceful_timeout: int = Field(
        30, ge=1, le=DAY, description="Seconds in-flight requests get on stop."
    )
    keepalive: int = Field(
        2,
        ge=0,
        le=HOUR,
        description="gunicorn: seconds a keep-alive connection may idle; granian: 0 turns "
        "keep-alive off, and an idle connection is closed after min(APP_TIMEOUT, 60) seconds, "
        "as a slow head is (measured).",
    )
    max_requests: int = Field(
        5000, ge=0, le=MAX_COUNT, description="gunicorn: requests before a worker is renewed."
    )
    max_requests_jitter: int = Field(
        500, ge=0, le=MAX_COUNT, description="Random spread of max_requests."
    )
    workers_lifetime: int = Field(
        0,
        ge=0,
        le=365 * DAY,
        description="granian: seconds before a worker is renewed (0 = never, else >= 60).",
    )

    @field_validator("bind")
    @classmethod
    def _bind_form(cls, value: str) -> str:
        if value.startswith("unix:/"):
            return value
        host, _, port = value.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError("must be host:port, [v6]:port or unix:/absolute/path")
        return value

    @field_validator("workers_lifetime")
    @classmethod
    def _granian_lifetime(cls, value: int) -> int:
        if 0 < value < 60:
            raise ValueError("must be 0 (never) or at least 60 seconds (granian's minimum)")
        return value

    @field_validator("*", mode="before")
    @classmethod
    def _empty_means_unset(cls, value: object, info: ValidationInfo) -> object:
        """`APP_X=` (empty, as .env.example lists the optional ones) is the same as no APP_X:
        an empty OIDC URL or hash key must not count as one that is set."""
        if value == "" and info.field_name is not None:
            annotation = cls.model_fields[info.field_name].annotation
            if isinstance(annotation, types.UnionType) and type(None) in get_args(annotation):
                return None
        return value

    @field_validator("cors_origins", "oidc_algorithms", "trusted_hosts", mode="before")
    @classmethod
    def _split_list(cls, value: object) -> object:
        """Comma-separated, or a JSON list of strings (pydantic-settings' own list syntax)."""
        if not isinstance(value, str):
            return value
        if value.lstrip().startswith("["):
            try:
                items = json.loads(value)
            except ValueError:
                items = None
            if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
                raise ValueError(
                    "starts with '[' but is not a JSON list of strings; "
                    "or give the values separated by commas"
                )
            return [item.strip() for item in items if item.strip()]
        return [part.strip() for part in value.split(",") if part.strip()]

    @field_validator("database_url")
    @classmethod
    def _postgres_with_psycopg2(cls, value: SecretStr) -> SecretStr:
        return SecretStr(postgres_url(value.get_secret_value()))

    @field_validator("trusted_hosts")
    @classmethod
    def _some_host(cls, value: list[str]) -> list[str]:
        value = [host.lower() for host in value]
        if not value:
            raise ValueError("name at least one host, or '*' for any")
        if "*" in value and len(value) > 1:
            raise ValueError("'*' allows any host: give it alone")
        for host in value:
            if host != "*":
                _matchable_host(host)
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: SecretStr) -> SecretStr:
        check_redis_url(value.get_secret_value())
        return value

    @field_validator("oidc_jwks_url")
    @classmethod
    def _key_url(cls, value: str | None) -> str | None:
        if value:
            check_key_url(value)
        return value

    @field_validator("sentry_dsn")
    @classmethod
    def _sentry_dsn(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        check_sentry_dsn(value.get_secret_value())
        return value

    @field_validator("db_ca_file", "redis_ca_file")
    @classmethod
    def _readable_file(cls, value: str | None) -> str | None:
        if value is None:
            return None
        # Read at every connection: missing, each connection would fail instead of start-up.
        # os.path, not Path: it answers False for a name the system refuses (too long).
        if not (os.path.isfile(value) and os.access(value, os.R_OK)):
            raise ValueError(f"{quoted(value)} is not a readable file")
        return value

    @field_validator("metrics_bind")
    @classmethod
    def _host_port(cls, value: str) -> str:
        host, _, port = value.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError("must be host:port, e.g. 127.0.0.1:9464 or 0.0.0.0:9464")
        return value

    @field_validator("oidc_algorithms")
    @classmethod
    def _asymmetric_only(cls, value: list[str]) -> list[str]:
        allowed = {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"}
        if not value or set(value) - allowed:
            raise ValueError(f"each must be one of {', '.join(sorted(allowed))}")
        return value

    @field_validator("ratelimit_default", "auth_failure_limit")
    @classmethod
    def _parseable_limit(cls, value: str) -> str:
        from limits import parse_many

        try:
            items = parse_many(value)
        except ValueError:
            raise ValueError(
                f"not a rate limit (e.g. '300/minute' or '10/second;1000/hour'): {quoted(value)}"
            ) from None
        if any(item.amount < 1 for item in items):
            # 0 would refuse every request; APP_RATELIMIT_ENABLED=false turns limits off.
            raise ValueError("a limit of 0 allows nothing: give at least 1 per window")
        return value

    @model_validator(mode="after")
    def _origins_well_formed(self) -> Self:
        for origin in self.cors_origins:
            if self.cors_origin_patterns:
                try:
                    re.compile(origin)
                except re.error as exc:
                    raise ValueError(
                        f"APP_CORS_ORIGINS: {quoted(origin)} is not a pattern: {exc}"
                    ) from None
            elif origin != "*" and not EXACT_ORIGIN.fullmatch(origin):
                raise ValueError(
                    f"APP_CORS_ORIGINS: {quoted(origin)} is not an origin (scheme://host[:port]); "
                    "for patterns set APP_CORS_ORIGIN_PATTERNS=true"
                )
        return self

    @model_validator(mode="after")
    def _oidc_complete(self) -> Self:
        given = [self.oidc_issuer, self.oidc_audience, self.oidc_jwks_url]
        if any(given) and not all(given):
            raise ValueError(
                "APP_OIDC_ISSUER: OIDC needs APP_OIDC_ISSUER, APP_OIDC_AUDIENCE and "
                "APP_OIDC_JWKS_URL together"
            )
        return self

    @property
    def oidc_enabled(self) -> bool:
        return self.oidc_jwks_url is not None

    @model_validator(mode="after")
    def _room_for_a_body(self) -> Self:
        if self.body_memory <= self.max_content_length:
            raise ValueError(
                f"APP_BODY_MEMORY: {self.body_memory} bytes cannot hold one body of "
                f"APP_MAX_CONTENT_LENGTH ({self.max_content_length}) + 1 bytes"
            )
        return self

    @model_validator(mode="after")
    def _redis_ca_needs_tls(self) -> Self:
        if self.redis_ca_file and not self.redis_url.get_secret_value().startswith("rediss://"):
            raise ValueError("APP_REDIS_CA_FILE: set, but APP_REDIS_URL is not rediss:// (TLS)")
        return self

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    def env_name(self, field: str) -> str:
        """The environment variable that sets ``field``."""
        return f"{ENV_PREFIX}{field.upper()}"


def _matchable_host(entry: str) -> None:
    """Refuse a trusted-host entry that werkzeug could never match with a Host header.

    werkzeug compares the entry up to its first ":" (so a port is not compared, and an IPv6
    literal is cut to "[") and IDNA-encodes it, raising on every request that no earlier entry
    matched if it cannot.
    """
    name, colon, _ = entry.removeprefix(".").partition(":")
    if entry.startswith("["):
        raise ValueError(f"{quoted(entry)}: an IPv6 literal can never match (use a name, or '*')")
    if colon:
        raise ValueError(f"{quoted(entry)}: the port is not compared; give the host name alone")
    try:
        encoded = name.encode("idna").decode("ascii")
    except UnicodeError:
        raise ValueError(f"{quoted(entry)} is not a host name IDNA can encode") from None
    if not HOST_NAME.fullmatch(encoded):
        raise ValueError(
            f"{quoted(entry)} is not a host name (letters, digits, '-' and '.'; "
            "a leading '.' for subdomains; no scheme, path or port)"
        )

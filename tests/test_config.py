"""Profiles, sources (env, .env, secrets dir) and the production refusals."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from server.config import Settings, SettingsError, load_settings, secrets_dir
from server.config.development import DevelopmentSettings
from server.config.production import ProductionSettings

GOOD_KEY = "Vb3kq7Ryx1-Wc_ZtN0aPj2HsLd8uFe5Mg9QoXi4TnKr6YwUh"  # as token_urlsafe() makes
PROD = {
    "APP_ENV": "production",
    "APP_SECRET_KEY": GOOD_KEY,
    "APP_DATABASE_URL": "postgresql+psycopg2://app@db/app",
    "APP_ENV_FILE": "/nonexistent",
}


def load(environ: dict[str, str], **overrides: object):  # type: ignore[no-untyped-def]
    return load_settings(environ={"APP_ENV_FILE": "/nonexistent", **environ}, **overrides)


def load_env(monkeypatch: pytest.MonkeyPatch, environ: dict[str, str]):  # type: ignore[no-untyped-def]
    """Settings from these variables, set in os.environ (where pydantic-settings reads them)."""
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    return load(environ)


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """pydantic-settings reads os.environ itself: keep the caller's APP_* out of these tests."""
    import os

    for name in list(os.environ):
        if name.startswith("APP_") or name == "CREDENTIALS_DIRECTORY":
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def test_default_profile_is_development() -> None:
    settings = load({})
    assert isinstance(settings, DevelopmentSettings)
    assert settings.log_format == "text"
    assert settings.database_url.get_secret_value().endswith("@127.0.0.1:54320/app")


def test_testing_profile_is_test_code() -> None:
    """The tests' profile lives in tests/support: the server refuses APP_ENV=testing."""
    from support.settings import TestingSettings

    with pytest.raises(SettingsError) as refused:
        load({"APP_ENV": "testing"})
    assert str(refused.value) == "APP_ENV: 'testing' is not one of development, production"
    settings = TestingSettings(_env_file=None)  # type: ignore[call-arg]
    assert settings.ratelimit_enabled is False


def test_production_profile_with_good_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in PROD.items():
        monkeypatch.setenv(name, value)
    settings = load(PROD)
    assert isinstance(settings, ProductionSettings)
    assert settings.log_format == "json"
    assert settings.hsts is True


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"APP_SECRET_KEY": None}, "APP_SECRET_KEY: required"),
        ({"APP_DATABASE_URL": None}, "APP_DATABASE_URL: required"),
        ({"APP_SECRET_KEY": "short"}, "APP_SECRET_KEY: 5 characters"),
        ({"APP_SECRET_KEY": "dev-only-insecure-secret-key-change-me"}, "APP_SECRET_KEY: a known"),
        ({"APP_DEBUG": "true"}, "APP_DEBUG: debug mode is refused"),
        (
            {"APP_CORS_ORIGINS": "*", "APP_CORS_ALLOW_CREDENTIALS": "1"},
            "APP_CORS_ORIGINS: admits any site",
        ),
        (
            {
                "APP_CORS_ORIGINS": ".*",
                "APP_CORS_ORIGIN_PATTERNS": "true",
                "APP_CORS_ALLOW_CREDENTIALS": "1",
            },
            "APP_CORS_ORIGINS: admits any site",
        ),
        (
            {
                "APP_CORS_ORIGINS": r"https://.*\.example\.com|https://.*",
                "APP_CORS_ORIGIN_PATTERNS": "true",
                "APP_CORS_ALLOW_CREDENTIALS": "1",
            },
            "APP_CORS_ORIGINS: admits any site",
        ),
        ({"APP_CORS_ORIGINS": r"https://app\.example\.com"}, "APP_CORS_ORIGINS: 'https://app"),
        ({"APP_CORS_ORIGINS": "https://app.example/path"}, "APP_CORS_ORIGINS: 'https://app"),
        ({"APP_CORS_ORIGINS": "(", "APP_CORS_ORIGIN_PATTERNS": "1"}, "APP_CORS_ORIGINS: '('"),
        ({"APP_SECRET_KEY": "a" * 32}, "APP_SECRET_KEY: too predictable"),
        ({"APP_SECRET_KEY": " " * 32}, "APP_SECRET_KEY: too predictable"),
        ({"APP_SECRET_KEY": "ab" * 32}, "APP_SECRET_KEY: too predictable"),
        ({"APP_SECRET_KEY": "abcd" * 10}, "APP_SECRET_KEY: too predictable"),
        ({"APP_TOKEN_HASH_KEY": "x" * 40}, "APP_TOKEN_HASH_KEY: too predictable"),
        (
            {"APP_OIDC_ISSUER": "https://id.example"},
            "APP_OIDC_ISSUER: OIDC needs APP_OIDC_ISSUER, APP_OIDC_AUDIENCE",
        ),
        ({"APP_OIDC_ALGORITHMS": "RS256,HS256"}, "APP_OIDC_ALGORITHMS: each must be one of"),
        ({"APP_OIDC_ALGORITHMS": "none"}, "APP_OIDC_ALGORITHMS: each must be one of"),
        ({"APP_OIDC_JWKS_URL": "file:///etc/keys.json"}, "APP_OIDC_JWKS_URL: must be an https"),
        ({"APP_OIDC_JWKS_URL": "id.example/keys"}, "APP_OIDC_JWKS_URL: must be an https"),
        (
            {"APP_OIDC_JWKS_URL": "http://id.example/keys"},
            "APP_OIDC_JWKS_URL: must be an https:// URL (http:// only to a loopback",
        ),
        (
            {"APP_OIDC_JWKS_URL": "http://localhost.id.example/keys"},
            "APP_OIDC_JWKS_URL: must be an https:// URL (http:// only to a loopback",
        ),
        ({"APP_OIDC_JWKS_URL": "https://id.example:0x1/k"}, "APP_OIDC_JWKS_URL: its port"),
        ({"APP_DATABASE_URL": "sqlite:///x.db"}, "APP_DATABASE_URL: must be a postgresql"),
        (
            {"APP_DATABASE_URL": "postgresql+asyncpg://db/app"},
            "APP_DATABASE_URL: must be a postgresql",
        ),
        ({"APP_DATABASE_URL": "postgresql://db:port/app"}, "APP_DATABASE_URL: not a database"),
        ({"APP_DATABASE_URL": "db.internal/app"}, "APP_DATABASE_URL: not a database URL"),
        ({"APP_DATABASE_URL": "postgresql://db:5432"}, "APP_DATABASE_URL: names no database"),
        ({"APP_WORKERS": "0"}, "APP_WORKERS: Input should be greater"),
        (
            {"APP_BODY_MEMORY": "1048576"},
            "APP_BODY_MEMORY: 1048576 bytes cannot hold one body of APP_MAX_CONTENT_LENGTH",
        ),
        ({"APP_BODY_MEMORY": "1gb"}, "APP_BODY_MEMORY: Input should be a valid integer"),
        ({"APP_REDIS_URL": "memcached://x"}, "APP_REDIS_URL: must start with"),
        ({"APP_RATELIMIT_DEFAULT": "lots"}, "APP_RATELIMIT_DEFAULT: not a rate limit"),
        ({"APP_LOG_LEVEL": "LOUD"}, "APP_LOG_LEVEL: Input should be"),
        ({"APP_DATABSE_URL": "typo"}, "APP_DATABSE_URL: not a setting"),
        ({"APP_ENV": "staging"}, "APP_ENV: 'staging' is not one of"),
    ],
)
def test_production_refuses_with_one_line_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, changes: dict[str, str | None], named: str
) -> None:
    environ = {**PROD}
    for name, value in changes.items():
        if value is None:
            environ.pop(name)
        else:
            environ[name] = value
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as info:
        load(environ)
    message = str(info.value)
    assert message.startswith(named), message
    assert "\n" not in message


# What an environment variable can hold that no setting expects (NUL it cannot hold).
# Each value is tried on every setting (about 10 ms a load): one per kind of trouble.
HOSTILE = ["", "nan", "x" * 5000, "a\nAPP_ENV=production", "[1,2", "\udcff"]


@pytest.mark.parametrize("value", HOSTILE, ids=range(len(HOSTILE)))
def test_any_value_of_any_setting_is_taken_or_refused_in_one_short_line(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    """A 5000-character CA file name ended start-up in a traceback (ENAMETOOLONG), and values
    were echoed whole: a newline split the one line, 100 KB made a 100 KB message."""
    variables = [f"APP_{name.upper()}" for name in Settings.model_fields] + ["APP_SECRETS_DIR"]
    for name in variables:
        environ = {**PROD, name: value}
        if name == "APP_ENV":
            environ.pop("APP_SECRET_KEY")  # as a profile other than production would have it
        with monkeypatch.context() as scoped:
            for key, item in environ.items():
                scoped.setenv(key, item)
            try:
                load(environ)
            except SettingsError as exc:
                message = str(exc)
                assert message.startswith("APP_"), (name, message)  # the setting at fault
                assert name in message, (name, message)  # or its partner, naming it
                assert "\n" not in message, (name, message)
                assert len(message) < 500, (name, message)


def test_dotenv_file_is_read_and_environment_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_file = tmp_path / "custom.env"
    env_file.write_text(
        "APP_ENV=development\nAPP_CACHE_TTL=77\nAPP_LOG_LEVEL=DEBUG\nOTHER=ignored\n"
    )
    monkeypatch.setenv("APP_LOG_LEVEL", "ERROR")
    settings = load_settings(environ={"APP_ENV_FILE": str(env_file), "APP_LOG_LEVEL": "ERROR"})
    assert settings.env == "development"
    assert settings.cache_ttl == 77
    assert settings.log_level == "ERROR"


def test_typo_in_dotenv_is_refused(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("APP_CACHE_TTLL=5\n")
    with pytest.raises(SettingsError, match="APP_CACHE_TTLL: not a setting"):
        load_settings(environ={"APP_ENV_FILE": str(env_file)})


def test_secrets_directory_supplies_secrets(tmp_path: Path) -> None:
    secrets = tmp_path / "creds"
    secrets.mkdir()
    (secrets / "APP_SECRET_KEY").write_text(GOOD_KEY + "\n")
    (secrets / "APP_DATABASE_URL").write_text("postgresql://app:pw@db/app")
    settings = load(
        {"APP_ENV": "production", "CREDENTIALS_DIRECTORY": str(secrets)}, env="production"
    )
    assert settings.secret_key.get_secret_value() == GOOD_KEY
    assert settings.database_url.get_secret_value() == "postgresql+psycopg2://app:pw@db/app"


def test_secrets_dir_precedence(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    assert (
        secrets_dir({"APP_SECRETS_DIR": str(first), "CREDENTIALS_DIRECTORY": str(second)}) == first
    )
    assert secrets_dir({"CREDENTIALS_DIRECTORY": str(second)}) == second
    with pytest.raises(SettingsError, match=r"APP_SECRETS_DIR: .* is not a directory"):
        secrets_dir({"APP_SECRETS_DIR": str(tmp_path / "missing")})


def test_cors_origins_from_comma_list() -> None:
    settings = load({}, cors_origins="https://a.example, https://b.example")
    assert settings.cors_origins == ["https://a.example", "https://b.example"]


def test_list_settings_take_a_json_list_too(monkeypatch: pytest.MonkeyPatch) -> None:
    """pydantic-settings' own syntax for lists, which its users reach for first."""
    settings = load_env(
        monkeypatch,
        {
            **PROD,
            "APP_TRUSTED_HOSTS": '["API.example.com", ".example.org"]',
            "APP_CORS_ORIGINS": '["https://a.example", "https://b.example:8443"]',
            "APP_OIDC_ALGORITHMS": '[ "ES256" ]',
        },
    )
    assert settings.trusted_hosts == ["api.example.com", ".example.org"]
    assert settings.cors_origins == ["https://a.example", "https://b.example:8443"]
    assert settings.oidc_algorithms == ["ES256"]


def test_exact_origins_admit_only_themselves(monkeypatch: pytest.MonkeyPatch) -> None:
    from server.config.origins import allowed_origins

    settings = load_env(monkeypatch, {**PROD, "APP_CORS_ORIGINS": "https://app.example.com"})
    (origin,) = allowed_origins(settings)
    assert not isinstance(origin, str)
    assert origin.match("https://app.example.com")
    for other in ("https://app.example.com.attacker.net", "https://appXexample.com"):
        assert not origin.match(other)
    patterns = load_env(
        monkeypatch,
        {
            **PROD,
            "APP_CORS_ORIGINS": r"https://[a-z]+\.example\.com",
            "APP_CORS_ORIGIN_PATTERNS": "1",
        },
    )
    (pattern,) = allowed_origins(patterns)
    assert isinstance(pattern, re.Pattern)
    assert pattern.match("https://app.example.com")
    assert not pattern.match("https://app.example.com.attacker.net")


def test_config_check_masks_every_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    from server.cli.config_command import masked

    secrets = {
        "APP_REDIS_URL": "redis://user:redis-pw-123@cache:6379/0",
        "APP_DATABASE_URL": "postgresql+psycopg2://app:db-pw-456@db/app",
        "APP_SENTRY_DSN": "https://dsn-key-789@sentry.example/1",
        "APP_TOKEN_HASH_KEY": "hash-key-Vb3kq7Ryx1-Wc_ZtN0aPj2HsLd8uFe5Mg9Qo",
        "APP_BOOTSTRAP_ADMIN_TOKEN": "fns_abcdefgh_" + "t" * 43,
    }
    shown = repr(masked(load_env(monkeypatch, {**PROD, **secrets})))
    for value in ("redis-pw-123", "db-pw-456", "dsn-key-789", "hash-key-", "t" * 43, GOOD_KEY):
        assert value not in shown
    assert "redis://user:***@cache:6379/0" in shown


@pytest.mark.parametrize(
    "given",
    [
        "postgres://app:p%40ss@db.example.com:5433/app?sslmode=require",
        "postgresql://app:p%40ss@db.example.com:5433/app?sslmode=require",
        "postgresql+psycopg2://app:p%40ss@db.example.com:5433/app?sslmode=require",
    ],
)
def test_provider_database_urls_mean_psycopg2(given: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Hosting providers hand out postgres:// URLs; SQLAlchemy alone would pick another driver."""
    for name, value in {**PROD, "APP_DATABASE_URL": given}.items():
        monkeypatch.setenv(name, value)
    settings = load(PROD)
    assert settings.database_url.get_secret_value() == (
        "postgresql+psycopg2://app:p%40ss@db.example.com:5433/app?sslmode=require"
    )


@pytest.mark.parametrize(
    "given",
    [
        "https://id.example/.well-known/jwks.json",
        "http://127.0.0.1:8080/jwks.json",
        "http://[::1]:8080/jwks.json",
        "http://localhost/jwks.json",
    ],
)
def test_keys_come_over_https_or_from_this_host(
    given: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    oidc = {"APP_OIDC_ISSUER": "https://id.example", "APP_OIDC_AUDIENCE": "api"}
    settings = load_env(monkeypatch, {**PROD, **oidc, "APP_OIDC_JWKS_URL": given})
    assert settings.oidc_jwks_url == given


@pytest.mark.parametrize("given", ["mysql://app:hunter2@db/app", "postgresql://app:hunter2@db:x/a"])
def test_bad_database_url_never_echoes_the_password(
    given: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in {**PROD, "APP_DATABASE_URL": given}.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as caught:
        load(PROD)
    assert "hunter2" not in str(caught.value)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        # A list entry no request could ever match:
        # werkzeug cuts a trusted host at its first ":": "[::1]" became "[", matching nothing,
        ("APP_TRUSTED_HOSTS", "localhost,[::1]", "'[::1]': an IPv6 literal can never match"),
        # and a port is not compared: "api.example.com:8443" would have admitted any port.
        ("APP_TRUSTED_HOSTS", "api.example.com:8443", "the port is not compared"),
        ("APP_TRUSTED_HOSTS", "https://api.example.com", "the port is not compared"),
        ("APP_TRUSTED_HOSTS", "api.example.com/", "'api.example.com/' is not a host name"),
        ("APP_TRUSTED_HOSTS", "my_host.internal", "is not a host name"),
        ("APP_TRUSTED_HOSTS", "api example.com", "is not a host name"),
        # A JSON list that is not one: its brackets and quotes would have become entries.
        ("APP_TRUSTED_HOSTS", '["localhost", 127]', "not a JSON list of strings"),
        ("APP_TRUSTED_HOSTS", "[localhost]", "not a JSON list of strings"),
        ("APP_CORS_ORIGINS", '["https://a.example"', "not a JSON list of strings"),
        ("APP_OIDC_ALGORITHMS", '{"RS256": true}', "must be one of"),
        # What a consumer would only have failed on at its first connection, or misread:
        ("APP_DATABASE_URL", "postgresql://app:hunter2@db:99999/app", "port is not a number"),
        ("APP_DATABASE_URL", "postgresql://app:hunter2@db/app?sslmod=require", "'sslmod' is not"),
        ("APP_DATABASE_URL", "postgresql://app:hunter2@db/app?sslmode=on", "sslmode must be"),
        ("APP_REDIS_URL", "redis://:hunter2@cache:port/0", "port is not a number"),
        ("APP_REDIS_URL", "redis://:hunter2@cache:6379/O", "database is not a number"),
        ("APP_REDIS_URL", "unix:///run/redis.sock?db=one", "database is not a number"),
        ("APP_SENTRY_DSN", "hunter2", "not a Sentry DSN"),
        ("APP_DB_CA_FILE", "/nonexistent/ca.pem", "is not a readable file"),
        ("APP_RATELIMIT_DEFAULT", "0 per minute", "a limit of 0 allows nothing"),
        ("APP_AUTH_FAILURE_LIMIT", "0/hour", "a limit of 0 allows nothing"),
        # Numbers past what their consumer takes (a timer's overflow, int4 milliseconds):
        ("APP_GRACEFUL_TIMEOUT", "99999999999", "less than or equal to"),
        ("APP_WORKERS_LIFETIME", "99999999999999999", "less than or equal to"),
        ("APP_DB_STATEMENT_TIMEOUT_MS", "2147483648", "less than or equal to"),
        ("APP_DB_POOL_TIMEOUT", "inf", "finite number"),
        ("APP_REDIS_SOCKET_TIMEOUT", "nan", "finite number"),
        ("APP_OIDC_SCOPE_CLAIM", "", "at least 1 character"),
    ],
)
def test_a_setting_its_consumer_would_refuse_or_never_match_stops_startup(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    with pytest.raises(SettingsError) as refused:
        load_env(monkeypatch, {**PROD, name: value})
    shown = str(refused.value)
    assert shown.startswith(f"{name}: "), shown
    assert message in shown
    assert "hunter2" not in shown
    assert "\n" not in shown


def test_every_number_has_an_upper_bound() -> None:
    """A typo of a few digits must stop start-up, not overflow a timer or a server's counter
    later (tests/test_serve.py starts both servers with every number at its bound)."""
    from pydantic.fields import FieldInfo

    def bounded(field: FieldInfo) -> bool:
        return any(hasattr(rule, "le") or hasattr(rule, "lt") for rule in field.metadata)

    numbers = {
        name: field
        for name, field in ProductionSettings.model_fields.items()
        if field.annotation in (int, float)
    }
    assert len(numbers) > 20
    assert [name for name, field in numbers.items() if not bounded(field)] == []


def test_empty_optional_settings_mean_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    """`APP_X=` in an env file (.env.example lists them so) is the same as no APP_X."""
    from server.config.base import Settings

    optional = [
        name
        for name, field in Settings.model_fields.items()
        if not field.is_required() and field.default is None
    ]
    assert {"sentry_dsn", "db_ca_file", "oidc_jwks_url", "token_hash_key"} <= set(optional)
    settings = load_env(monkeypatch, {**PROD, **{f"APP_{n.upper()}": "" for n in optional}})
    assert {name: getattr(settings, name) for name in optional} == dict.fromkeys(optional)
    assert not settings.oidc_enabled  # an empty JWKS URL had switched OIDC on

"""The application factory: a contents page of what the app is made of."""

from __future__ import annotations

from collections.abc import Callable
from inspect import iscoroutinefunction
from typing import Any

from flask import Flask

from server.api import bp as api_bp
from server.api.converters import IdConverter
from server.auth import gate as auth
from server.config import Settings, load_settings, settings_or_exit
from server.errors import register_error_handlers
from server.infra import cache, database, pool_checks, ratelimit, redis_client
from server.infra.database import db
from server.infra.sessions import NoSessions
from server.logs import configure_logging
from server.middleware import (
    access_log,
    body_limit,
    canonical_host,
    cors,
    metrics,
    options,
    proxies,
    request_head,
    request_id,
    security_headers,
    sentry,
    tracing,
)
from server.web import docs, health


class App(Flask):
    """Flask, asking each function once whether it is a coroutine function.

    Flask calls ``ensure_sync`` for every hook, view and error handler of every request (16
    times for /health/live), and inspect's answer unwraps the function each time: 4% of
    /health/live's CPU (bench/inprocess_cost.py). The answer for a function never changes;
    a bound method is asked about through its function, so per-request instances (class-based
    views) share one entry. Bounded: per-request closures (``after_this_request``) stop being
    remembered once the table is full, and are then asked as before.
    """

    ASYNC_VERDICTS_MAX = 1024

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._async_verdicts: dict[Callable[..., Any], bool] = {}

    def ensure_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        target = getattr(func, "__func__", func)
        verdicts = self._async_verdicts
        try:
            is_async = verdicts[target]
        except KeyError:
            is_async = iscoroutinefunction(func)
            if len(verdicts) < self.ASYNC_VERDICTS_MAX:
                verdicts[target] = is_async
        except TypeError:  # unhashable: asked every time
            is_async = iscoroutinefunction(func)
        return self.async_to_sync(func) if is_async else func


def create_app(settings: Settings | None = None) -> Flask:
    """Build the app from ``settings`` (default: the environment); raises SettingsError."""
    settings = settings or load_settings()
    app = App(__name__)
    load_config(app, settings)
    configure_logging(settings)
    sentry.init(settings)
    register_extensions(app, settings)
    register_middleware(app, settings)
    register_blueprints(app, settings)
    register_error_handlers(app)
    return app


def create_app_or_exit() -> Flask:
    """The app from the environment, or exit 2 with one line naming the bad setting."""
    with settings_or_exit():
        return create_app()


def load_config(app: Flask, settings: Settings) -> None:
    # The settings' one home at runtime is app.extensions (server.config.current_settings);
    # app.config holds only the keys Flask and its extensions read.
    app.extensions["settings"] = settings  # read through server.config.runtime
    app.url_map.converters["id"] = IdConverter
    # No redirects: werkzeug answers them itself, as HTML, with a Location built from the
    # client's Host. A doubled slash or a missing trailing one is a 404 problem instead.
    # (Before any rule is added: rules take these from the map when they are bound.)
    app.url_map.merge_slashes = False
    app.url_map.strict_slashes = False
    app.url_map.redirect_defaults = False
    app.session_interface = NoSessions()
    app.config.update(
        SECRET_KEY=settings.secret_key.get_secret_value(),
        DEBUG=settings.debug,
        MAX_CONTENT_LENGTH=settings.max_content_length,
        # None: any host (werkzeug's meaning of no list).
        TRUSTED_HOSTS=None if settings.trusted_hosts == ["*"] else settings.trusted_hosts,
    )
    database.configure(app, settings)


def register_extensions(app: Flask, settings: Settings) -> None:
    database.init_app(app)
    if settings.db_pool_pre_ping:
        with app.app_context():
            pool_checks.watch(db.engine)
    redis_client.init_app(app, settings)
    cache.init_app(app)


def register_middleware(app: Flask, settings: Settings) -> None:
    metrics.init_app(app)  # first: its timer starts before, and its count ends after, the rest
    request_id.init_app(app)
    body_limit.init_app(app)
    security_headers.init_app(app, hsts=settings.hsts)
    options.init_app(app)
    cors.init_app(app, settings)
    canonical_host.init_app(app)  # inside ProxyFix: a forwarded host is read the same way
    proxies.init_app(app, settings)
    request_head.init_app(app)  # outside ProxyFix: see its docstring
    if settings.access_log:
        access_log.init_app(app)
    tracing.init_app(app, settings)


def register_blueprints(app: Flask, settings: Settings) -> None:
    app.register_blueprint(health.bp)
    app.register_blueprint(api_bp)
    app.register_blueprint(docs.bp)
    register_access_control(app, settings)


def register_access_control(app: Flask, settings: Settings) -> None:
    """Identify, count, then authorize every request, in that order (server/auth)."""
    auth.init_identify(app, settings, public_blueprints=auth.public_blueprints(settings))
    ratelimit.init_app(
        app,
        settings,
        exempt_blueprints=frozenset({health.bp.name}),
        # A cached read's lookup shares the limiter's round trip.
        request_riders=[cache.prefetch],
    )
    auth.init_authorize(app)

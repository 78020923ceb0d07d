"""Logging: JSON lines in production, readable lines in development; gunicorn uses the same."""

from __future__ import annotations

import logging.config
from typing import Any

from server.config import Settings

TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s [%(request_id)s %(principal)s] %(message)s"
JSON_FIELDS = "%(asctime)s %(levelname)s %(name)s %(request_id)s %(principal)s %(message)s"


def logging_config(settings: Settings, *, gunicorn: bool = False) -> dict[str, Any]:
    """A dictConfig for the app; with ``gunicorn`` also for its error and access loggers."""
    formatter: dict[str, Any]
    if settings.log_format == "json":
        formatter = {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": JSON_FIELDS,
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        }
    else:
        formatter = {"format": TEXT_FORMAT}
    config: dict[str, Any] = {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "request_id": {"()": "server.middleware.request_id.RequestIdFilter"},
            "principal": {"()": "server.auth.log_filter.PrincipalFilter"},
        },
        "formatters": {"default": formatter},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "default",
                "filters": ["request_id", "principal"],
            }
        },
        "root": {"level": settings.log_level, "handlers": ["stderr"]},
        "loggers": {
            # Per-request lines come from gunicorn's access log; werkzeug's would double them.
            "werkzeug": {"level": "WARNING" if gunicorn else "INFO"},
        },
    }
    if gunicorn:
        for name in ("gunicorn.error", "gunicorn.access"):
            config["loggers"][name] = {"level": "INFO", "handlers": ["stderr"], "propagate": False}
    return config


def configure_logging(settings: Settings) -> None:
    logging.config.dictConfig(logging_config(settings))

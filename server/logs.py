"""Logging: JSON lines in production, readable lines in development; the servers use the same."""

from __future__ import annotations

import logging.config
from typing import Any, Literal

from server.config import Settings
from server.redaction import redacted_text

TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s [%(request_id)s %(principal)s] %(message)s"
JSON_FIELDS = "%(asctime)s %(levelname)s %(name)s %(request_id)s %(principal)s %(message)s"
# The app's own access log (server/middleware/access_log.py), on when granian serves it.
ACCESS_LOGGER = "server.access"
# Control characters (C0, DEL, C1) as \xNN: see TextFormatter.
_ESCAPES = {c: f"\\x{c:02x}" for c in (*range(0x20), *range(0x7F, 0xA0))}


class TextFormatter(logging.Formatter):
    """The readable format, one line per record whatever the client sent.

    A message may quote the client (a request path, decoded by the server, is in every access
    line): a CR or LF in it would start a forged line, and an escape sequence would drive the
    reader's terminal. The JSON format escapes them by itself. A traceback, appended after the
    message, keeps its lines.
    """

    def formatMessage(self, record: logging.LogRecord) -> str:
        return super().formatMessage(record).translate(_ESCAPES)


class ClientTextFilter(logging.Filter):
    """gunicorn's own lines quote what a client sent: the target of a request that failed, a
    malformed request line or header line. This shows them without the credentials that text
    may carry (server/redaction.py redacted_text): a client that left out a header's colon put
    its whole ``Authorization Bearer ...`` line into gunicorn's warning."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        shown = redacted_text(message)
        if shown != message:
            record.msg, record.args = shown, None
        return True


def logging_config(
    settings: Settings, *, server: Literal["gunicorn", "granian"] | None = None
) -> dict[str, Any]:
    """A dictConfig for the app; with ``server`` also for that server's own loggers."""
    formatter: dict[str, Any]
    if settings.log_format == "json":
        formatter = {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": JSON_FIELDS,
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        }
    else:
        formatter = {"()": "server.logs.TextFormatter", "fmt": TEXT_FORMAT}
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
            # Per-request lines come from the server or server.access; werkzeug's would double them.
            "werkzeug": {"level": "WARNING" if server else "INFO"},
            # Access lines are INFO whatever APP_LOG_LEVEL says, as gunicorn's are.
            ACCESS_LOGGER: {"level": "INFO"},
            # Alembic announces each of its built-in plugins at INFO when it is imported: seven
            # lines before every `db` command's own.
            "alembic.runtime.plugins": {"level": "WARNING"},
        },
    }
    if server == "granian":
        # granian's own lines (workers started, stopped, respawned) go through the same handler.
        config["loggers"]["_granian"] = {"level": "INFO"}
    if server == "gunicorn":
        for name in ("gunicorn.error", "gunicorn.access"):
            config["loggers"][name] = {"level": "INFO", "handlers": ["stderr"], "propagate": False}
        config["filters"]["client_text"] = {"()": "server.logs.ClientTextFilter"}
        config["loggers"]["gunicorn.error"]["filters"] = ["client_text"]
    return config


def configure_logging(settings: Settings) -> None:
    logging.config.dictConfig(logging_config(settings))
    skip_unused_record_fields()


def skip_unused_record_fields() -> None:
    """Let records skip what no format here shows: the caller's file and line (a stack walk per
    record), thread, process and multiprocessing names. The logging HOWTO's "Optimization"
    section lists these switches; py-spy had the caller lookup at 7% of /health/live, whose
    access line every request writes (bench/hot_path.py)."""
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False

"""Logging: JSON lines in production, readable lines in development; the servers use the same."""

from __future__ import annotations

import json
import logging
import logging.config
import time
from typing import Any, Literal

from pythonjsonlogger.json import JsonFormatter

from server.config import Settings

TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s [%(request_id)s %(principal)s] %(message)s"
JSON_FIELDS = "%(asctime)s %(levelname)s %(name)s %(request_id)s %(principal)s %(message)s"
# The app's own access log (server/middleware/access_log.py), on when granian serves it.
ACCESS_LOGGER = "server.access"


def logging_config(
    settings: Settings, *, server: Literal["gunicorn", "granian"] | None = None
) -> dict[str, Any]:
    """A dictConfig for the app; with ``server`` also for that server's own loggers."""
    formatter: dict[str, Any]
    if settings.log_format == "json":
        formatter = {
            "()": "server.logs.JsonLines",
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
            # Per-request lines come from the server or server.access; werkzeug's would double them.
            "werkzeug": {"level": "WARNING" if server else "INFO"},
            # Access lines are INFO whatever APP_LOG_LEVEL says, as gunicorn's are.
            ACCESS_LOGGER: {"level": "INFO"},
        },
    }
    if server == "granian":
        # granian's own lines (workers started, stopped, respawned) go through the same handler.
        config["loggers"]["_granian"] = {"level": "INFO"}
    if server == "gunicorn":
        for name in ("gunicorn.error", "gunicorn.access"):
            config["loggers"][name] = {"level": "INFO", "handlers": ["stderr"], "propagate": False}
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


class JsonLines(JsonFormatter):
    """python-json-logger's formatter, the same lines for less CPU: every request writes one
    (the access line, 22% of /health/live's CPU under py-spy). It reuses one JSON encoder (the
    stdlib's C one, as before) instead of building one per line, formats the date and time of
    day once per second instead of per line, and a plain record (no exception, stack, dict
    message or extra attribute: the access line, most lines) takes the format's fields straight
    into the dict instead of scanning every attribute of the record for extras."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._fields = [(field, self._get_rename(field)) for field in self._required_fields]
        # Only the format's fields make it into a line: anything else takes the general path.
        self._general = bool(
            self.defaults
            or self.static_fields
            or self.timestamp
            or self.rename_fields_keep_missing
            or self._style == "__sequence__"
        )
        # What json.dumps(..., cls=, default=, indent=, ensure_ascii=) builds for every call.
        self._encode = (self.json_encoder or json.JSONEncoder)(
            default=self.json_default, indent=self.json_indent, ensure_ascii=self.json_ensure_ascii
        ).encode
        self._second: tuple[int, str] = (-1, "")

    def format(self, record: logging.LogRecord) -> str:
        attributes = record.__dict__
        if (
            self._general
            or record.exc_info
            or record.exc_text
            or record.stack_info
            or isinstance(record.msg, dict)
            or not attributes.keys() <= self._skip_fields  # an extra attribute
        ):
            return super().format(record)
        record.message = record.getMessage()
        if "asctime" in self._required_fields:
            record.asctime = self.formatTime(record, self.datefmt)
        log_data = {name: attributes.get(field) for field, name in self._fields}
        return self.serialize_log_record(self.process_log_record(log_data))

    def jsonify_log_record(self, log_data: Any) -> str:
        if self.json_serializer is not json.dumps:
            return super().jsonify_log_record(log_data)
        return self._encode(log_data)

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        if datefmt or self.converter is not time.localtime or not self.default_msec_format:
            return super().formatTime(record, datefmt)
        # logging.Formatter.formatTime's own result: the second's text is the same for every
        # record within it, whatever the fraction (localtime truncates it).
        second = int(record.created)
        cached_second, text = self._second
        if cached_second != second:
            text = time.strftime(self.default_time_format, time.localtime(second))
            self._second = (second, text)
        return self.default_msec_format % (text, record.msecs)

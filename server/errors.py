"""One error shape for every failure: RFC 9457 problem details as application/problem+json."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

import redis
from flask import Flask, Response, json
from pydantic import ValidationError
from sqlalchemy.exc import (
    DataError,
    DBAPIError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    PendingRollbackError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.orm.exc import ObjectDeletedError, StaleDataError
from werkzeug.exceptions import HTTPException, SecurityError

from server.infra.ratelimit import RateLimited
from server.redaction import database_error_report
from server.services.errors import (
    DomainError,
    Duplicate,
    FieldRefused,
    InvalidReference,
    NotFound,
    StaleVersion,
)

log = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"
# Stable, non-dereferenced identifiers (RFC 4151 tag URIs): clients switch on these, not on titles.
TYPE_BASE = "tag:flask-nix-stack,2026:problems/"
# What psycopg2 raises (a ValueError, not a DataError, before anything reaches PostgreSQL) for a
# parameter holding NUL, which PostgreSQL text cannot store.
DRIVER_NUL_REFUSAL = "A string literal cannot contain NUL (0x00) characters."
# SQLAlchemy's code for a PendingRollbackError raised because the connection was invalidated
# (lost) inside a transaction: https://sqlalche.me/e/21/8s2b
LOST_CONNECTION_CODE = "8s2b"

# Problem type slug per HTTP status, for errors that carry nothing more specific.
STATUS_SLUGS = {
    400: "bad-request",
    401: "unauthorized",
    403: "insufficient-scope",
    404: "not-found",
    405: "method-not-allowed",
    406: "not-acceptable",
    409: "conflict",
    411: "length-required",
    412: "precondition-failed",
    413: "payload-too-large",
    414: "uri-too-long",
    415: "unsupported-media-type",
    417: "expectation-failed",
    422: "validation-error",
    428: "precondition-required",
    429: "rate-limited",
    431: "headers-too-large",
    500: "internal-error",
    501: "not-implemented",
    503: "service-unavailable",
}


class Problem(Exception):
    """Raise anywhere to answer with a problem document."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        slug: str | None = None,
        headers: dict[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.slug = slug or STATUS_SLUGS.get(status, "error")
        self.headers = headers or {}
        self.extensions = extensions


def problem_response(problem: Problem) -> Response:
    body = {
        "type": TYPE_BASE + problem.slug,
        "title": HTTPStatus(problem.status).phrase,
        "status": problem.status,
        "detail": problem.detail,
        **problem.extensions,
    }
    response = Response(json.dumps(body), problem.status, mimetype=PROBLEM_MEDIA_TYPE)
    response.headers.update(problem.headers)
    return response


def validation_problem(exc: ValidationError, where: str) -> Problem:
    """422 listing each field error as {location, field, message}."""
    errors = [
        {
            "in": where,
            "field": ".".join(str(part) for part in error["loc"]) or None,
            "message": error["msg"],
            "type": error["type"],
        }
        for error in exc.errors(include_url=False, include_input=False)
    ]
    return Problem(422, f"The {where} is not valid.", errors=errors)


def domain_problem(exc: DomainError) -> Problem:
    """The problem document for what a service refused."""
    detail = str(exc)
    if isinstance(exc, NotFound):
        return Problem(404, detail)
    if isinstance(exc, Duplicate):
        return Problem(409, detail, slug="duplicate")
    if isinstance(exc, StaleVersion):
        return Problem(412, detail, current_version=exc.current)
    # Neither is 422: the request is one the document allows (a fuzzer's positive check counts a
    # 422 to it as a failure), and it is the state it meets that refuses it. Each names the field.
    if isinstance(exc, FieldRefused):
        error = {"in": "body", "field": exc.field, "message": detail, "type": exc.reason}
        return Problem(403, detail, slug="not-allowed", errors=[error])
    if isinstance(exc, InvalidReference):
        # As the row's own URL would answer (Stripe's resource_missing is a 404 too).
        error = {"in": "body", "field": exc.field, "message": "no such " + exc.kind.lower()}
        return Problem(404, detail, errors=[{**error, "type": "not_found"}])
    return Problem(422, detail)


def _http_problem(exc: HTTPException) -> Problem:
    status = exc.code or 500
    detail = exc.description or HTTPStatus(status).description
    headers = {}
    if status == 405 and exc.valid_methods:  # type: ignore[attr-defined]
        headers["Allow"] = ", ".join(exc.valid_methods)  # type: ignore[attr-defined]
    return Problem(status, detail, headers=headers)


def bad_host() -> Problem:
    """The answer to a Host header that is not one of APP_TRUSTED_HOSTS, or no host at all."""
    return Problem(400, "The Host header names no host this server answers for.", slug="bad-host")


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(Problem)
    def _problem(exc: Problem) -> Response:
        return problem_response(exc)

    @app.errorhandler(RateLimited)
    def _rate_limited(exc: RateLimited) -> Response:
        return problem_response(Problem(429, exc.detail, headers=exc.headers))

    @app.errorhandler(DomainError)
    def _domain(exc: DomainError) -> Response:
        return problem_response(domain_problem(exc))

    @app.errorhandler(SecurityError)
    def _untrusted_host(exc: SecurityError) -> Response:
        return problem_response(bad_host())

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Response:
        return problem_response(_http_problem(exc))

    @app.errorhandler(IntegrityError)
    def _integrity(exc: IntegrityError) -> Response:
        log.info("integrity error: %s", exc.orig.__class__.__name__)
        return problem_response(Problem(409, "The request conflicts with existing data."))

    @app.errorhandler(DataError)
    def _unstorable(exc: DataError) -> Response:
        # The request models refuse what the columns cannot store (server/schemas/common.py);
        # a value that still slips through is the client's, not a server failure.
        log.warning("data error: %s", exc.orig.__class__.__name__)
        return unstorable()

    @app.errorhandler(ValueError)
    def _value_error(exc: ValueError) -> Response:
        if str(exc) == DRIVER_NUL_REFUSAL:
            log.warning("data error: NUL in a parameter")
            return unstorable()
        return _unexpected(exc)

    @app.errorhandler(StaleDataError)
    def _stale(exc: StaleDataError) -> Response:
        return problem_response(
            Problem(409, "The resource was changed by another request; fetch it and retry.")
        )

    @app.errorhandler(ObjectDeletedError)
    def _deleted_meanwhile(exc: ObjectDeletedError) -> Response:
        # A write committed, then another request deleted the row before this one read it back
        # for its answer (a commit expires what the session holds). 409 like the other lost
        # races, and documented on every write that answers with the row.
        return problem_response(
            Problem(409, "The resource was deleted by another request meanwhile.")
        )

    # The database unreachable, a connection lost mid-request (InterfaceError follows a
    # restart), the pool exhausted, or a statement cancelled by its timeout: all transient.
    @app.errorhandler(OperationalError)
    @app.errorhandler(InterfaceError)
    @app.errorhandler(PoolTimeoutError)
    def _database_down(exc: Exception) -> Response:
        return database_unavailable(exc)

    @app.errorhandler(DBAPIError)
    def _database_error(exc: DBAPIError) -> Response:
        # Any other driver error: transient if it cost the connection (a server that turned
        # read-only, server/infra/database.py), else a bug, logged with its traceback.
        if exc.connection_invalidated:
            return database_unavailable(exc)
        return _unexpected(exc)

    @app.errorhandler(PendingRollbackError)
    def _pending_rollback(exc: PendingRollbackError) -> Response:
        # The same session used again after its connection was lost (SQLAlchemy's "8s2b":
        # the connection is invalidated inside a transaction) is the outage seen a second
        # time. Any other pending rollback is a bug: a 500, logged with its traceback.
        if exc.code == LOST_CONNECTION_CODE:
            return database_unavailable(exc)
        return _unexpected(exc)

    @app.errorhandler(redis.RedisError)
    def _redis_down(exc: redis.RedisError) -> Response:
        # Only reached when the limiter fails closed: reads degrade without the cache.
        log.error("redis unavailable: %s", exc.__class__.__name__)
        return problem_response(
            Problem(
                503,
                "A backing service is unavailable; retry shortly.",
                headers={"Retry-After": "1"},
            )
        )

    @app.errorhandler(Exception)
    def _unhandled(exc: Exception) -> Response:
        return _unexpected(exc)


def unstorable() -> Response:
    return problem_response(
        Problem(422, "A value is outside what the database can store.", slug="unstorable")
    )


def _unexpected(exc: Exception) -> Response:
    if isinstance(exc, DBAPIError):
        # Not its message, which quotes the statement's values: token digests, or what a client
        # sent (server/redaction.py).
        log.error("unhandled database error: %s", database_error_report(exc))
    else:
        log.error("unhandled error", exc_info=exc)
    return problem_response(Problem(500, "The server failed to handle the request."))


def database_unavailable(exc: Exception) -> Response:
    """503 with Retry-After for a database that cannot be reached or was lost mid-request."""
    log.error("database unavailable: %s", getattr(exc, "orig", exc).__class__.__name__)
    return problem_response(
        Problem(503, "The database is unavailable; retry shortly.", headers={"Retry-After": "1"})
    )

"""Liveness ("restart me?") and readiness ("send me traffic?") probes."""

from __future__ import annotations

import logging

import redis
from flask import Blueprint, Response, jsonify
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from server.api.contract import contract
from server.config.runtime import current_settings
from server.errors import Problem, problem_response
from server.infra.database import db, use_transaction
from server.infra.migration_status import at_head, token_stored
from server.infra.redis_client import get_redis
from server.schemas.health import Live, Ready

log = logging.getLogger(__name__)
bp = Blueprint("health", __name__, url_prefix="/health")

# A readiness probe must answer before the prober gives up (process-compose: 1 s by default).
CHECK_TIMEOUT_MS = 500


LIVE_BODY = b'{"status":"ok"}'


@bp.get("/live")
@contract(response=Live, open_query=True)
def live() -> Response:
    """The process serves requests; touches nothing else.

    For a supervisor's liveness probe: it stays 200 while PostgreSQL or Redis are down, since
    restarting the process would not bring them back.
    """
    return Response(LIVE_BODY, mimetype="application/json")


@bp.get("/ready")
@contract(response=Ready, open_query=True)
def ready() -> Response:
    """PostgreSQL answers with the schema at the newest migration, and Redis answers PING.

    For a load balancer's readiness probe: 503, with `checks` naming what failed, when either
    does not answer within 500 ms, or while the schema is behind (database "migrating": the
    stack starts the web server beside the migration, not after it).
    """
    checks = {"database": _check_database(), "redis": _check_redis()}
    failed = sorted(f"{name} {state}" for name, state in checks.items() if state != "ok")
    if failed:
        return problem_response(Problem(503, f"Not ready: {', '.join(failed)}.", checks=checks))
    return jsonify(status="ok", checks=checks)


def _check_database() -> str:
    try:
        use_transaction()  # a GET's statements run in autocommit otherwise: no SET LOCAL there
        # SET LOCAL, as a SELECT (a safe request runs no other textual SQL).
        timeout = func.set_config("statement_timeout", str(CHECK_TIMEOUT_MS), True)
        db.session.execute(select(timeout))
        connection = db.session.connection()
        # migrate's work includes storing APP_BOOTSTRAP_ADMIN_TOKEN after the upgrade.
        token = current_settings().bootstrap_admin_token
        current = at_head(connection) and (token is None or token_stored(connection, token))
    except SQLAlchemyError as exc:
        log.warning("readiness: database check failed: %s", exc.__class__.__name__)
        return "unavailable"
    finally:
        db.session.rollback()
    return "ok" if current else "migrating"


def _check_redis() -> str:
    try:
        get_redis().ping()
    except redis.RedisError as exc:
        log.warning("readiness: redis check failed: %s", exc.__class__.__name__)
        return "unavailable"
    return "ok"

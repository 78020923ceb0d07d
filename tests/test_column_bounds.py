"""What a request model accepts, its column can store: walk every column and every field.

For each column the API writes or filters on, the values its type cannot hold are derived from
the type (length, int4 range, NUL and lone surrogates in text, instants beyond what timestamptz
and Python share, values outside an enum) and every request field bound to that column must
refuse them with a validation error. A few of those values go to PostgreSQL too, to show they
really are unstorable. A DataError that still slips through answers 422, not 500.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, get_args

import pytest
from flask import Flask
from pydantic import BaseModel, ValidationError
from sqlalchemy import Boolean, Column, DateTime, Enum, Integer, String, Text, text
from sqlalchemy.exc import DataError, StatementError
from sqlalchemy.types import TypeDecorator

from server.infra.database import db
from server.models import Base
from server.schemas import access, projects, tags, tasks
from server.schemas.common import MAX_INT4, Input, PageQuery

from support.auth import AuthenticatedClient, client_of

# Request models and the table their fields write to (or filter on).
MODELS: dict[type[Input], str] = {
    projects.ProjectCreate: "projects",
    projects.ProjectReplace: "projects",
    projects.ProjectUpdate: "projects",
    projects.ProjectQuery: "projects",
    tags.TagCreate: "tags",
    tasks.TaskCreate: "tasks",
    tasks.TaskReplace: "tasks",
    tasks.TaskUpdate: "tasks",
    tasks.TaskQuery: "tasks",
    tags.TagQuery: "tags",
    access.PrincipalCreate: "principals",
    access.PrincipalUpdate: "principals",
    access.PrincipalQuery: "principals",
    access.TokenCreate: "api_tokens",
}
# Fields whose column is not the same-named column of the model's table.
ELSEWHERE = {
    "tags": "tags.name",
    "tag": "tags.name",
    "expires_in_days": "api_tokens.expires_at",  # now plus that many days
}
# Paging parameters go into LIMIT/OFFSET (bigint), not into a column.
PAGING = set(PageQuery.model_fields)
# Columns the server fills itself; no request field may write them.
SERVER_MANAGED = {"id", "created_at", "updated_at", "version", "owner_id"}  # owner: the actor


def unstorable(column: Column[Any]) -> Iterator[Any]:
    """Values, as a client would send them in JSON, that this column's type cannot hold."""
    kind = column.type
    if isinstance(kind, TypeDecorator):  # what the database stores (server/models/base.py)
        kind = kind.impl_instance
    if isinstance(kind, Enum):
        yield "not-a-" + "-".join(kind.enums)
        return
    if isinstance(kind, Boolean):
        # PostgreSQL would read these as booleans; JSON says they are not.
        yield "yes"
        yield 1
        return
    if isinstance(kind, String | Text):
        if length := getattr(kind, "length", None):
            yield "x" * (length + 1)
        yield "a\x00b"
        yield "a\ud800b"
        return
    if isinstance(kind, Integer):
        yield MAX_INT4 + 1
        yield -(2**31) - 1
        return
    if isinstance(kind, DateTime):
        # Year 1 east of Greenwich is 1 BC in UTC; year 9999 west of it is 10000.
        yield datetime(1, 1, 1, 1, tzinfo=timezone(timedelta(hours=5))).isoformat()
        yield datetime(9999, 12, 31, 23, tzinfo=timezone(timedelta(hours=-5))).isoformat()
        yield "0001-01-01T00:00:00+23:59"
        return
    raise AssertionError(f"no unstorable values known for {column} ({kind!r}): add them")


def column_of(model: type[Input], field: str) -> Column[Any]:
    table = MODELS[model]
    # `after` is the sort key of its table: the id, or a tag's name.
    after = "tags.name" if table == "tags" else f"{table}.id"
    name = after if field == "after" else ELSEWHERE.get(field, f"{table}.{field}")
    table, column = name.split(".")
    return Base.metadata.tables[table].c[column]


def is_list(model: type[BaseModel], field: str) -> bool:
    annotation = model.model_fields[field].annotation
    return any(
        getattr(arg, "__origin__", None) is list for arg in (annotation, *get_args(annotation))
    )


FIELD_CASES = [
    (model, field, value)
    for model in MODELS
    for field in model.model_fields
    if field not in PAGING
    for value in unstorable(column_of(model, field))
]


def test_every_field_is_bound_to_a_column() -> None:
    for model in MODELS:
        for field in model.model_fields:
            if field not in PAGING:
                assert column_of(model, field) is not None, (model, field)


def test_every_writable_column_has_a_field() -> None:
    written = {str(column_of(m, f)) for m in MODELS for f in m.model_fields if f not in PAGING}
    for table in ("projects", "tasks", "tags"):
        for column in Base.metadata.tables[table].c:
            if column.name not in SERVER_MANAGED:
                assert f"{table}.{column.name}" in written, column


@pytest.mark.parametrize(
    ("model", "field", "value"),
    FIELD_CASES,
    ids=[f"{m.__name__}.{f}-{str(v)[:12]!r}" for m, f, v in FIELD_CASES],
)
def test_field_refuses_what_its_column_cannot_store(
    model: type[Input], field: str, value: Any
) -> None:
    sent = [value] if is_list(model, field) else value
    with pytest.raises(ValidationError):
        # The field's type, constraints and validators, as the model applies them.
        model.__pydantic_validator__.validate_assignment(model.model_construct(), field, sent)


def test_integer_bounds_fit_postgres(app: Flask) -> None:
    with app.app_context():
        for value in (MAX_INT4 + 1, -(2**31) - 1):
            with pytest.raises(DataError):
                db.session.execute(text("SELECT CAST(:v AS int4)"), {"v": value})
            db.session.rollback()


@pytest.mark.parametrize(
    "value",
    [
        datetime(1, 1, 1, 1, tzinfo=timezone(timedelta(hours=5))),
        datetime(9999, 12, 31, 23, tzinfo=timezone(timedelta(hours=-5))),
    ],
)
def test_instants_beyond_python_do_not_come_back(app: Flask, value: datetime) -> None:
    """PostgreSQL stores them, but the row could not be read back: a 500 on every read."""
    with app.app_context():
        # As read in UTC (a session in another zone shifts where the year ends).
        db.session.execute(text("SET LOCAL TIME ZONE 'UTC'"))
        with pytest.raises((ValueError, StatementError)):
            db.session.execute(text("SELECT CAST(:v AS timestamptz)"), {"v": value}).scalar_one()
        db.session.rollback()


def test_text_with_nul_is_refused_by_the_driver(app: Flask) -> None:
    with app.app_context():
        with pytest.raises((ValueError, StatementError)):
            db.session.execute(text("SELECT CAST(:v AS text)"), {"v": "a\x00b"})
        db.session.rollback()


@pytest.mark.parametrize(
    "due_at",
    [
        "0001-01-01T01:00:00+05:00",
        "9999-12-31T23:00:00-05:00",
        "0001-01-01T00:00:00+23:59",
    ],
)
def test_unstorable_due_at_is_422_not_500(client: AuthenticatedClient, due_at: str) -> None:
    project = client.post("/api/v1/projects", json={"name": "bounds"}).json
    response = client.post(
        "/api/v1/tasks", json={"project_id": project["id"], "title": "t", "due_at": due_at}
    )
    assert response.status_code == 422, response.json
    assert response.json["errors"][0]["field"] == "due_at"


def test_due_at_with_an_odd_offset_is_stored_as_its_instant(client: AuthenticatedClient) -> None:
    project = client.post("/api/v1/projects", json={"name": "offsets"}).json
    due_at = "2030-06-01T12:00:00+14:45"
    response = client.post(
        "/api/v1/tasks", json={"project_id": project["id"], "title": "t", "due_at": due_at}
    )
    assert response.status_code == 201, response.json
    stored = datetime.fromisoformat(response.json["due_at"])
    assert stored == datetime.fromisoformat(due_at)
    assert stored.astimezone(UTC) == datetime(2030, 5, 31, 21, 15, tzinfo=UTC)


def test_lone_surrogate_is_422(client: AuthenticatedClient) -> None:
    response = client.post(
        "/api/v1/projects",
        data=b'{"name": "a\\ud800b"}',
        content_type="application/json",
    )
    assert response.status_code == 422, response.json


def test_a_data_error_that_slips_through_is_422_problem(make_app: Callable[..., Flask]) -> None:
    app = make_app()

    @app.get("/test-only/overflow")
    def overflow() -> str:
        db.session.execute(text("SELECT CAST(:v AS int4)"), {"v": 2**40})
        return "unreachable"

    response = client_of(app).get("/test-only/overflow")
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    assert response.json["type"].endswith("/unstorable")


def test_a_nul_that_slips_through_is_422_problem(make_app: Callable[..., Flask]) -> None:
    """psycopg2 refuses a NUL in a parameter with a ValueError of its own, not a DataError."""
    app = make_app()

    @app.get("/test-only/nul")
    def nul() -> str:
        db.session.execute(text("SELECT CAST(:v AS text)"), {"v": "a\x00b"})
        return "unreachable"

    response = client_of(app).get("/test-only/nul")
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    assert response.json["type"].endswith("/unstorable")

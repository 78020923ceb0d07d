"""The OpenAPI document covers every route, from the same models that validate requests."""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from flask import Flask
from jsonschema import Draft202012Validator
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from server.api.contract import contract_of
from server.errors import TYPE_BASE
from server.schemas.problem import ProblemDetails
from server.web.docs import DOCS_CSP
from server.web.openapi import operation_ids

from support.auth import AuthenticatedClient

ROOT = Path(__file__).resolve().parent.parent


def test_document_is_openapi_3_1(client: AuthenticatedClient) -> None:
    doc = client.get("/openapi.json").json
    assert doc["openapi"] == "3.1.0"
    assert doc["info"]["title"] == "flask-nix-stack"


def test_every_api_route_is_documented_with_its_contract(
    app: Flask, client: AuthenticatedClient
) -> None:
    doc = client.get("/openapi.json").json
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(("/api/", "/health/")):
            continue
        assert contract_of(app.view_functions[rule.endpoint]) is not None, rule.rule
        path = rule.rule
        for name in rule.arguments:
            path = path.replace(f"<id:{name}>", "{" + name + "}")
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}:
            assert method.lower() in doc["paths"][path], (method, path)


def test_operation_details(client: AuthenticatedClient) -> None:
    doc = client.get("/openapi.json").json
    create = doc["paths"]["/api/v1/tasks"]["post"]
    assert create["summary"] == "Create a task in a project, with tags."
    body = create["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/TaskCreate"}
    assert set(create["responses"]) >= {"201", "400", "413", "415", "422", "429", "500"}
    assert set(create["responses"]["201"]["headers"]) == {"ETag", "Location"}
    problem = create["responses"]["422"]["content"]["application/problem+json"]["schema"]
    assert problem == {"$ref": "#/components/schemas/ProblemDetails"}
    schema = doc["components"]["schemas"]["TaskCreate"]
    assert schema["additionalProperties"] is False
    assert set(schema["required"]) == {"project_id", "title"}

    patch = doc["paths"]["/api/v1/tasks/{task_id}"]["patch"]
    names = {(p["in"], p["name"]) for p in patch["parameters"]}
    assert names == {("path", "task_id"), ("header", "If-Match")}
    assert {"404", "409", "412", "428"} <= set(patch["responses"])
    task_id = next(p for p in patch["parameters"] if p["name"] == "task_id")
    assert task_id["schema"] == {"type": "integer", "minimum": 1, "maximum": 2147483647}

    listing = doc["paths"]["/api/v1/tasks"]["get"]
    query = {p["name"] for p in listing["parameters"] if p["in"] == "query"}
    assert query == {"limit", "offset", "after", "project_id", "status", "tag"}


def test_docs_page_is_self_hosted(client: AuthenticatedClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "/docs/assets/swagger-ui-bundle.js" in html
    assert "http" not in html.replace("http-equiv", "")  # nothing from another origin
    assert page.headers["Content-Security-Policy"] == DOCS_CSP
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    with client.get("/docs/assets/swagger-ui-bundle.js") as bundle:
        assert bundle.status_code == 200
        assert len(bundle.get_data()) > 100_000
    assert client.get("/docs/assets/../../../etc/passwd").status_code == 404


def operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method, op) for path, ops in doc["paths"].items() for method, op in ops.items()]


def test_every_operation_has_a_summary_and_a_description(client: AuthenticatedClient) -> None:
    doc = client.get("/openapi.json").json
    for path, method, op in operations(doc):
        assert op["summary"].endswith("."), (method, path)
        assert op["description"].startswith("Answers ") or op["tags"] == ["health"], (method, path)
    delete = doc["paths"]["/api/v1/projects/{project_id}"]["delete"]
    assert delete["description"].startswith("Answers 204 No Content.")
    assert "`If-Match`" in delete["description"]
    ready = doc["paths"]["/health/ready"]["get"]
    assert ready["summary"] == (
        "PostgreSQL answers with the schema at the newest migration, and Redis answers PING."
    )
    # The docstring's paragraphs after the summary come first, then the contract's promises.
    assert ready["description"].startswith("For a load balancer's readiness probe: 503")
    assert ready["description"].endswith("Answers 200 OK with a `Ready`.")


def test_tags_servers_contact_and_license_are_declared(client: AuthenticatedClient) -> None:
    doc = client.get("/openapi.json").json
    declared = {tag["name"]: tag["description"] for tag in doc["tags"]}
    used = {tag for _, _, op in operations(doc) for tag in op["tags"]}
    assert set(declared) == used == {"projects", "tasks", "tags", "health", "access", "admin"}
    assert all(declared.values())
    assert doc["servers"] == [{"url": "/", "description": "The server that serves this document."}]
    assert doc["info"]["contact"]["name"]
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert doc["info"]["license"]["identifier"] == project["license"]


def test_every_component_is_used(client: AuthenticatedClient) -> None:
    doc = client.get("/openapi.json").json
    text = json.dumps({"paths": doc["paths"], "components": doc["components"]})
    for name in doc["components"]["schemas"]:
        assert f'"#/components/schemas/{name}"' in text, name
    assert "ProjectQuery" not in doc["components"]["schemas"]  # query models are inlined


def test_bodies_have_examples_the_models_accept(app: Flask, client: AuthenticatedClient) -> None:
    """Each request and answer body carries an example, and it is one the model accepts."""
    doc = client.get("/openapi.json").json
    for rule in app.url_map.iter_rules():
        spec = contract_of(app.view_functions[rule.endpoint])
        if spec is None:
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}:
            op = doc["paths"][path][method.lower()]
            if spec.body is not None:
                example = op["requestBody"]["content"]["application/json"]["example"]
                spec.body.model_validate(example)
            if spec.response is not None:
                example = op["responses"][str(spec.status)]["content"]["application/json"]
                spec.response.model_validate(example["example"])
            for status, answer in op["responses"].items():
                if int(status) >= 400:
                    problem = answer["content"]["application/problem+json"]["example"]
                    ProblemDetails.model_validate(problem)
                    assert problem["status"] == int(status)
                    assert problem["type"].startswith(TYPE_BASE)


def test_operation_ids_are_unique_method_names(client: AuthenticatedClient) -> None:
    """Generated clients name their methods after operationIds: each is a distinct identifier
    without the URL's /api prefix (api_projects_list_projects became ProjectsApi's
    api_projects_list_projects and Go's ApiApiProjectsListProjectsRequest)."""
    doc = client.get("/openapi.json").json
    ids = [op["operationId"] for _, _, op in operations(doc)]
    assert len(ids) == len(set(ids)), sorted(ids)
    for name in ids:
        assert re.fullmatch(r"[a-z][a-z0-9]*(_[a-z0-9]+)*", name), name
        assert not name.startswith(("api_", "v1_")), name
    projects = doc["paths"]["/api/v1/projects"]
    assert (projects["get"]["operationId"], projects["post"]["operationId"]) == (
        "list_projects",
        "create_project",
    )


def test_shared_view_names_are_qualified() -> None:
    ids = operation_ids(
        [
            ("api.access.list_tokens", "get"),
            ("api.admin.list_tokens", "get"),
            ("api.projects.list_projects", "get"),
            ("api.items.items", "get"),
            ("api.items.items", "post"),
        ]
    )
    assert ids == {
        ("api.access.list_tokens", "get"): "access_list_tokens",
        ("api.admin.list_tokens", "get"): "admin_list_tokens",
        ("api.projects.list_projects", "get"): "list_projects",
        ("api.items.items", "get"): "items_get",
        ("api.items.items", "post"): "items_post",
    }


def _schemas_in(node: Any, at: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every schema object under ``node`` (``at`` is its JSON pointer), nested ones included."""
    if isinstance(node, dict):
        if {"type", "enum", "anyOf", "$ref", "pattern"} & set(node):
            yield at, node
        for key, value in node.items():
            if key not in ("example", "examples", "default"):
                yield from _schemas_in(value, f"{at}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _schemas_in(value, f"{at}/{index}")


def test_every_enum_is_a_named_component(client: AuthenticatedClient) -> None:
    """An enum inline in a property becomes one generated type per property (TokenOutScopesItem,
    MeOutScopesItem, ... for the same three scopes) or a bare string; a named one is one type."""
    doc = client.get("/openapi.json").json
    named = {f"/components/schemas/{name}" for name in doc["components"]["schemas"]}
    inline = [at for at, schema in _schemas_in(doc, "") if "enum" in schema and at not in named]
    assert inline == []


def test_patterns_mean_the_same_in_every_regex_dialect(client: AuthenticatedClient) -> None:
    """\\w, \\d, \\s and \\b are Unicode-aware in Python and pydantic, ASCII in JavaScript
    (which JSON Schema validators and generated clients use): "josé" matched the server's
    principal-name pattern and not a client's. Patterns spell their classes out."""
    doc = client.get("/openapi.json").json
    patterns = [
        (at, schema["pattern"]) for at, schema in _schemas_in(doc, "") if "pattern" in schema
    ]
    patterns += [
        (f"{path} {parameter['name']}", parameter["schema"]["pattern"])
        for path, _, op in operations(doc)
        for parameter in op["parameters"]
        if "pattern" in parameter["schema"]
    ]
    assert len(patterns) >= 5
    dialect_bound = [(at, p) for at, p in patterns if re.search(r"\\[wWdDsSbB]", p)]
    assert dialect_bound == []


def test_no_pattern_sits_beside_a_format(client: AuthenticatedClient) -> None:
    """Generated clients turn a formatted string into a native value first (a date-time into a
    datetime, a uuid into a UUID) and match a pattern beside it against that value:
    openapi-generator's Python client up to 7.23 refused every `due_at` a caller set. What a
    format admits and the server refuses is a `not`, which they leave alone."""
    doc = client.get("/openapi.json").json
    formatted = [at for at, schema in _schemas_in(doc, "") if "format" in schema]
    assert any(at.endswith("/due_at/anyOf/0") for at in formatted), formatted
    both = [at for at, schema in _schemas_in(doc, "") if {"format", "pattern"} <= set(schema)]
    assert both == []


def test_parameters_are_never_null(client: AuthenticatedClient) -> None:
    """A query string, path or header has no null: an optional parameter is left out. A null
    branch makes generators type it ``int | None`` and lets callers send ``after=None``."""
    doc = client.get("/openapi.json").json
    for path, method, op in operations(doc):
        for parameter in op["parameters"]:
            text = json.dumps(parameter["schema"])
            assert '"null"' not in text, (method, path, parameter["name"], text)
            assert parameter["schema"].get("default", 0) is not None, (path, parameter)


def test_request_bodies_leave_defaults_to_the_server(client: AuthenticatedClient) -> None:
    """openapi-typescript (7, by default) makes a property with a ``default`` required: its
    client had to send every field of a PATCH, ``due_at: null`` (which clears the date)
    included. No schema a request body names has one; a field the server fills in says what
    with, and a left-out field still gets it."""
    doc = client.get("/openapi.json").json
    schemas = doc["components"]["schemas"]
    bodies = json.dumps([op["requestBody"] for _, _, op in operations(doc) if "requestBody" in op])
    named = set(re.findall(r'"#/components/schemas/([^"]+)"', bodies))
    assert {"ProjectCreate", "TaskCreate", "TaskUpdate", "TokenCreate"} <= named
    with_default = [
        (name, at)
        for name in named
        for at, schema in _schemas_in(schemas[name], "")
        if "default" in schema
    ]
    assert with_default == []
    assert schemas["TaskCreate"]["properties"]["status"]["description"] == 'Left out: `"todo"`.'
    created = client.post("/api/v1/projects", json={"name": "defaults left out"})
    assert created.status_code == 201
    assert created.json["description"] == ""


def test_rate_limited_and_unavailable_answers_declare_their_headers(
    client: AuthenticatedClient,
) -> None:
    doc = client.get("/openapi.json").json
    for path, method, op in operations(doc):
        limited = op["responses"]["429"]["headers"]
        assert set(limited) == {
            "Retry-After",
            "X-RateLimit-Limit",
            "X-RateLimit-Remaining",
            "X-RateLimit-Reset",
        }, (method, path)
        assert all(header["required"] for header in limited.values())
        assert "Retry-After" in op["responses"]["503"]["headers"]


def test_examples_match_the_documents_own_schemas(client: AuthenticatedClient) -> None:
    """What a generated client validates against is the document's JSON Schema, not our models:
    every example must pass it too (Draft 2020-12, OpenAPI 3.1's dialect)."""
    doc = client.get("/openapi.json").json
    registry: Registry[Any] = Registry().with_resource(
        "urn:openapi", DRAFT202012.create_resource(doc)
    )
    checked = 0
    for path, method, op in operations(doc):
        answers = [op.get("requestBody", {}), *op["responses"].values()]
        for answer in answers:
            for media_type, content in answer.get("content", {}).items():
                schema = json.loads(
                    json.dumps(content["schema"]).replace(
                        '"#/components', '"urn:openapi#/components'
                    )
                )
                errors = list(
                    Draft202012Validator(schema, registry=registry).iter_errors(content["example"])
                )
                assert errors == [], (method, path, media_type, [e.message for e in errors])
                checked += 1
    assert checked > 100

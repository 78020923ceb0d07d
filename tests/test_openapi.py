"""The OpenAPI document covers every route, from the same models that validate requests."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from server.api.contract import contract_of
from server.web.docs import DOCS_CSP


def test_document_is_openapi_3_1(client: FlaskClient) -> None:
    doc = client.get("/openapi.json").json
    assert doc["openapi"] == "3.1.0"
    assert doc["info"]["title"] == "flask-nix-stack"


def test_every_api_route_is_documented_with_its_contract(app: Flask, client: FlaskClient) -> None:
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


def test_operation_details(client: FlaskClient) -> None:
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
    assert query == {"limit", "offset", "project_id", "status", "tag"}


def test_docs_page_is_self_hosted(client: FlaskClient) -> None:
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

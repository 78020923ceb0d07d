"""The OpenAPI 3.1 document, built from the routes and their contracts (server/api/contract.py)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from http import HTTPStatus
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from flask import Flask
from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from server.api.contract import Contract, contract_of
from server.api.converters import IdConverter
from server.auth.gate import required_scope
from server.config.runtime import current_settings
from server.errors import PROBLEM_MEDIA_TYPE
from server.schemas.problem import ProblemDetails
from server.web.openapi_examples import model_example, problem_example
from server.web.openapi_text import TAGS, contract_text, docstring

REF = "#/components/schemas/{model}"
CONVERTER = re.compile(r"<(?:(?P<conv>\w+)(?:\((?P<args>[^)]*)\))?:)?(?P<name>\w+)>")
DOCUMENTED_PREFIXES = ("/api/", "/health/")
# Turns a model into a $ref to its schema in components.
Ref = Callable[[type[BaseModel], JsonSchemaMode], dict[str, Any]]

LICENSE = {"name": "MIT", "identifier": "MIT"}
CONTACT = {"name": "flask-nix-stack maintainers"}


def build_openapi(app: Flask) -> dict[str, Any]:
    """Every documented route with a contract, its parameters, bodies, answers and errors."""
    operations: list[tuple[str, str, Contract, str]] = []
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if not rule.rule.startswith(DOCUMENTED_PREFIXES):
            continue
        view = app.view_functions[rule.endpoint]
        spec = contract_of(view)
        if spec is None:
            continue
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            operations.append((rule.rule, method.lower(), spec, rule.endpoint))

    models = _models(spec for _, _, spec, _ in operations)
    names, definitions = models_json_schema(models, ref_template=REF)

    def ref(model: type[BaseModel], mode: JsonSchemaMode) -> dict[str, Any]:
        return dict(names[(model, mode)])

    gate = app.extensions["auth_gate"]
    schemes = security_schemes(app)
    paths: dict[str, dict[str, Any]] = {}
    for url_rule, method, spec, endpoint in operations:
        path, parameters = _path(url_rule)
        view = app.view_functions[endpoint]
        summary, description = docstring(view, endpoint)
        public = endpoint.split(".")[0] in gate.public_blueprints
        scope = None if public else required_scope(view, method.upper())
        operation: dict[str, Any] = {
            "operationId": endpoint.replace(".", "_"),
            "summary": summary,
            "description": "\n\n".join(filter(None, [description, contract_text(spec)])),
            "tags": [endpoint.split(".")[-2] if "." in endpoint else "default"],
            "parameters": parameters + _query(spec, ref) + _if_match(spec),
            "responses": _responses(spec, ref, has_id=bool(parameters), scope=scope),
            # OpenAPI 3.1 lets a bearer requirement name the roles (our scopes) it needs.
            "security": [] if scope is None else [{name: [scope]} for name in schemes],
        }
        if spec.body is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": _media(spec.body, ref(spec.body, "validation"))},
            }
        paths.setdefault(path, {})[method] = operation

    used_tags = sorted({tag for ops in paths.values() for op in ops.values() for tag in op["tags"]})
    document = {
        "openapi": "3.1.0",
        "info": {
            "title": "flask-nix-stack",
            "version": _version(),
            "description": "Projects own tasks; tasks carry tags. Errors are RFC 9457 problem "
            "details (application/problem+json). Every operation but the health probes needs "
            "a bearer token with its scope (read, write or admin).",
            "contact": CONTACT,
            "license": LICENSE,
        },
        # Relative: the document describes the server that serves it, wherever that is.
        "servers": [{"url": "/", "description": "The server that serves this document."}],
        "tags": [{"name": tag, "description": TAGS.get(tag, "")} for tag in used_tags],
        "paths": paths,
        "components": {"schemas": definitions.get("$defs", {}), "securitySchemes": schemes},
        "security": [{name: []} for name in schemes],
    }
    _drop_unused_schemas(document)
    return document


def _media(model: type[BaseModel], schema: dict[str, Any]) -> dict[str, Any]:
    """A media type object: the model's schema, and its example when it has one."""
    media: dict[str, Any] = {"schema": schema}
    example = model_example(model)
    if example is not None:
        media["example"] = example
    return media


def _drop_unused_schemas(document: dict[str, Any]) -> None:
    """Keep only the component schemas the operations reach (query models are inlined)."""
    schemas = document["components"]["schemas"]
    reached: set[str] = set()
    frontier = json.dumps(document["paths"])
    while True:
        found = set(re.findall(r'"#/components/schemas/([^"]+)"', frontier)) - reached
        if not found:
            break
        reached |= found
        frontier = json.dumps([schemas[name] for name in found])
    for name in set(schemas) - reached:
        del schemas[name]


def security_schemes(app: Flask) -> dict[str, Any]:
    """Our bearer tokens, and the OIDC provider's when one is configured."""
    schemes: dict[str, Any] = {
        "bearerAuth": {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "fns_<prefix>_<secret>",
            "description": "An API token (flask-nix-stack tokens create), with the scopes "
            "read, write and admin.",
        }
    }
    settings = current_settings(app)
    if settings.oidc_issuer:
        schemes["oidc"] = {
            "type": "openIdConnect",
            "openIdConnectUrl": settings.oidc_issuer.rstrip("/")
            + "/.well-known/openid-configuration",
            "description": "JWT access tokens from the identity provider (its scope claim).",
        }
    return schemes


def _models(specs: Iterable[Contract]) -> list[tuple[type[BaseModel], JsonSchemaMode]]:
    seen: dict[tuple[type[BaseModel], JsonSchemaMode], None] = {
        (ProblemDetails, "serialization"): None
    }
    for spec in specs:
        if spec.body is not None:
            seen[(spec.body, "validation")] = None
        if spec.query is not None:
            seen[(spec.query, "validation")] = None
        if spec.response is not None:
            seen[(spec.response, "serialization")] = None
    return list(seen)


def _path(rule: str) -> tuple[str, list[dict[str, Any]]]:
    parameters = []
    for match in CONVERTER.finditer(rule):
        schema: dict[str, Any] = {"type": "string"}
        if match["conv"] == "id":
            schema = {
                "type": "integer",
                "minimum": IdConverter.minimum,
                "maximum": IdConverter.maximum,
            }
        elif match["conv"] == "int":
            schema = {"type": "integer"}
            for arg in (match["args"] or "").split(","):
                key, _, value = arg.strip().partition("=")
                if key == "min":
                    schema["minimum"] = int(value)
                elif key == "max":
                    schema["maximum"] = int(value)
        parameters.append({"name": match["name"], "in": "path", "required": True, "schema": schema})
    return CONVERTER.sub(lambda m: "{" + m["name"] + "}", rule), parameters


def _query(spec: Contract, ref: Ref) -> list[dict[str, Any]]:
    if spec.query is None:
        return []
    schema = spec.query.model_json_schema(ref_template=REF)
    required = set(schema.get("required", []))
    return [
        {
            "name": name,
            "in": "query",
            "required": name in required,
            "description": prop.pop("description", ""),
            "schema": prop,
        }
        for name, prop in schema["properties"].items()
    ]


def _if_match(spec: Contract) -> list[dict[str, Any]]:
    if not spec.conditional:
        return []
    return [
        {
            "name": "If-Match",
            "in": "header",
            "required": False,
            "description": 'The ETag of your last read ("v<version>"), or *.',
            "schema": {"type": "string"},
        }
    ]


def _responses(spec: Contract, ref: Ref, *, has_id: bool, scope: str | None) -> dict[str, Any]:
    success: dict[str, Any] = {"description": HTTPStatus(spec.status).phrase}
    if spec.response is not None:
        schema = ref(spec.response, "serialization")
        success["content"] = {"application/json": _media(spec.response, schema)}
    headers = {}
    if spec.etag:
        headers["ETag"] = {"schema": {"type": "string"}, "description": "The resource's version."}
    if spec.created:
        headers["Location"] = {"schema": {"type": "string"}, "description": "Its URL."}
    if headers:
        success["headers"] = headers
    # Malformed requests, a request line or headers over the server's limits, rate limits, and
    # the server's own failures.
    statuses = {400, 414, 429, 431, 500, 503}
    if scope is not None:
        statuses |= {401, 403}  # no or bad credential; a credential without the scope
    if spec.query is not None or spec.body is not None:
        statuses.add(422)
    if spec.body is not None:
        statuses |= {413, 415}
    if has_id:
        statuses.add(404)
    if spec.conflicts:
        statuses.add(409)
    if spec.conditional:
        statuses |= {412, 428}
    problem = ref(ProblemDetails, "serialization")
    responses = {str(spec.status): success}
    for status in sorted(statuses):
        responses[str(status)] = {
            "description": HTTPStatus(status).phrase,
            "content": {
                PROBLEM_MEDIA_TYPE: {"schema": problem, "example": problem_example(status)}
            },
        }
    for status in (401, 403):
        if str(status) in responses:
            responses[str(status)]["headers"] = {
                "WWW-Authenticate": {
                    "schema": {"type": "string"},
                    "description": "RFC 6750 challenge: Bearer, with error and scope.",
                }
            }
    return responses


def _version() -> str:
    try:
        return version("flask-nix-stack")
    except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "0"

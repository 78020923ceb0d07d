"""The OpenAPI 3.1 document, built from the routes and their contracts (server/api/contract.py)."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from flask import Flask
from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from server.api.contract import Contract, contract_of
from server.api.converters import IdConverter
from server.auth.gate import required_scope
from server.config.runtime import current_settings
from server.schemas.problem import ProblemDetails
from server.web.openapi_answers import Ref, if_match, media, responses
from server.web.openapi_text import TAGS, contract_text, docstring

REF = "#/components/schemas/{model}"
CONVERTER = re.compile(r"<(?:(?P<conv>\w+)(?:\((?P<args>[^)]*)\))?:)?(?P<name>\w+)>")
DOCUMENTED_PREFIXES = ("/api/", "/health/")
NULL = {"type": "null"}
SCHEMA_REF = re.compile(r'"#/components/schemas/([^"]+)"')

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
    ids = operation_ids([(endpoint, method) for _, method, _, endpoint in operations])
    paths: dict[str, dict[str, Any]] = {}
    for url_rule, method, spec, endpoint in operations:
        path, parameters = _path(url_rule)
        view = app.view_functions[endpoint]
        summary, description = docstring(view, endpoint)
        public = endpoint.split(".")[0] in gate.public_blueprints
        scope = None if public else required_scope(view, method.upper())
        operation: dict[str, Any] = {
            "operationId": ids[endpoint, method],
            "summary": summary,
            "description": "\n\n".join(filter(None, [description, contract_text(spec)])),
            "tags": [endpoint.split(".")[-2] if "." in endpoint else "default"],
            "parameters": parameters + _query(spec, ref) + if_match(spec),
            "responses": responses(spec, ref, has_id=bool(parameters), scope=scope),
            # OpenAPI 3.1 lets a bearer requirement name the roles (our scopes) it needs.
            "security": [] if scope is None else [{name: [scope]} for name in schemes],
        }
        if spec.body is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": media(spec.body, ref(spec.body, "validation"))},
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
        "components": {
            "schemas": definitions.get("$defs", {}),
            "securitySchemes": schemes,
        },
        "security": [{name: []} for name in schemes],
    }
    _drop_unused_schemas(document)
    _leave_body_defaults_to_the_server(document)
    return document


def _leave_body_defaults_to_the_server(document: dict[str, Any]) -> None:
    """No ``default`` in what request bodies reach: a field's description says what leaving it
    out means instead.

    openapi-typescript (7, by default) makes a property with a default required: a client had
    to send ``due_at: null`` with every PATCH, which clears the date, where leaving it out
    keeps it (a Patch's ``default: null`` was never what absence means). Other generators put
    the default in the client, which then sends today's default for good.
    """
    schemas = document["components"]["schemas"]
    bodies = [op.get("requestBody") for ops in document["paths"].values() for op in ops.values()]
    for name in _schemas_reached(schemas, bodies):
        for prop in schemas[name].get("properties", {}).values():
            if "default" not in prop:
                continue
            default = prop.pop("default")
            if default is not None:  # null: what leaving it out means is the model's to say
                left_out = f"Left out: `{json.dumps(default)}`."
                prop["description"] = " ".join(filter(None, [prop.get("description"), left_out]))


def _drop_unused_schemas(document: dict[str, Any]) -> None:
    """Keep only the component schemas the operations reach (query models are inlined)."""
    schemas = document["components"]["schemas"]
    for name in set(schemas) - _schemas_reached(schemas, document["paths"]):
        del schemas[name]


def _schemas_reached(schemas: dict[str, Any], start: object) -> set[str]:
    """The component schemas ``start`` refers to, and those they refer to in turn."""
    reached: set[str] = set()
    found = set(SCHEMA_REF.findall(json.dumps(start)))
    while found:
        reached |= found
        found = set(SCHEMA_REF.findall(json.dumps([schemas[name] for name in found]))) - reached
    return reached


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


def operation_ids(operations: list[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """Each (endpoint, method)'s operationId: its view's name, which generated clients turn into
    a method name (``list_projects``, ``listProjects``). A name several blueprints' views share
    is prefixed with the blueprint (``admin_list_tokens``), and with the method if one view
    serves several."""

    def view(endpoint: str) -> str:
        return endpoint.rsplit(".", 1)[-1]

    def qualified(endpoint: str) -> str:
        parts = endpoint.split(".")
        return "_".join(parts[-2:])

    names = Counter(view(endpoint) for endpoint in {endpoint for endpoint, _ in operations})
    ids = {op: view(op[0]) if names[view(op[0])] == 1 else qualified(op[0]) for op in operations}
    repeated = Counter(ids.values())
    ids = {op: f"{name}_{op[1]}" if repeated[name] > 1 else name for op, name in ids.items()}
    if len(set(ids.values())) != len(ids):
        raise ValueError(f"operationIds collide: {sorted(ids.values())}")
    return ids


def _query(spec: Contract, ref: Ref) -> list[dict[str, Any]]:
    """The query model's fields as parameters. A query string has no null: an optional field is
    left out, not sent as null, so its schema is the non-null branch with no ``default: null``
    (generators would type it ``int | None`` and some would send ``after=None``)."""
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
            "schema": _not_null(prop),
        }
        for name, prop in schema["properties"].items()
    ]


def _not_null(schema: dict[str, Any]) -> dict[str, Any]:
    branches = schema.get("anyOf", [])
    if NULL not in branches:
        return schema
    rest = [branch for branch in branches if branch != NULL]
    outer = {k: v for k, v in schema.items() if k != "anyOf" and not (k == "default" and v is None)}
    return {**outer, **rest[0]} if len(rest) == 1 else {**outer, "anyOf": rest}


def _version() -> str:
    try:
        return version("flask-nix-stack")
    except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "0"

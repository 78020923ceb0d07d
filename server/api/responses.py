"""JSON responses from Pydantic models, with ETag, Location and next-page links."""

from __future__ import annotations

from typing import Any

from flask import Response, request, url_for
from pydantic import BaseModel

from server.api.request_parsing import etag
from server.schemas.common import Page


def json_response(
    model: BaseModel, status: int = 200, *, version: int | None = None, location: str | None = None
) -> Response:
    response = Response(model.model_dump_json(), status, mimetype="application/json")
    if version is not None:
        response.headers["ETag"] = etag(version)
    if location is not None:
        response.headers["Location"] = location
    return response


def page_response(items: list[BaseModel], total: int, limit: int, offset: int) -> Response:
    following = None
    if offset + limit < total:
        values: dict[str, Any] = {**(request.view_args or {}), **request.args.to_dict()}
        values.update(limit=str(limit), offset=str(offset + limit))
        following = url_for(request.endpoint or "", **values)
    page = Page[BaseModel](items=items, total=total, limit=limit, offset=offset, next=following)
    return json_response(page)


def no_content() -> Response:
    return Response(status=204)

"""/api/v1/tags"""

from __future__ import annotations

from flask import Blueprint, Response, url_for

from server.api.request_parsing import expected_version, parse_body, parse_query
from server.api.responses import json_response, no_content, page_response
from server.cache import cached_read
from server.schemas.tags import TagCreate, TagOut, TagQuery
from server.services import tags

bp = Blueprint("tags", __name__, url_prefix="/tags")
ID = "<int(min=1, max=2147483647):tag_id>"


@bp.get("")
@cached_read
def list_tags() -> Response:
    """List tags by name."""
    query = parse_query(TagQuery)
    rows, total = tags.list_tags(limit=query.limit, offset=query.offset)
    return page_response([TagOut.model_validate(t) for t in rows], total, query.limit, query.offset)


@bp.post("")
def create_tag() -> Response:
    """Create a tag."""
    body = parse_body(TagCreate)
    tag = tags.create_tag(body.name)
    location = url_for(".get_tag", tag_id=tag.id)
    return json_response(TagOut.model_validate(tag), 201, version=tag.version, location=location)


@bp.get(f"/{ID}")
@cached_read
def get_tag(tag_id: int) -> Response:
    """Read one tag."""
    tag = tags.get_tag(tag_id)
    return json_response(TagOut.model_validate(tag), version=tag.version)


@bp.delete(f"/{ID}")
def delete_tag(tag_id: int) -> Response:
    """Delete a tag; tasks lose it."""
    tags.delete_tag(tag_id, expected_version())
    return no_content()

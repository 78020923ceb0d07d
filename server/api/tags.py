"""/api/v1/tags"""

from __future__ import annotations

from flask import Blueprint, Response, url_for

from server.api.contract import contract
from server.api.request_parsing import expected_version
from server.api.responses import json_response, no_content, page_response
from server.cache import cached_read
from server.schemas.common import Page
from server.schemas.tags import TagCreate, TagOut, TagQuery
from server.services import tags

bp = Blueprint("tags", __name__, url_prefix="/tags")
ID = "<id:tag_id>"


@bp.get("")
@cached_read
@contract(query=TagQuery, response=Page[TagOut])
def list_tags(query: TagQuery) -> Response:
    """List tags by name."""
    rows, total = tags.list_tags(limit=query.limit, offset=query.offset)
    return page_response([TagOut.model_validate(t) for t in rows], total, query.limit, query.offset)


@bp.post("")
@contract(body=TagCreate, response=TagOut, status=201, conflicts=True, etag=True, created=True)
def create_tag(body: TagCreate) -> Response:
    """Create a tag."""
    tag = tags.create_tag(body.name)
    location = url_for(".get_tag", tag_id=tag.id)
    return json_response(TagOut.model_validate(tag), 201, version=tag.version, location=location)


@bp.get(f"/{ID}")
@cached_read
@contract(response=TagOut, etag=True)
def get_tag(tag_id: int) -> Response:
    """Read one tag."""
    tag = tags.get_tag(tag_id)
    return json_response(TagOut.model_validate(tag), version=tag.version)


@bp.delete(f"/{ID}")
@contract(conflicts=True, conditional=True, status=204)
def delete_tag(tag_id: int) -> Response:
    """Delete a tag; tasks lose it."""
    tags.delete_tag(tag_id, expected_version())
    return no_content()

"""/api/v1/tags"""

from __future__ import annotations

from flask import Blueprint

from server.api import caching
from server.api.caching import cached_read
from server.api.contract import contract
from server.api.paging import page
from server.api.request_parsing import expected_version
from server.models import Tag
from server.schemas.common import Page
from server.schemas.tags import TagCreate, TagOut, TagQuery
from server.services import tags

bp = Blueprint("tags", __name__, url_prefix="/tags")


@bp.get("")
@cached_read(caching.tag_list)
@contract(query=TagQuery, response=Page[TagOut])
def list_tags(query: TagQuery) -> Page[TagOut]:
    """List tags by name."""
    listing = tags.list_tags(limit=query.limit, offset=query.offset, after=query.after)
    items = [TagOut.model_validate(t) for t in listing.items]
    last = listing.items[-1].name if listing.items else None
    return page(items, listing, query.limit, query.offset, last)


@bp.post("")
@contract(
    body=TagCreate, response=TagOut, status=201, conflicts=True, etag=True, created=".get_tag"
)
def create_tag(body: TagCreate) -> tuple[TagOut, Tag]:
    """Create a tag."""
    tag = tags.create_tag(body.name)
    return TagOut.model_validate(tag), tag


@bp.get("/<id:tag_id>")
@cached_read(caching.one_tag)
@contract(response=TagOut, etag=True)
def get_tag(tag_id: int) -> tuple[TagOut, Tag]:
    """Read one tag."""
    tag = tags.get_tag(tag_id)
    return TagOut.model_validate(tag), tag


@bp.delete("/<id:tag_id>")
@contract(conflicts=True, conditional=True, status=204)
def delete_tag(tag_id: int) -> None:
    """Delete a tag; tasks lose it."""
    tags.delete_tag(tag_id, expected_version())

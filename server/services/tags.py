"""Tags: list, read, create, delete, and resolving names to rows for tasks."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert

from server.auth.actor import require_actor
from server.infra.cache_dependencies import changes, owner_scopes, tags
from server.infra.database import db
from server.models import Tag
from server.services.common import Listing, check_version, commit_unique, get_or_raise, list_page


def list_tags(*, limit: int, offset: int = 0, after: str | None = None) -> Listing[Tag]:
    """A page of tags in name order."""
    return list_page(select(Tag), Tag.name, limit=limit, offset=offset, after=after)


def get_tag(tag_id: int) -> Tag:
    return get_or_raise(Tag, tag_id)


def create_tag(name: str) -> Tag:
    tag = Tag(name=name, owner_id=require_actor().principal_id)
    db.session.add(tag)
    commit_unique("Tag", name)
    return tag


def delete_tag(tag_id: int, expected_version: frozenset[int] | None) -> None:
    tag = get_tag(tag_id)
    check_version(tag.version, expected_version)
    db.session.delete(tag)
    db.session.commit()


def resolve_tags(names: Iterable[str], owner_id: int) -> list[Tag]:
    """``owner_id``'s rows for these names, creating the missing ones; safe when two race."""
    wanted = sorted(set(names))
    if not wanted:
        return []
    db.session.execute(
        insert(Tag)
        .values([{"name": n, "owner_id": owner_id} for n in wanted])
        .on_conflict_do_nothing(index_elements=["owner_id", "name"])
        # New rows show in the owner's tag lists (and the admins'), nowhere else yet.
        .execution_options(**changes(*(tags(reader) for reader in owner_scopes([owner_id]))))
    )
    query = select(Tag).where(Tag.owner_id == owner_id, Tag.name.in_(wanted)).order_by(Tag.name)
    return list(db.session.scalars(query))

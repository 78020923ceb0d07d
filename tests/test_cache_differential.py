"""No cached read outlives a write that changed its answer: a seeded random walk over every
write endpoint, each cached read compared with the same read on an app with the cache off.

Several owners, an admin who sees everything (and one whose admin flag flips), projects, tasks
moved between projects and owners, tags added, removed and deleted: after each write every
reader reads its cached endpoints, and each hit must equal the uncached answer on the same
database. A write that forgets a dependency tag (server/infra/cache_dependencies.py) or a read
that forgets one (server/api/caching.py) shows up here as a stale hit.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import Flask

from support.auth import AuthenticatedClient, anonymous, bearer, make_principal, make_token

STATUSES = ("todo", "doing", "done")
TAG_NAMES = ("red", "green", "blue")
STEPS = 30
READS_PER_STEP = 6  # of each reader's urls, drawn at random


@dataclass
class Reader:
    name: str
    principal_id: int
    headers: dict[str, str]
    cached: AuthenticatedClient
    plain: AuthenticatedClient
    hits: int = 0

    def read(self, url: str) -> Any:
        return self.cached.get(url, headers=self.headers)

    def fresh(self, url: str) -> Any:
        return self.plain.get(url, headers=self.headers)


@dataclass
class World:
    """Ids that exist now, as the admin sees them (refreshed after each write)."""

    projects: list[int] = field(default_factory=list)
    tasks: list[int] = field(default_factory=list)
    tags: list[int] = field(default_factory=list)


def read_urls(world: World, rng: random.Random) -> list[str]:
    """Every cached endpoint, with each filter alone and combined, on a few of the ids."""
    project = rng.choice(world.projects) if world.projects else 1
    status = rng.choice(STATUSES)
    tag = rng.choice(TAG_NAMES)
    urls = [
        "/api/v1/projects",
        "/api/v1/projects?limit=2",
        "/api/v1/projects?name=p",
        "/api/v1/tasks",
        "/api/v1/tasks?limit=3",
        f"/api/v1/tasks?status={status}",
        f"/api/v1/tasks?tag={tag}",
        f"/api/v1/tasks?project_id={project}",
        f"/api/v1/tasks?project_id={project}&status={status}",
        f"/api/v1/tasks?tag={tag}&status={status}",
        "/api/v1/tags",
    ]
    urls += [
        f"/api/v1/projects/{p}" for p in rng.sample(world.projects, min(2, len(world.projects)))
    ]
    urls += [f"/api/v1/tasks/{t}" for t in rng.sample(world.tasks, min(3, len(world.tasks)))]
    urls += [f"/api/v1/tags/{t}" for t in rng.sample(world.tags, min(2, len(world.tags)))]
    return urls


Write = Callable[[random.Random, Reader, World], Any]


def writes(admin_ids: dict[str, int], admin: Reader) -> list[Write]:
    def pick(rng: random.Random, ids: list[int]) -> int:
        return rng.choice(ids) if ids and rng.random() < 0.95 else 999_999

    def tag_names(rng: random.Random) -> list[str]:
        return rng.sample(TAG_NAMES, rng.randrange(len(TAG_NAMES) + 1))

    def task_body(rng: random.Random, world: World) -> dict[str, Any]:
        return {
            "project_id": pick(rng, world.projects),
            "title": f"t{rng.randrange(1000)}",
            "status": rng.choice(STATUSES),
            "tags": tag_names(rng),
        }

    def as_(who: Reader, method: str, url: str, **kwargs: Any) -> Any:
        return who.cached.open(url, method=method, headers=who.headers, **kwargs)

    def create_project(r: random.Random, who: Reader, w: World) -> Any:
        return as_(who, "POST", "/api/v1/projects", json={"name": f"p{r.randrange(10**6)}"})

    def update_project(r: random.Random, who: Reader, w: World) -> Any:
        body = r.choice(
            [{"description": f"d{r.randrange(100)}"}, {"name": f"p{r.randrange(10**6)}"}]
        )
        return as_(who, "PATCH", f"/api/v1/projects/{pick(r, w.projects)}", json=body)

    def replace_project(r: random.Random, who: Reader, w: World) -> Any:
        body = {"name": f"p{r.randrange(10**6)}", "description": "replaced"}
        return as_(who, "PUT", f"/api/v1/projects/{pick(r, w.projects)}", json=body)

    def delete_project(r: random.Random, who: Reader, w: World) -> Any:
        return as_(who, "DELETE", f"/api/v1/projects/{pick(r, w.projects)}")

    def create_task(r: random.Random, who: Reader, w: World) -> Any:
        return as_(who, "POST", "/api/v1/tasks", json=task_body(r, w))

    def update_task(r: random.Random, who: Reader, w: World) -> Any:
        full = task_body(r, w)
        body = {k: full[k] for k in r.sample(sorted(full), r.randrange(1, len(full) + 1))}
        return as_(who, "PATCH", f"/api/v1/tasks/{pick(r, w.tasks)}", json=body)

    def replace_task(r: random.Random, who: Reader, w: World) -> Any:
        return as_(who, "PUT", f"/api/v1/tasks/{pick(r, w.tasks)}", json=task_body(r, w))

    def delete_task(r: random.Random, who: Reader, w: World) -> Any:
        return as_(who, "DELETE", f"/api/v1/tasks/{pick(r, w.tasks)}")

    def create_tag(r: random.Random, who: Reader, w: World) -> Any:
        name = r.choice([*TAG_NAMES, f"x{r.randrange(10**6)}"])  # existing or new
        return as_(who, "POST", "/api/v1/tags", json={"name": name})

    def delete_tag(r: random.Random, who: Reader, w: World) -> Any:
        return as_(who, "DELETE", f"/api/v1/tags/{pick(r, w.tags)}")

    def flip_admin(r: random.Random, _who: Reader, _w: World) -> Any:
        url = f"/api/v1/admin/principals/{admin_ids['carol']}"
        now = as_(admin, "GET", url).json["is_admin"]
        return as_(admin, "PATCH", url, json={"is_admin": not now})

    def new_token(r: random.Random, who: Reader, _w: World) -> Any:
        return as_(who, "POST", "/api/v1/tokens", json={"name": "t", "scopes": ["read"]})

    return [
        create_project,
        update_project,
        replace_project,
        delete_project,
        create_task,
        create_task,
        create_task,
        update_task,
        update_task,
        update_task,
        replace_task,
        delete_task,
        create_tag,
        create_tag,
        delete_tag,
        delete_tag,
        flip_admin,
        new_token,
    ]


def refresh(world: World, admin: Reader) -> None:
    for name, url in (
        ("projects", "/api/v1/projects"),
        ("tasks", "/api/v1/tasks"),
        ("tags", "/api/v1/tags"),
    ):
        answer = admin.fresh(f"{url}?limit=100")
        assert answer.status_code == 200, answer.json
        setattr(world, name, [item["id"] for item in answer.json["items"]])


def answer_of(response: Any) -> tuple[int, Any, str | None]:
    return response.status_code, response.get_json(), response.headers.get("ETag")


def test_no_cached_read_is_stale_after_any_write(
    app: Flask, make_app: Callable[..., Flask]
) -> None:
    seed = 1
    # The same Redis prefix: the token cache, which writes drop, is then the same one.
    plain_app = make_app(cache_enabled=False, key_prefix=app.extensions["settings"].key_prefix)
    rng = random.Random(seed)
    readers: list[Reader] = []
    ids: dict[str, int] = {}
    with app.app_context():
        for name, admin in (("alice", False), ("bob", False), ("root", True), ("carol", True)):
            principal = make_principal(f"{name}-{seed}", admin=admin)
            ids[name] = principal.id
            headers = bearer(make_token(principal))
            readers.append(
                Reader(name, principal.id, headers, anonymous(app), anonymous(plain_app))
            )
    root = readers[2]
    world = World()
    operations = writes(ids, root)
    for reader in readers:  # something of everyone's to start from
        for _ in range(2):
            operations[0](rng, reader, world)
            refresh(world, root)
            operations[4](rng, reader, world)
            refresh(world, root)
    stale: list[str] = []
    for step in range(STEPS):
        write = rng.choice(operations)
        who = rng.choice(readers)
        done = write(rng, who, world)
        assert done.status_code < 500, done.get_data(as_text=True)
        refresh(world, root)
        for reader in readers:
            urls = read_urls(world, rng)
            for url in rng.sample(urls, min(READS_PER_STEP, len(urls))):
                cached = reader.read(url)
                if cached.headers.get("X-Cache") != "hit":
                    continue
                reader.hits += 1
                if answer_of(cached) != answer_of(reader.fresh(url)):
                    stale.append(
                        f"step {step}, after {write.__name__} by {who.name}: {reader.name} {url}"
                    )
    assert not stale, "\n".join(stale[:20])
    assert all(reader.hits for reader in readers)  # the walk compared hits, not only misses

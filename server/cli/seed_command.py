"""``seed``: idempotent demo data, safe to run on every start.

The data belongs to principal ``demo``. Outside production, seed also gives it a development
token (read and write) and prints it: the token is derived from APP_SECRET_KEY, so every run
prints the same one and the README's first ``curl`` keeps working. Production gets no such token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from server.auth.actor import READ, WRITE, Actor, acting_as
from server.auth.tokens import PREFIX_ALPHABET, key_from_settings
from server.config.runtime import current_settings
from server.infra.database import db
from server.models import ApiToken, Principal, Project, Task, TaskStatus
from server.services import principals
from server.services.tags import resolve_tags

DEMO_PRINCIPAL = "demo"
DEMO_PROJECT = "Demo"
DEMO_TASKS = (
    ("Read the README", TaskStatus.done, ["docs"]),
    ("Start the stack with process-compose", TaskStatus.doing, ["dev", "stack"]),
    ("Deploy with the NixOS module", TaskStatus.todo, ["nix", "ops"]),
)


def demo_principal() -> Principal:
    principal = db.session.scalar(select(Principal).where(Principal.name == DEMO_PRINCIPAL))
    if principal is None:
        principal = principals.create_principal(DEMO_PRINCIPAL)
    return principal


def seed() -> tuple[int, int]:
    """Create what is missing of the demo data; returns (projects, tasks) created."""
    owner = demo_principal()
    actor = Actor(owner.id, owner.name, False, frozenset({READ, WRITE}))
    with acting_as(actor):
        return _seed_as(owner.id)


def _seed_as(owner_id: int) -> tuple[int, int]:
    project = db.session.scalar(select(Project).where(Project.name == DEMO_PROJECT))
    made_projects = 0
    if project is None:
        project = Project(
            name=DEMO_PROJECT,
            description="Demo data from `flask-nix-stack seed`.",
            owner_id=owner_id,
        )
        db.session.add(project)
        db.session.flush()
        made_projects = 1
    existing = set(db.session.scalars(select(Task.title).where(Task.project_id == project.id)))
    made_tasks = 0
    for title, status, tag_names in DEMO_TASKS:
        if title not in existing:
            tags = resolve_tags(tag_names, owner_id)
            db.session.add(Task(project_id=project.id, title=title, status=status, tags=tags))
            made_tasks += 1
    db.session.commit()  # drops cached reads if anything was written (server/infra/cache.py)
    return made_projects, made_tasks


def development_token(secret_key: str) -> str:
    """The demo principal's token for this secret key: the same on every run."""
    material = hmac.new(secret_key.encode(), b"flask-nix-stack/seed-token/v1", "sha256").digest()
    prefix = "".join(PREFIX_ALPHABET[b % len(PREFIX_ALPHABET)] for b in material[:8])
    secret = base64.urlsafe_b64encode(hashlib.sha256(material).digest()).rstrip(b"=").decode()
    return f"fns_{prefix}_{secret}"


def ensure_development_token() -> str:
    settings = current_settings()
    value = development_token(settings.secret_key.get_secret_value())
    owner = demo_principal()
    prefix = value.split("_")[1]
    if db.session.scalar(select(ApiToken.id).where(ApiToken.prefix == prefix)) is None:
        principals.issue_token(
            key_from_settings(settings), owner, {READ, WRITE}, name="seed", value=value
        )
    return value


@click.command("seed")
@with_appcontext
def seed_command() -> None:
    """Create demo data (idempotent); outside production, print the demo principal's token."""
    projects, tasks = seed()
    click.echo(f"seeded: {projects} project(s), {tasks} task(s) created", err=True)
    if current_settings().is_production:
        click.echo("production: no development token (use `tokens create`)", err=True)
        return
    click.echo(f"development token of principal {DEMO_PRINCIPAL} (read, write):", err=True)
    click.echo(ensure_development_token())

"""``seed``: idempotent demo data, safe to run on every start."""

from __future__ import annotations

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from server.infra.database import db
from server.models import Project, Task, TaskStatus
from server.services.tags import resolve_tags

DEMO_PROJECT = "Demo"
DEMO_TASKS = (
    ("Read the README", TaskStatus.done, ["docs"]),
    ("Start the stack with process-compose", TaskStatus.doing, ["dev", "stack"]),
    ("Deploy with the NixOS module", TaskStatus.todo, ["nix", "ops"]),
)


def seed() -> tuple[int, int]:
    """Create what is missing of the demo data; returns (projects, tasks) created."""
    project = db.session.scalar(select(Project).where(Project.name == DEMO_PROJECT))
    made_projects = 0
    if project is None:
        project = Project(name=DEMO_PROJECT, description="Demo data from `flask-nix-stack seed`.")
        db.session.add(project)
        db.session.flush()
        made_projects = 1
    existing = set(db.session.scalars(select(Task.title).where(Task.project_id == project.id)))
    made_tasks = 0
    for title, status, tag_names in DEMO_TASKS:
        if title not in existing:
            db.session.add(
                Task(
                    project_id=project.id, title=title, status=status, tags=resolve_tags(tag_names)
                )
            )
            made_tasks += 1
    db.session.commit()  # drops cached reads if anything was written (server/cache.py)
    return made_projects, made_tasks


@click.command("seed")
@with_appcontext
def seed_command() -> None:
    """Create demo data (idempotent)."""
    projects, tasks = seed()
    click.echo(f"seeded: {projects} project(s), {tasks} task(s) created")

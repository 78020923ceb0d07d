"""flask-nix-stack: a Flask JSON API of projects, tasks and tags."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from server.app import create_app

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    # Lazy, so that `import server.<light module>` (the CLI's fast paths, gunicorn's config)
    # does not import the whole app.
    if name == "create_app":
        from server.app import create_app

        return create_app
    raise AttributeError(name)

"""flask-nix-stack: a Flask JSON API of projects, tasks and tags."""

from server.app import create_app

__all__ = ["create_app"]

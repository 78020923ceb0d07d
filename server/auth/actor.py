"""Who the current request (or command) acts as; read by the isolation rules and the cache.

A context variable rather than ``flask.g``: services and CLI commands run without a request,
and a service must never fall back to "everything" because nobody set an actor. With none set,
owned rows are invisible and writes fail (server/auth/isolation.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

READ, WRITE, ADMIN = "read", "write", "admin"
SCOPES = (READ, WRITE, ADMIN)


@dataclass(frozen=True)
class Actor:
    principal_id: int
    name: str
    is_admin: bool
    scopes: frozenset[str]
    # How it authenticated: "token:<prefix>", "oidc", or "cli". Never the credential itself.
    via: str = "cli"

    @property
    def sees_everything(self) -> bool:
        """Admins with the admin scope see every owner's rows."""
        return self.is_admin and ADMIN in self.scopes


_current: ContextVar[Actor | None] = ContextVar("actor", default=None)


class NoActor(RuntimeError):
    """A write was attempted with nobody to own it: a bug, never a client's fault."""


def current_actor() -> Actor | None:
    return _current.get()


def require_actor() -> Actor:
    actor = _current.get()
    if actor is None:
        raise NoActor("no principal is acting; set one with acting_as()")
    return actor


def set_actor(actor: Actor | None) -> object:
    """Set the actor; returns a token for reset_actor()."""
    return _current.set(actor)


def reset_actor(token: object) -> None:
    _current.reset(token)  # type: ignore[arg-type]


@contextmanager
def acting_as(actor: Actor | None) -> Iterator[Actor | None]:
    token = _current.set(actor)
    try:
        yield actor
    finally:
        _current.reset(token)

"""What the services refuse, in domain terms: errors.py turns each into a problem document."""

from __future__ import annotations


class DomainError(Exception):
    """A request the domain refuses; ``str()`` says why, for a person."""


class NotFound(DomainError):
    def __init__(self, kind: str, ident: int) -> None:
        super().__init__(f"{kind} {ident} does not exist.")
        self.kind, self.ident = kind, ident


class Duplicate(DomainError):
    def __init__(self, kind: str, name: str) -> None:
        super().__init__(f"A {kind.lower()} named {name!r} already exists.")
        self.kind, self.name = kind, name


class StaleVersion(DomainError):
    """A write made against an older version than the stored one."""

    def __init__(self, current: int, expected: frozenset[int]) -> None:
        named = " or ".join(str(version) for version in sorted(expected))
        super().__init__(f"The resource is at version {current}, not {named}; fetch it and retry.")
        self.current, self.expected = current, expected


class FieldRefused(DomainError):
    """A field of the input holds a value the principal may not use here (not its type or form,
    which validation checks first): answered 403, naming the field."""

    def __init__(self, field: str, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.field, self.reason = field, reason


class InvalidReference(DomainError):
    """A field of the input names a row that does not exist (or is another owner's): 404."""

    def __init__(self, field: str, kind: str, ident: int) -> None:
        super().__init__(f"{kind} {ident} does not exist.")
        self.field, self.kind, self.ident = field, kind, ident

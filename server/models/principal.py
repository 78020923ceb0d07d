"""Principals (users and service accounts) and the API tokens they authenticate with."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    LargeBinary,
    String,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.models.base import Base, Instant, utcnow

if TYPE_CHECKING:
    from server.models.project import Project

PRINCIPAL_KINDS = ("user", "service")


class Principal(Base):
    """Who acts: owns projects and tags, holds tokens; admins see everything."""

    __tablename__ = "principals"
    __table_args__ = (CheckConstraint("kind IN ('user', 'service')", name="kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    kind: Mapped[str] = mapped_column(String(16), default="user", server_default="user")
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    # A disabled principal's tokens stop working at once; its data stays.
    disabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    # The `sub` claim of OIDC access tokens that act as this principal.
    oidc_subject: Mapped[str | None] = mapped_column(String(255), unique=True)
    created_at: Mapped[datetime] = mapped_column(
        Instant(), server_default=func.now(), default=utcnow
    )

    tokens: Mapped[list[ApiToken]] = relationship(
        back_populates="principal", cascade="all, delete-orphan", passive_deletes=True
    )
    projects: Mapped[list[Project]] = relationship(back_populates="owner", passive_deletes=True)


class ApiToken(Base):
    """An opaque bearer token, stored only as a keyed hash; found by its public prefix."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    principal_id: Mapped[int] = mapped_column(
        ForeignKey("principals.id", ondelete="CASCADE"), index=True
    )
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    # HMAC-SHA256 of the whole token under the server's token hash key (server/auth/tokens.py).
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    # Space-separated, as OAuth scope strings are: "read write".
    scopes: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(100), default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(
        Instant(), server_default=func.now(), default=utcnow
    )
    expires_at: Mapped[datetime | None] = mapped_column(Instant())
    revoked_at: Mapped[datetime | None] = mapped_column(Instant())
    last_used_at: Mapped[datetime | None] = mapped_column(Instant())

    principal: Mapped[Principal] = relationship(back_populates="tokens")

    @property
    def scope_set(self) -> frozenset[str]:
        return frozenset(self.scopes.split())

"""``principals`` and ``tokens``: manage who may call the API, scriptably.

``tokens create`` prints the token alone on stdout (it is shown once, never stored), so
``TOKEN=$(flask-nix-stack tokens create --principal ci --scope read)`` works; everything else
goes to stderr.
"""

from __future__ import annotations

import sys

import click
from flask.cli import with_appcontext
from sqlalchemy import text

from server.auth.actor import SCOPES
from server.auth.tokens import generate, key_from_settings
from server.config.runtime import current_settings
from server.infra.database import db
from server.infra.migration_status import MIGRATION_LOCK_KEY
from server.services import principals as service
from server.services.errors import DomainError


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


@click.group("principals")
def principals_group() -> None:
    """Users and service accounts."""


@principals_group.command("create")
@click.argument("name")
@click.option("--admin", is_flag=True, help="May see everything and hold admin tokens.")
@click.option("--service", "kind", flag_value="service", default="user", help="A service account.")
@click.option("--oidc-subject", default=None, help="The `sub` of OIDC tokens acting as it.")
@with_appcontext
def create_principal(name: str, admin: bool, kind: str, oidc_subject: str | None) -> None:
    """Create a principal."""
    try:
        principal = service.create_principal(
            name, admin=admin, kind=kind, oidc_subject=oidc_subject
        )
    except DomainError as exc:
        _fail(str(exc))
    click.echo(f"created principal {principal.name} (id {principal.id})", err=True)


@principals_group.command("list")
@with_appcontext
def list_principals() -> None:
    """One line per principal: id, name, kind, admin, disabled."""
    rows, _ = service.list_principals()
    for p in rows:
        flags = ",".join(f for f, on in (("admin", p.is_admin), ("disabled", p.disabled)) if on)
        click.echo(f"{p.id}\t{p.name}\t{p.kind}\t{flags or '-'}")


@principals_group.command("disable")
@click.argument("name")
@with_appcontext
def disable_principal(name: str) -> None:
    """Disable a principal: its tokens stop working at once."""
    try:
        service.set_disabled(service.principal_named(name), True)
    except LookupError as exc:
        _fail(str(exc))
    click.echo(f"disabled principal {name}", err=True)


@principals_group.command("enable")
@click.argument("name")
@with_appcontext
def enable_principal(name: str) -> None:
    """Enable a disabled principal again."""
    try:
        service.set_disabled(service.principal_named(name), False)
    except LookupError as exc:
        _fail(str(exc))
    click.echo(f"enabled principal {name}", err=True)


@click.group("tokens")
def tokens_group() -> None:
    """API tokens."""


def _issue(
    principal: str, scopes: tuple[str, ...], expires_in: str | None, name: str, value: str | None
) -> str:
    try:
        owner = service.principal_named(principal)
        duration = service.parse_duration(expires_in) if expires_in else None
        new = service.issue_token(
            key_from_settings(current_settings()),
            owner,
            set(scopes),
            name=name,
            expires_in=duration,
            value=value,
        )
    except (LookupError, ValueError, DomainError) as exc:
        _fail(str(exc))
        raise  # unreachable: _fail exits
    return new.value


SCOPE_OPTION = click.option(
    "--scope",
    "scopes",
    multiple=True,
    required=True,
    type=click.Choice(SCOPES),
    help="Repeat for several: --scope read --scope write.",
)


@tokens_group.command("create")
@click.option("--principal", required=True, help="Name of the principal the token acts as.")
@SCOPE_OPTION
@click.option("--expires-in", default=None, help="Lifetime: 30d, 12h, 90m, 2w (default: none).")
@click.option("--name", default="", help="A label for listings.")
@with_appcontext
def create_token(
    principal: str, scopes: tuple[str, ...], expires_in: str | None, name: str
) -> None:
    """Create a token and print it alone on stdout (shown once)."""
    click.echo(_issue(principal, scopes, expires_in, name, None))


@tokens_group.command("generate")
def generate_token() -> None:
    """Print a new random token without storing it (for a credential file or a secret store)."""
    click.echo(generate()[0])


@tokens_group.command("import")
@click.option("--principal", required=True, help="Name of the principal the token acts as.")
@SCOPE_OPTION
@click.option("--expires-in", default=None, help="Lifetime: 30d, 12h, 90m, 2w (default: none).")
@click.option("--name", default="imported", help="A label for listings.")
@with_appcontext
def import_token(
    principal: str, scopes: tuple[str, ...], expires_in: str | None, name: str
) -> None:
    """Store a token generated elsewhere (read from stdin), e.g. by a secrets manager."""
    value = sys.stdin.readline().strip()
    _issue(principal, scopes, expires_in, name, value)
    click.echo("imported", err=True)


@tokens_group.command("list")
@click.option("--principal", default=None, help="Only this principal's tokens.")
@with_appcontext
def list_tokens(principal: str | None) -> None:
    """One line per token: prefix, principal, scopes, state, expiry, last use (never secrets)."""
    try:
        owner_id = service.principal_named(principal).id if principal else None
    except LookupError as exc:
        _fail(str(exc))
        raise
    for row in service.list_tokens(owner_id):
        fields = (
            row.prefix,
            row.principal.name,
            ",".join(sorted(row.scope_set)),
            service.token_state(row),
            row.expires_at.isoformat() if row.expires_at else "-",
            row.last_used_at.isoformat() if row.last_used_at else "-",
            row.name or "-",
        )
        click.echo("\t".join(fields))


@tokens_group.command("revoke")
@click.argument("prefix")
@with_appcontext
def revoke_token(prefix: str) -> None:
    """Revoke a token by its prefix (the 8 characters after fns_); effective at once."""
    try:
        service.revoke(service.token_by_prefix(prefix))
    except LookupError as exc:
        _fail(str(exc))
    click.echo(f"revoked {prefix}", err=True)


@tokens_group.command("bootstrap")
@with_appcontext
def bootstrap_token() -> None:
    """Store APP_BOOTSTRAP_ADMIN_TOKEN as admin's token (idempotent; db upgrade runs it)."""
    settings = current_settings()
    if settings.bootstrap_admin_token is None:
        click.echo("no APP_BOOTSTRAP_ADMIN_TOKEN set; nothing to do", err=True)
        return
    # Instances starting together all run this after `db upgrade`: its check-then-insert runs
    # one at a time, under the migrations' advisory lock, held by a transaction of its own
    # (the token's own commits end the session's transactions).
    with db.engine.begin() as lock:
        lock.execute(text("SET LOCAL statement_timeout = 0"))
        lock.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        try:
            stored = service.ensure_bootstrap_token(
                key_from_settings(settings), settings.bootstrap_admin_token.get_secret_value()
            )
        except (ValueError, DomainError) as exc:
            _fail(str(exc))
            raise
    click.echo("bootstrap admin token " + ("stored" if stored else "already present"), err=True)

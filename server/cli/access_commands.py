"""``principals`` and ``tokens``: manage who may call the API, scriptably.

``tokens create`` prints the token alone on stdout (it is shown once, never stored), so
``TOKEN=$(flask-nix-stack tokens create --principal ci --scope read)`` works; everything else
goes to stderr.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import click
from flask.cli import with_appcontext
from sqlalchemy import text

from server.auth.actor import SCOPES
from server.auth.tokens import generate, key_from_settings
from server.cli.param_types import Checked
from server.config.runtime import current_settings
from server.infra.database import db
from server.infra.migration_status import MIGRATION_LOCK_KEY
from server.schemas.access import Label, OidcSubject, PrincipalName, TokenPrefix
from server.services import principals as service
from server.services.errors import DomainError

CommandT = TypeVar("CommandT", bound=Callable[..., object])


@contextmanager
def _refusals_exit(*errors: type[Exception]) -> Iterator[None]:
    """A refusal of the service (no such principal, bad duration, ...) is one line on stderr
    and exit status 1, not a traceback."""
    try:
        yield
    except errors as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)


@click.group("principals")
def principals_group() -> None:
    """Users and service accounts."""


@principals_group.command("create")
@click.argument("name", type=Checked("name", PrincipalName))
@click.option("--admin", is_flag=True, help="May see everything and hold admin tokens.")
# A boolean flag, not flag_value="service" with default="user": click up to 8.2.1 took a
# non-boolean flag's truthy default for the flag itself, so every principal was created a
# service account.
@click.option("--service", "service_account", is_flag=True, help="A service account.")
@click.option(
    "--oidc-subject",
    default=None,
    type=Checked("subject", OidcSubject),
    help="The `sub` of OIDC tokens acting as it.",
)
@with_appcontext
def create_principal(
    name: str, admin: bool, service_account: bool, oidc_subject: str | None
) -> None:
    """Create a principal."""
    kind = "service" if service_account else "user"
    with _refusals_exit(DomainError):
        principal = service.create_principal(
            name, admin=admin, kind=kind, oidc_subject=oidc_subject
        )
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
@click.argument("name", type=Checked("name", PrincipalName))
@with_appcontext
def disable_principal(name: str) -> None:
    """Disable a principal: its tokens stop working at once."""
    _set_disabled(name, True)


@principals_group.command("enable")
@click.argument("name", type=Checked("name", PrincipalName))
@with_appcontext
def enable_principal(name: str) -> None:
    """Enable a disabled principal again."""
    _set_disabled(name, False)


def _set_disabled(name: str, disabled: bool) -> None:
    with _refusals_exit(LookupError):
        service.set_disabled(service.principal_named(name), disabled)
    click.echo(f"{'disabled' if disabled else 'enabled'} principal {name}", err=True)


@click.group("tokens")
def tokens_group() -> None:
    """API tokens."""


def _issue(
    principal: str, scopes: tuple[str, ...], expires_in: str | None, name: str, value: str | None
) -> str:
    with _refusals_exit(LookupError, ValueError, DomainError):
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
    return new.value


def _token_options(default_name: str) -> Callable[[CommandT], CommandT]:
    """The options `create` and `import` share: who the token acts as, what it may do, for
    how long, and its label (whose default differs)."""
    options = (
        click.option(
            "--principal",
            required=True,
            type=Checked("name", PrincipalName),
            help="Name of the principal the token acts as.",
        ),
        click.option(
            "--scope",
            "scopes",
            multiple=True,
            required=True,
            type=click.Choice(SCOPES),
            help="Repeat for several: --scope read --scope write.",
        ),
        click.option(
            "--expires-in", default=None, help="Lifetime: 30d, 12h, 90m, 2w (default: none)."
        ),
        click.option(
            "--name",
            default=default_name,
            type=Checked("label", Label),
            help="A label for listings.",
        ),
    )

    def apply(command: CommandT) -> CommandT:
        for option in reversed(options):  # as if stacked as decorators, top first
            command = option(command)
        return command

    return apply


@tokens_group.command("create")
@_token_options(default_name="")
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
@_token_options(default_name="imported")
@with_appcontext
def import_token(
    principal: str, scopes: tuple[str, ...], expires_in: str | None, name: str
) -> None:
    """Store a token generated elsewhere (read from stdin), e.g. by a secrets manager."""
    value = sys.stdin.readline().strip()
    _issue(principal, scopes, expires_in, name, value)
    click.echo("imported", err=True)


@tokens_group.command("list")
@click.option(
    "--principal",
    default=None,
    type=Checked("name", PrincipalName),
    help="Only this principal's tokens.",
)
@with_appcontext
def list_tokens(principal: str | None) -> None:
    """One line per token: prefix, principal, scopes, state, expiry, last use (never secrets)."""
    with _refusals_exit(LookupError):
        owner_id = service.principal_named(principal).id if principal else None
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
@click.argument("prefix", type=Checked("prefix", TokenPrefix))
@with_appcontext
def revoke_token(prefix: str) -> None:
    """Revoke a token by its prefix (the 8 characters after fns_); effective at once."""
    with _refusals_exit(LookupError):
        service.revoke(service.token_by_prefix(prefix))
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
        with _refusals_exit(ValueError, DomainError):
            stored = service.ensure_bootstrap_token(
                key_from_settings(settings), settings.bootstrap_admin_token.get_secret_value()
            )
    click.echo("bootstrap admin token " + ("stored" if stored else "already present"), err=True)

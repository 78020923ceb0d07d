"""The ``flask-nix-stack`` command: Flask's CLI (run, routes, shell, db ...) plus our commands.

Our commands are imported when named (or listed by ``--help``), not when the group is: they
pull in SQLAlchemy, Pydantic and the models, which `run --reload`'s outer process, the one
that only restarts the serving child, never needs.
"""

from __future__ import annotations

import importlib
import importlib.metadata
from collections.abc import Sequence
from contextvars import ContextVar
from typing import Any

import click
from click.core import ParameterSource
from flask import Flask
from flask.cli import FlaskGroup
from flask.cli import get_version as flask_version
from flask.helpers import get_debug_flag
from werkzeug.serving import is_running_from_reloader

from server.startup import collector_paused

# Command name -> "module:attribute" of the click command.
LAZY_COMMANDS = {
    "config": "server.cli.config_command:config_group",
    # Flask-Migrate's group, which Migrate.init_app would add to the app's own commands: here,
    # so that it is listed and found without setting up migrations in every app (app_or_exit).
    "db": "flask_migrate.cli:db",
    "dev": "server.cli.dev_command:dev_command",
    "principals": "server.cli.access_commands:principals_group",
    "seed": "server.cli.seed_command:seed_command",
    "serve": "server.cli.serve_command:serve_command",
    "tokens": "server.cli.access_commands:tokens_group",
}


# Set as the command line is parsed: it only asks for help (a help option, or a group with
# nothing to run), which lists and describes commands and runs none.
_asks_for_help: ContextVar[bool] = ContextVar("flask_nix_stack_asks_for_help", default=False)


def asks_for_help(group: click.Group, args: Sequence[str]) -> bool:
    """Will click answer ``args`` with help? Parsed as click parses them, level by level, with
    no callback run: a scan for ``--help`` took an option's value (``--name --help``) for help,
    and the command then ran on help's bare app."""
    command: click.Command = group
    parent: click.Context | None = None
    rest = list(args)
    while True:
        ctx = click.Context(command, parent=parent, resilient_parsing=True)
        try:
            # click.Command's parse: a group's own would take its subcommand's name apart.
            rest = click.Command.parse_args(command, ctx, rest)
        except click.ClickException:
            return False  # the command line is wrong: click says so, after the settings
        if _help_given(command, ctx):
            return True
        if not isinstance(command, click.Group):
            return False
        if not rest:
            return command.no_args_is_help
        sub = _subcommand(command, ctx, rest.pop(0))
        if sub is None:
            return False
        command, parent = sub, ctx


def _help_given(command: click.Command, ctx: click.Context) -> bool:
    # By the option's name, which click 8.5 changed from "help" to "_click_default_help".
    option = command.get_help_option(ctx)
    name = None if option is None else option.name
    return name is not None and ctx.get_parameter_source(name) is ParameterSource.COMMANDLINE


def _subcommand(group: click.Group, ctx: click.Context, name: str) -> click.Command | None:
    if isinstance(group, LazyFlaskGroup):
        # Not FlaskGroup's lookup, which builds the app to search its commands: ours are known.
        return group.lazy_command(name) or click.Group.get_command(group, ctx, name)
    return group.get_command(ctx, name)


def app_or_exit() -> Flask:
    """The app, or exit 2 with one line naming the bad setting.

    Help is the exception: it must not need the settings the user may be asking about (with
    APP_SECRET_KEY unset, `--help` and `db upgrade --help` exited 2). Flask builds the app to
    list the app's own commands, and Flask-Migrate's `db` group to run before its subcommands;
    with settings that do not load, help gets a bare app, which has no command of its own.

    The ``db`` commands get the app without its HTTP side (server/cli/migrations_app.py), with
    migrations set up; the other commands get the whole app without them: Flask-Migrate and
    Alembic (with Mako and Pygments) were a sixth of what `principals list` imported.
    """
    if _asks_for_help.get() and not _settings_load():
        return Flask(__name__)
    if _reloader_parent():
        # `run --reload`: this process only restarts a child process, which imports and builds
        # (and checks) the app itself; building it here too doubled that work in dev start-up.
        return Flask(__name__)
    with collector_paused():  # start-up: see server/startup.py
        if _resolving() != "db":
            from server.app import create_app_or_exit

            return create_app_or_exit()
        from server.cli.migrations_app import create_migrations_app_or_exit
        from server.infra import migration_commands

        app = create_migrations_app_or_exit()
        migration_commands.init_app(app)
    return app


# In click's ctx.meta (shared by a command's contexts): the name of the command being run, for
# which Flask builds the app (app_or_exit).
RESOLVING = "flask_nix_stack.resolving"


def _resolving() -> str | None:
    ctx = click.get_current_context(silent=True)
    return None if ctx is None else ctx.meta.get(RESOLVING)


def _settings_load() -> bool:
    from server.config import SettingsError, load_settings

    try:
        load_settings()
    except SettingsError:
        return False
    return True


def _reloader_parent() -> bool:
    """Is this `run` with the reloader, in the process that will not serve?"""
    ctx = click.get_current_context(silent=True)
    if ctx is None or ctx.info_name != "run" or is_running_from_reloader():
        return False
    reload = ctx.params.get("reload")
    return bool(get_debug_flag() if reload is None else reload)


class LazyFlaskGroup(FlaskGroup):
    """Flask's group, with ``LAZY_COMMANDS`` imported on first use."""

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        if parent is None:  # the whole command line
            _asks_for_help.set(asks_for_help(self, args))
        return super().make_context(info_name, args, parent, **extra)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *LAZY_COMMANDS})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        # Finding the command imports it (and Flask's builds the app): start-up, for the
        # collector (server/startup.py).
        with collector_paused():
            ctx.meta[RESOLVING] = name
            return self.lazy_command(name) or super().get_command(ctx, name)

    @staticmethod
    def lazy_command(name: str) -> click.Command | None:
        """One of ``LAZY_COMMANDS``, imported; None for another name."""
        target = LAZY_COMMANDS.get(name)
        if target is None:
            return None
        module, attribute = target.split(":")
        command = getattr(importlib.import_module(module), attribute)
        assert isinstance(command, click.Command), target
        return command


# The distribution whose version --version shows (pyproject's name).
DISTRIBUTION = "flask-nix-stack"


def show_version(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    """This program's version, then Python's, Flask's and werkzeug's, as Flask's own
    ``--version`` shows them (it showed those alone, not the version of what was running)."""
    if not value or ctx.resilient_parsing:
        return
    click.echo(f"{DISTRIBUTION} {importlib.metadata.version(DISTRIBUTION)}", color=ctx.color)
    flask_version(ctx, param, value)  # prints the rest and exits


@click.group(
    cls=LazyFlaskGroup,
    create_app=app_or_exit,
    load_dotenv=False,
    set_debug_flag=False,
    add_version_option=False,
)
@click.option(
    "--version",
    is_flag=True,
    is_eager=True,
    expose_value=False,
    callback=show_version,
    help="Show the version of flask-nix-stack, Python, Flask and Werkzeug.",
)
def cli() -> None:
    """Manage the flask-nix-stack server."""

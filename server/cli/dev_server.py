"""``flask-nix-stack dev``: the development server, restarted when the code changes.

What the stack's dev mode runs: werkzeug's reloader and debugger, as ``flask-nix-stack --debug
run --reload`` would start them, in the same two processes. The outer one holds the listening
socket and starts a child again whenever a watched file changes; the child builds the app and
serves it. server/cli/__init__.py hands ``dev`` over before click and Flask are imported, so:

- the outer process imports werkzeug alone and starts the child sooner than ``run``'s, which
  first imports Flask and its command line (it took 0.12-0.19 s to start the child on an idle
  machine, more under load: all of it in the stack's time to ready);
- the child builds the app and nothing else: no click group, no ``flask.commands`` plugin scan,
  no Flask-Migrate and Alembic, which ``run`` sets up for every command and a server never uses.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

USAGE = "flask-nix-stack dev"
PRODUCTION_REFUSED = (
    "configuration error: APP_ENV: production; `flask-nix-stack dev` runs werkzeug's interactive"
    " debugger, serve production with `flask-nix-stack serve`"
)
# Watched as a whole, beside the modules the child has imported: a module whose import failed
# is in no list of imported modules, and saving its fix must still restart the child.
SOURCE_DIR = Path(__file__).resolve().parent.parent


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=USAGE,
        description="Run the development server: the debugger on, restarted on code changes.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    parser.add_argument("--port", type=int, default=5000, help="port to listen on (5000)")
    return parser.parse_args(argv)


def main(argv: list[str]) -> None:
    args = parse_args(argv)
    from werkzeug.serving import is_running_from_reloader, run_simple

    serving = is_running_from_reloader()
    run_simple(
        args.host,
        args.port,
        # The outer process never serves: the app is the child's to build, once.
        serving_app() if serving else not_served,
        use_reloader=True,
        extra_files=[str(SOURCE_DIR)],
        # The debugger's set-up (its PIN, logged as "Debugger is active!") is the child's too.
        use_debugger=serving,
        threaded=True,
    )


def serving_app() -> WSGIApplication:
    """The app, or, when building it raises, one that raises the same error on every request.

    As ``flask run`` does in its reloader child: the server keeps running and watching, so
    saving the fixed file brings the app up. A bad setting still ends the process (exit 2), and
    so does the production profile: the debugger runs any code a visitor types on an error page.
    """
    from server.startup import collector_paused

    try:
        with collector_paused():  # start-up: see server/startup.py
            from server.app import create_app_or_exit
            from server.config.runtime import current_settings

            app = create_app_or_exit()
        if current_settings(app).is_production:
            print(PRODUCTION_REFUSED, file=sys.stderr)
            raise SystemExit(2)
        return app
    except Exception as exc:  # shown in the log, and raised on each request
        traceback.print_exc()
        error = exc

    def broken(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        raise error from None

    return broken


def not_served(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    """The outer process's stand-in app: werkzeug starts no server thread there."""
    raise AssertionError("the reloader's outer process does not serve")  # pragma: no cover

# `nix run` (the local stack under process-compose) and `nix run .#migrate`, both with the
# packaged server and the pinned tools first on PATH.
#
# The stack needs no checkout: process-compose.yaml and its pg-init script are copied into the
# store with this derivation, so `nix run github:OWNER/flask-nix-stack` works from any directory.
# State (PostgreSQL and Redis data) lives in one documented place, whatever the current
# directory: $STACK_DATA_DIR if set, else $XDG_STATE_HOME/flask-nix-stack (by default
# ~/.local/state/flask-nix-stack). The processes run in that directory, so a `.env` there is
# the stack's settings file. Inside a checkout, `process-compose up` (dev shell) keeps `.data/`.
{
  lib,
  writeShellApplication,
  bash,
  coreutils,
  postgresql,
  redis,
  process-compose,
  flask-nix-stack,
}:

let
  # Copied into the store: the stack definition and the script it runs.
  composeFile = ../process-compose.yaml;
  scriptsDir = ../stack;

  # The environment every entry point runs in (the server with its Sentry extra).
  env = flask-nix-stack.runtimeEnv;

  stateDir = ''
    state="''${STACK_DATA_DIR:-''${XDG_STATE_HOME:-$HOME/.local/state}/flask-nix-stack}"
    mkdir -p "$state"
    cd "$state"
    export STACK_DATA_DIR="$state"
  '';
in
{
  stack = writeShellApplication {
    name = "flask-nix-stack-up";

    # bash and coreutils too: process-compose runs each command with `bash -c` from PATH, and
    # they use mktemp, sleep, cat and rm; the host's PATH must not be what makes them work.
    runtimeInputs = [
      bash
      coreutils
      postgresql
      redis
      process-compose
      env
    ];

    # PC_* are process-compose's own environment defaults (src/config/{Flags,config}.go):
    # - PC_CONFIG_FILES: the stack definition shipped with this script;
    # - PC_NO_SERVER: no control API, which would otherwise take port 8080 (set PC_PORT_NUM
    #   to keep it);
    # - PC_DISABLE_TUI: plain logs when stdout is not a terminal (CI, pipes).
    # process_compose_config (stack/process-compose-config.sh, shared with script/server) sets
    # PROC_COMP_CONFIG where the user has no process-compose config directory: a quiet start.
    # STACK_WEB_MODE=prod runs the production server from the package instead of the reloader
    # (which needs the editable checkout of `nix develop`).
    text = ''
      # Help runs nothing, so it leaves nothing behind: no state directory, no config.
      for arg in "$@"; do
        case "$arg" in
          -h | --help) exec process-compose up "$@" ;;
          --) break ;;
        esac
      done
      ${stateDir}
      ${builtins.readFile ../stack/process-compose-config.sh}
      process_compose_config "$state"
      export PC_CONFIG_FILES="${composeFile}"
      export STACK_SCRIPTS_DIR="${scriptsDir}"
      if [ -z "''${PC_PORT_NUM:-}" ]; then
        export PC_NO_SERVER=1
      fi
      if [ ! -t 1 ]; then
        export PC_DISABLE_TUI="''${PC_DISABLE_TUI:-1}"
      fi
      export STACK_WEB_MODE="''${STACK_WEB_MODE:-prod}"
      echo "flask-nix-stack-up: state in $state" >&2
      exec process-compose up "$@"
    '';

    meta = {
      description = "Run PostgreSQL, Redis, migrations and the API under process-compose";
      mainProgram = "flask-nix-stack-up";
    };
  };

  migrate = writeShellApplication {
    name = "flask-nix-stack-migrate";

    # From the current directory, so a .env there is read as by any other CLI call.
    text = ''
      exec ${lib.getExe' env "flask-nix-stack"} db upgrade "$@"
    '';

    meta = {
      description = "Apply the database migrations (flask-nix-stack db upgrade)";
      mainProgram = "flask-nix-stack-migrate";
    };
  };
}

# `nix run` (the local stack under process-compose) and `nix run .#migrate`, both with the
# packaged server and the pinned tools first on PATH.
{
  lib,
  writeShellApplication,
  bash,
  coreutils,
  gitMinimal,
  postgresql,
  redis,
  process-compose,
  flask-nix-stack,
}:

let
  # The repository root, so the state dir (.data/) and .env are the same wherever the command
  # is started (a subdirectory would otherwise get a second database); PWD outside a checkout.
  cdRepoRoot = ''
    root="$(git rev-parse --show-toplevel 2>/dev/null || pwd)"
    cd "$root"
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
      gitMinimal
      postgresql
      redis
      process-compose
      flask-nix-stack.runtimeEnv
    ];

    # PC_* are process-compose's own environment defaults (src/config/{Flags,config}.go):
    # - PC_CONFIG_FILES: the repository's process-compose.yaml, whatever the current directory;
    # - PC_NO_SERVER: no control API, which would otherwise take port 8080 (set PC_PORT_NUM
    #   to keep it);
    # - PC_DISABLE_TUI: plain logs when stdout is not a terminal (CI, pipes).
    # STACK_WEB_MODE=prod runs the production server from the package instead of the reloader
    # (which needs the editable checkout of `nix develop`).
    text = ''
      ${cdRepoRoot}
      if [ ! -e process-compose.yaml ]; then
        echo "flask-nix-stack-up: no process-compose.yaml in $root; run it in the repository" >&2
        exit 1
      fi
      export PC_CONFIG_FILES="$root/process-compose.yaml"
      if [ -z "''${PC_PORT_NUM:-}" ]; then
        export PC_NO_SERVER=1
      fi
      if [ ! -t 1 ]; then
        export PC_DISABLE_TUI="''${PC_DISABLE_TUI:-1}"
      fi
      export STACK_WEB_MODE="''${STACK_WEB_MODE:-prod}"
      exec process-compose up "$@"
    '';

    meta = {
      description = "Run PostgreSQL, Redis, migrations and the API under process-compose";
      mainProgram = "flask-nix-stack-up";
    };
  };

  migrate = writeShellApplication {
    name = "flask-nix-stack-migrate";

    runtimeInputs = [ gitMinimal ];

    # From the repository root, so a .env there is read as the stack's processes would.
    text = ''
      ${cdRepoRoot}
      exec ${lib.getExe flask-nix-stack} db upgrade "$@"
    '';

    meta = {
      description = "Apply the database migrations (flask-nix-stack db upgrade)";
      mainProgram = "flask-nix-stack-migrate";
    };
  };
}

# `nix develop`: the server's Python dependencies plus the dev tools and the benchmarks' own, the
# same PostgreSQL, Redis and process-compose the stack runs, and the Nix formatter.
#
# The checkout itself is installed editable (nixpkgs' mkPythonEditablePackage, PEP 660): a .pth
# file puts $FLASK_NIX_STACK_ROOT on sys.path at run time and the `flask-nix-stack` script is
# generated from pyproject's [project.scripts]. So `pytest`, `process-compose up` (dev mode,
# reloader) and the CLI all import the working tree, with no venv and no rebuild per edit.
# A plain PYTHONPATH would do for imports but not give the console script.
{
  lib,
  mkShell,
  python3,
  flask-nix-stack,
  postgresql,
  redis,
  process-compose,
  ruff,
  pyright,
  yamllint,
  wrk,
  openapi-generator-cli,
  nixfmt-tree,
}:

let
  pyproject = lib.importTOML ../pyproject.toml;
  # The line of pyproject.toml that identifies a checkout of this project.
  projectLine = ''name = "${pyproject.project.name}"'';

  editable = python3.pkgs.mkPythonEditablePackage {
    pname = pyproject.project.name;
    inherit (pyproject.project) version scripts;
    # Expanded by Python (os.path.expandvars) each time the interpreter starts.
    root = "$FLASK_NIX_STACK_ROOT";
    dependencies = flask-nix-stack.pythonDependencies;
  };

  python = python3.withPackages (
    ps:
    [
      editable
      # The type checkers' view of the untyped libraries the tests drive (pyproject's dev extra).
      ps.mypy
      ps.types-psycopg2
      ps.types-pyyaml
      ps.types-jsonschema
      ps.types-requests
      # pyproject's bench extra: bench/'s FastAPI peer and server candidates.
      ps.fastapi
      ps.uvicorn
      ps.a2wsgi
      ps.gevent
      ps.asyncpg
    ]
    ++ ps.uvicorn.optional-dependencies.standard
    ++ flask-nix-stack.testDependencies
  );
in
mkShell {
  packages = [
    python
    ruff
    pyright
    yamllint
    postgresql
    redis
    process-compose
    # The HTTP load of bench/.
    wrk
    # tests/test_generated_clients.py makes a Python client with it.
    openapi-generator-cli
    nixfmt-tree
  ];

  # The checkout to import: FLASK_NIX_STACK_ROOT if set, else the nearest directory from $PWD
  # upwards whose pyproject.toml names this project. Pure bash (no git, which the shell does not
  # provide, and nothing `nix develop -i` would drop); a shell started elsewhere says so instead
  # of silently importing nothing.
  shellHook = ''
    if [ -z "''${FLASK_NIX_STACK_ROOT:-}" ]; then
      _fns_dir="$PWD"
      while [ -n "$_fns_dir" ]; do
        if [ -f "$_fns_dir/pyproject.toml" ] \
          && [[ "$(< "$_fns_dir/pyproject.toml")" == *${lib.escapeShellArg projectLine}* ]]; then
          FLASK_NIX_STACK_ROOT="$_fns_dir"
          break
        fi
        _fns_dir="''${_fns_dir%/*}"
      done
      unset _fns_dir
    fi
    if [ -n "''${FLASK_NIX_STACK_ROOT:-}" ]; then
      export FLASK_NIX_STACK_ROOT
      # `process-compose up` here keeps the stack's state in the checkout's .data/; without a
      # process-compose config directory of the user's, it starts without its debug lines
      # (stack/process-compose-config.sh, as `nix run` and script/server do).
      ${builtins.readFile ../stack/process-compose-config.sh}
      process_compose_config "$FLASK_NIX_STACK_ROOT/.data"
      unset -f process_compose_config
    else
      echo "flask-nix-stack dev shell: no checkout at or above $PWD; cd into one, or set" \
        "FLASK_NIX_STACK_ROOT, for \`import server\` and the flask-nix-stack command" >&2
    fi
  '';
}

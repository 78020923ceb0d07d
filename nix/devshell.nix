# `nix develop`: the server's Python dependencies plus the dev tools, the same PostgreSQL, Redis
# and process-compose the stack runs, and the Nix formatter.
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
  nixfmt-tree,
}:

let
  pyproject = lib.importTOML ../pyproject.toml;

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
      ps.mypy
    ]
    ++ flask-nix-stack.testDependencies
  );
in
mkShell {
  packages = [
    python
    ruff
    postgresql
    redis
    process-compose
    nixfmt-tree
  ];

  shellHook = ''
    FLASK_NIX_STACK_ROOT="$(git rev-parse --show-toplevel 2>/dev/null || pwd)"
    export FLASK_NIX_STACK_ROOT
  '';
}

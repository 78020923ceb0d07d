# A stand-in for `import nixpkgs { system; overlays; }` with nixpkgs' real lib, so flake.nix's
# outputs can be evaluated where no nixpkgs (and no store) exists. callPackage records which file
# it was given and with which arguments instead of building; the Python package set holds only
# the attribute names checked against nixpkgs' source (pkgs/development/python-modules/<name>),
# so nix/package.nix fails to evaluate here if it names any other.
{
  system,
  overlays ? [ ],
}:
let
  lib = import <nixpkgs/lib>;

  fake =
    name: extra:
    {
      type = "derivation";
      inherit name;
      outPath = "/nix/store/${lib.fixedWidthString 32 "0" ""}-${name}";
      meta = { };
    }
    // extra;

  verifiedPythonPackages = [
    "alembic"
    "flask"
    "flask-caching"
    "flask-cors"
    "flask-limiter"
    "flask-migrate"
    "flask-sqlalchemy"
    "gunicorn"
    "limits"
    "mypy"
    "psycopg2"
    "pydantic"
    "pydantic-settings"
    "pytest"
    "pytest-cov"
    "pytestCheckHook"
    "python-dotenv"
    "python-json-logger"
    "redis"
    "requests"
    "sentry-sdk"
    "setuptools"
    "sqlalchemy"
  ];

  pythonPackages = lib.genAttrs verifiedPythonPackages (name: fake "python3-${name}" { })
    // {
      buildPythonApplication = attrs: fake "${attrs.pname}-${attrs.version}" { inherit attrs; } // attrs.passthru // { inherit (attrs) meta version; };
      toPythonModule = drv: drv;
      mkPythonEditablePackage = attrs: fake "${attrs.pname}-editable" { inherit attrs; };
    };

  python3 = fake "python3" {
    pkgs = pythonPackages;
    withPackages = f: fake "python3-env" { packages = f pythonPackages; };
  };

  base = final: {
    inherit lib python3;
    stdenv.hostPlatform = lib.systems.elaborate system;
    callPackage =
      fn: args:
      let
        file = baseNameOf fn;
        fnArgs = builtins.functionArgs (import fn);
        auto = builtins.intersectAttrs fnArgs final;
      in
      if file == "package.nix" then
        import fn (auto // args)
      else
        fake (lib.removeSuffix ".nix" file) {
          callPackage = {
            inherit file args;
          };
          stack = fake "flask-nix-stack-up" {
            meta.description = "stack";
            meta.mainProgram = "flask-nix-stack-up";
          };
          migrate = fake "flask-nix-stack-migrate" {
            meta.description = "migrate";
            meta.mainProgram = "flask-nix-stack-migrate";
          };
        };
    runCommand = name: env: script: fake name { inherit env script; };
    testers.runNixOSTest = test: fake "nixos-test-${test.name}" { inherit test; };
    postgresql = fake "postgresql" { };
    postgresqlTestHook = fake "postgresql-test-hook" { };
    redisTestHook = fake "redis-test-hook" { };
    nixfmt-tree = fake "nixfmt-tree" { };
    nixfmt = fake "nixfmt" { };
    ruff = fake "ruff" { };
  };
in
lib.fix (lib.foldl' (acc: overlay: lib.extends overlay acc) base overlays)

# A stand-in for `import nixpkgs { system; overlays; }` with nixpkgs' real lib, so flake.nix's
# outputs can be evaluated where there is neither nixpkgs nor a store (tests/nix/
# test_flake_outputs.py). The overlay and every nix/*.nix file are evaluated for real; the
# builders (buildPythonApplication, mkShell, writeShellApplication, streamLayeredImage,
# runCommand, runNixOSTest) only record their arguments. The Python set
# holds only the attribute names checked against nixpkgs' source
# (pkgs/development/python-modules/<name>), so nix/package.nix fails here if it names another.
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
    "flask-swagger-ui"
    "granian"
    "gunicorn"
    "hypothesis"
    "limits"
    "mypy"
    "psycopg2"
    "pydantic"
    "pydantic-settings"
    "pyjwt"
    "cryptography"
    "pytest"
    "pytest-cov"
    "pytestCheckHook"
    "python-dotenv"
    "python-json-logger"
    "pyyaml"
    "redis"
    "requests"
    "schemathesis"
    "sentry-sdk"
    "setuptools"
    "sqlalchemy"
  ];

  builders = {
    buildPythonApplication =
      attrs:
      fake "${attrs.pname}-${attrs.version}" (
        attrs.passthru
        // {
          inherit attrs;
          inherit (attrs) meta version;
        }
      );
    toPythonModule = drv: drv;
    mkPythonEditablePackage = attrs: fake "${attrs.pname}-editable" { inherit attrs; };
  };

  pythonPackages =
    lib.genAttrs verifiedPythonPackages (name: fake "python3-${name}" { }) // builders;

  python3 = fake "python3" {
    pkgs = pythonPackages;
    sitePackages = "lib/python3.13/site-packages";
    withPackages = f: fake "python3-env" { packages = f pythonPackages; };
  };

  base = final: {
    inherit lib python3;
    stdenv.hostPlatform = lib.systems.elaborate system;

    # Every file is called for real, with the stand-ins below for what it asks for.
    callPackage =
      fn: args:
      let
        wanted = builtins.functionArgs (import fn);
      in
      import fn (builtins.intersectAttrs wanted final // args);

    mkShell = attrs: fake "nix-shell" { inherit attrs; };
    writeShellApplication =
      attrs:
      fake attrs.name {
        inherit (attrs) text runtimeInputs;
        meta = attrs.meta // {
          mainProgram = attrs.name;
        };
      };
    dockerTools = {
      streamLayeredImage = args: fake "stream-${args.name}" { inherit args; };
      fakeNss = fake "fake-nss" { override = lines: fake "fake-nss" { inherit lines; }; };
      caCertificates = fake "ca-certificates" { };
    };
    runCommand =
      name: env: script:
      fake name { inherit env script; };
    testers.runNixOSTest = test: fake "nixos-test-${test.name}" { inherit test; };

    postgresql = fake "postgresql" { };
    postgresqlTestHook = fake "postgresql-test-hook" { };
    redisTestHook = fake "redis-test-hook" { };
    nixfmt-tree = fake "nixfmt-tree" { };
    nixfmt = fake "nixfmt" { };
    ruff = fake "ruff" { };
    gitMinimal = fake "git-minimal" { };
    bash = fake "bash" { };
    coreutils = fake "coreutils" { };
    redis = fake "redis" { };
    process-compose = fake "process-compose" { };
  };
in
lib.fix (lib.foldl' (acc: overlay: lib.extends overlay acc) base overlays)

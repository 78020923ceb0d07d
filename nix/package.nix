# The server as a Python application, built from nixpkgs' own Python packages and tested in
# the build against a real PostgreSQL and Redis. Shape of nixpkgs'
# pkgs/by-name/fi/fittrackee/package.nix (Flask + SQLAlchemy + psycopg2 + gunicorn).
{
  lib,
  stdenv,
  python3,
  postgresql,
  postgresqlTestHook,
  redisTestHook,

  # Exposed as passthru.tests (the flake passes the NixOS VM test). Not named `tests`:
  # callPackage would fill that from pkgs.tests.
  passthruTests ? { },
}:

let
  pythonPackages = python3.pkgs;
  root = ../.;

  # Exactly what the wheel and its test suite need, so edits elsewhere rebuild nothing.
  # README.md is here because pyproject.toml names it as `readme` (setuptools reads it);
  # .env.example is checked by tests/repo, which is left out. tests/stack starts process-compose,
  # tests/nix needs Nix itself, and tests/repo checks the repository around the package (docs,
  # scripts, CI): none can run in the build sandbox, so they are not even part of the source.
  # tests/nix/test_build_replay.py reads this very expression and runs the check phase on
  # exactly these files, so a file the tests need and this set lacks fails there.
  src = lib.fileset.toSource {
    inherit root;
    fileset = lib.fileset.unions [
      ../pyproject.toml
      ../alembic.ini
      ../README.md
      ../.env.example
      ../server
      (lib.fileset.difference ../tests (
        lib.fileset.unions [
          (lib.fileset.maybeMissing ../tests/stack)
          (lib.fileset.maybeMissing ../tests/nix)
          (lib.fileset.maybeMissing ../tests/repo)
          # The fuzzing needs schemathesis, which nixpkgs 26.05 lacks (see testDependencies).
          (lib.fileset.maybeMissing ../tests/fuzz)
        ]
      ))
    ];
  };

  pyproject = lib.importTOML ../pyproject.toml;

  # pyproject.toml `dependencies` (lower bounds only, so nixpkgs' versions satisfy them).
  dependencies = with pythonPackages; [
    alembic
    click
    flask
    flask-cors
    flask-migrate
    flask-sqlalchemy
    # The Swagger UI assets /docs serves (no CDN).
    flask-swagger-ui
    # The default server (server/serve.py); gunicorn stays the alternative.
    granian
    gunicorn
    # Metrics across worker processes (server/infra/metrics.py).
    prometheus-client
    # Rate limits (server/infra/ratelimit.py), on the `redis` client.
    limits
    psycopg2
    pydantic
    pydantic-settings
    # server/schemas imports typing_extensions directly (pydantic pulls it in as well).
    typing-extensions
    # OIDC access tokens (server/auth/oidc.py): PyJWT, with cryptography for RSA/EC keys.
    pyjwt
    cryptography
    # server/config imports dotenv directly (pydantic-settings pulls it in as well).
    python-dotenv
    python-json-logger
    redis
    sqlalchemy
    werkzeug
    # granian's worker event loop (server/serve.py): asyncio's can deadlock a stopping worker.
    uvloop
  ];

  # pyproject.toml `dev` extra: what the test suite imports besides the app. Not schemathesis:
  # nixpkgs 26.05 has no python3Packages.schemathesis (NixOS/nixpkgs#522967, "schemathesis: init
  # at 4.19.0", was a draft blocked on five other new packages at the branch-off). The fuzzing
  # (tests/fuzz) runs in CI's job without Nix, which installs it from PyPI.
  testDependencies = with pythonPackages; [
    hypothesis
    jsonschema
    openapi-spec-validator
    pytest
    pytest-cov
    pytest-xdist
    python-dateutil
    pyyaml
    requests
  ];

  optional-dependencies = {
    sentry = [ pythonPackages.sentry-sdk ];
    # OpenTelemetry traces (server/middleware/tracing.py).
    tracing = with pythonPackages; [
      opentelemetry-sdk
      opentelemetry-exporter-otlp-proto-http
      opentelemetry-instrumentation-flask
      opentelemetry-instrumentation-psycopg2
      opentelemetry-instrumentation-redis
    ];
  };

  # finalAttrs (buildPythonApplication is built with lib.extendMkDerivation): runtimeEnv below
  # holds the final package, so `overridePythonAttrs` changes what the image and units run.
  app = pythonPackages.buildPythonApplication (finalAttrs: {
    pname = pyproject.project.name;
    inherit (pyproject.project) version;
    pyproject = true;

    inherit src dependencies optional-dependencies;

    build-system = [ pythonPackages.setuptools ];

    nativeCheckInputs =
      testDependencies
      ++ [
        pythonPackages.pytestCheckHook
        # Their console scripts, which the tests run as subprocesses (found on PATH here).
        pythonPackages.alembic
        pythonPackages.gunicorn
        postgresql
        postgresqlTestHook
        redisTestHook
      ]
      ++ optional-dependencies.sentry
      ++ optional-dependencies.tracing;

    # The hooks export PGHOST (a socket directory), PGUSER=test_user, PGDATABASE=test_db and
    # REDIS_SOCKET; tests/servers.py then uses those servers instead of starting its own.
    # See pkgs/by-name/{po/postgresqlTestHook,re/redisTestHook} in nixpkgs.
    # The tests create one database per area (fns_cli, fns_migrations, ...).
    postgresqlTestUserOptions = "LOGIN CREATEDB";
    # The hook's server is thrown away after the check (pg_ctl stop --mode=immediate): no fsync
    # at each commit, as the suite's own servers run (tests/support/servers.py).
    postgresqlExtraSettings = ''
      fsync = off
      synchronous_commit = off
      full_page_writes = off
    '';
    # Port 0: Redis on the socket only, so parallel unsandboxed builds do not fight over 6379.
    redisTestPort = 0;

    # The tests run the installed `flask-nix-stack`, alembic and gunicorn as subprocesses;
    # they import the installed package (the check runs after the install phase).
    preCheck = ''
      export PATH="$out/bin:$PATH"
      export PYTHONPATH="$out/${python3.sitePackages}:$PYTHONPATH"
    '';

    # postgresqlTestHook is marked broken on Darwin (meta.badPlatforms).
    doCheck = !stdenv.hostPlatform.isDarwin;

    # `stack` starts the whole process-compose stack; `slow` are the fault tests (each starts and
    # breaks its own servers) and the fuzzing: both run in CI's job without Nix (.ci/run).
    disabledTestMarks = [
      "stack"
      "slow"
    ];

    pythonImportsCheck = [ "server" ];

    passthru = {
      tests = passthruTests;

      # The interpreter with this package, its dependencies and the optional Sentry support:
      # what gunicorn, `flask-nix-stack` and alembic run in (the image and `nix run`).
      # The one environment every entry point runs in: gunicorn, `flask-nix-stack` (the
      # migrate unit, flask-nix-stack-manage, `nix run .#migrate`), the stack and the image.
      runtimeEnv = python3.withPackages (
        _:
        [ (pythonPackages.toPythonModule finalAttrs.finalPackage) ]
        ++ optional-dependencies.sentry
        ++ optional-dependencies.tracing
      );

      # For the dev shell, which installs the same dependencies beside an editable checkout.
      pythonDependencies = dependencies ++ optional-dependencies.sentry ++ optional-dependencies.tracing;
      inherit testDependencies;
    };

    meta = {
      inherit (pyproject.project) description;
      license = lib.licenses.mit;
      mainProgram = "flask-nix-stack";
      platforms = lib.platforms.linux ++ lib.platforms.darwin;
    };
  });
in
app

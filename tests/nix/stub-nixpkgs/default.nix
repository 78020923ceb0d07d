# A stand-in for `import nixpkgs { system; overlays; }` with nixpkgs' real lib, so flake.nix's
# outputs can be evaluated where there is neither nixpkgs nor a store (tests/nix/
# test_flake_outputs.py). The overlay and every nix/*.nix file are evaluated for real; the
# builders only record their arguments, but they refuse what the real ones refuse: each accepts
# exactly the argument names of the nixpkgs function it stands in for (the file is named beside
# it; read in NixOS/nixpkgs, the stored versions, as the pinned revision is not in the search
# index), and runNixOSTest evaluates its node with the NixOS stand-in options
# (nix/tests/nixos-stand-in.nix) and read-only nixpkgs.* as the real one does by default. The
# Python set holds only the attribute names checked against nixpkgs' source
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

  # What a closed `{ a, b ? x }:` argument set does with other names: refuse the call.
  closedArgs =
    what: required: optional: args:
    let
      unexpected = lib.subtractLists (required ++ optional) (builtins.attrNames args);
      missing = lib.subtractLists (builtins.attrNames args) required;
    in
    if unexpected != [ ] then
      throw "${what} called with unexpected argument(s): ${lib.concatStringsSep ", " unexpected}"
    else if missing != [ ] then
      throw "${what} called without required argument(s): ${lib.concatStringsSep ", " missing}"
    else
      args;

  verifiedPythonPackages = [
    "a2wsgi"
    "alembic"
    "asyncpg"
    "click"
    "flask"
    "flask-cors"
    "flask-limiter"
    "flask-migrate"
    "flask-sqlalchemy"
    "flask-swagger-ui"
    "gevent"
    "granian"
    "gunicorn"
    "hypothesis"
    "jsonschema"
    "limits"
    "mypy"
    "openapi-spec-validator"
    "opentelemetry-exporter-otlp-proto-http"
    "opentelemetry-instrumentation-flask"
    "opentelemetry-instrumentation-psycopg2"
    "opentelemetry-instrumentation-redis"
    "opentelemetry-sdk"
    "prometheus-client"
    "psycopg2"
    "pydantic"
    "pydantic-settings"
    "pyjwt"
    "cryptography"
    "fastapi"
    "pytest"
    "pytest-cov"
    "pytest-xdist"
    "pytestCheckHook"
    "python-dateutil"
    "python-dotenv"
    "python-json-logger"
    "pyyaml"
    "redis"
    "requests"
    "sentry-sdk"
    "setuptools"
    "sqlalchemy"
    "types-jsonschema"
    "types-psycopg2"
    "types-pyyaml"
    "types-requests"
    "typing-extensions"
    "uvloop"
    "werkzeug"
  ];

  builders = {
    # pkgs/development/interpreters/python/mk-python-derivation.nix: lib.extendMkDerivation, so
    # an attribute set or a `finalAttrs:` function; its argument set is open (`...`, the rest
    # goes to stdenv.mkDerivation), but a package must say `pyproject` or `format`.
    buildPythonApplication =
      argsOrFn:
      let
        attrs =
          if lib.isFunction argsOrFn then
            lib.fix (final: argsOrFn (final // { finalPackage = drv; }))
          else
            argsOrFn;
        drv =
          if !(attrs ? pyproject || attrs ? format) then
            throw "${attrs.pname} does not configure a `format`"
          else
            fake "${attrs.pname}-${attrs.version}" (
              attrs.passthru
              // {
                inherit attrs;
                inherit (attrs) meta version;
                # As nixpkgs' makeOverridablePythonPackage: call the builder again with the
                # arguments updated by `f`, so a `finalAttrs:` function sees the new values.
                overridePythonAttrs =
                  f:
                  builders.buildPythonApplication (
                    if lib.isFunction argsOrFn then
                      final:
                      let
                        old = argsOrFn final;
                      in
                      old // f old
                    else
                      argsOrFn // f argsOrFn
                  );
              }
            );
      in
      drv;
    toPythonModule = drv: drv;
    # pkgs/development/interpreters/python/editable.nix: a closed argument set.
    mkPythonEditablePackage =
      args:
      let
        attrs =
          closedArgs "mkPythonEditablePackage"
            [
              "pname"
              "version"
              "root"
            ]
            [
              "derivationArgs"
              "dependencies"
              "optional-dependencies"
              "build-system"
              "scripts"
              "gui-scripts"
              "entry-points"
              "passthru"
              "meta"
            ]
            args;
      in
      assert lib.isString attrs.root;
      fake "${attrs.pname}-editable" { inherit attrs; };
  };

  pythonPackages =
    lib.genAttrs verifiedPythonPackages (name: fake "python3-${name}" { })
    // {
      # optional-dependencies.standard: uvicorn[standard]'s extras.
      uvicorn = fake "python3-uvicorn" {
        optional-dependencies.standard = map (name: fake "python3-${name}" { }) [
          "httptools"
          "python-dotenv"
          "pyyaml"
          "uvloop"
          "watchfiles"
          "websockets"
        ];
      };
    }
    // builders;

  python3 = fake "python3" {
    pkgs = pythonPackages;
    sitePackages = "lib/python3.13/site-packages";
    withPackages = f: fake "python3-env" { packages = f pythonPackages; };
  };

  nixosStandIn = import ../../../nix/tests/nixos-stand-in.nix;

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

    # pkgs/build-support/mkshell/default.nix: open argument set.
    mkShell = attrs: fake "nix-shell" { inherit attrs; };

    # pkgs/build-support/trivial-builders/default.nix: a closed argument set. `script` is the
    # file it writes (shebang, `set -o` lines, PATH, text): the checkPhase runs shellcheck on it.
    writeShellApplication =
      args:
      let
        attrs =
          closedArgs "writeShellApplication"
            [
              "name"
              "text"
            ]
            [
              "runtimeInputs"
              "runtimeEnv"
              "meta"
              "passthru"
              "checkPhase"
              "excludeShellChecks"
              "extraShellCheckFlags"
              "bashOptions"
              "derivationArgs"
              "inheritPath"
            ]
            args;
        runtimeInputs = attrs.runtimeInputs or [ ];
        bashOptions =
          attrs.bashOptions or [
            "errexit"
            "nounset"
            "pipefail"
          ];
      in
      fake attrs.name {
        inherit (attrs) text;
        inherit runtimeInputs;
        excludeShellChecks = attrs.excludeShellChecks or [ ];
        script = ''
          #!/bin/bash
          ${lib.concatMapStringsSep "\n" (option: "set -o ${option}") bashOptions}
        ''
        + lib.optionalString (runtimeInputs != [ ]) ''

          export PATH="${lib.makeBinPath runtimeInputs}:$PATH"
        ''
        + ''

          ${attrs.text}
        '';
        meta = attrs.meta or { } // {
          mainProgram = attrs.name;
        };
      };

    dockerTools = {
      # pkgs/build-support/docker/default.nix: a closed argument set.
      streamLayeredImage =
        args:
        fake "stream-${args.name}" {
          args =
            closedArgs "dockerTools.streamLayeredImage"
              [ "name" ]
              [
                "tag"
                "fromImage"
                "contents"
                "config"
                "architecture"
                "created"
                "mtime"
                "uid"
                "gid"
                "uname"
                "gname"
                "maxLayers"
                "extraCommands"
                "fakeRootCommands"
                "enableFakechroot"
                "includeStorePaths"
                "includeNixDB"
                "passthru"
                "meta"
                "layeringPipeline"
                "debug"
              ]
              args;
        };
      # pkgs/by-name/fa/fakeNss/package.nix, overridden like any callPackage result.
      fakeNss = fake "fake-nss" {
        override =
          args:
          fake "fake-nss" {
            lines =
              closedArgs "fakeNss.override"
                [ ]
                [
                  "lib"
                  "symlinkJoin"
                  "writeTextDir"
                  "runCommand"
                  "extraPasswdLines"
                  "extraGroupLines"
                ]
                args;
          };
      };
      caCertificates = fake "ca-certificates" { };
    };

    runCommand =
      name: env: script:
      fake name { inherit env script; };

    # nixos/lib/testing/*.nix: the test is a module; these are its options (nodes.nix, driver.nix,
    # name/testScript/meta). A node is evaluated with the NixOS stand-in options and, as
    # node.pkgsReadOnly defaults to true when node.pkgs is given (runNixOSTest gives it), with
    # read-only nixpkgs.* (nixos/modules/misc/nixpkgs/read-only.nix).
    testers.runNixOSTest =
      test:
      let
        checked =
          closedArgs "runNixOSTest"
            [ "name" ]
            [
              "nodes"
              "containers"
              "defaults"
              "nodeDefaults"
              "containerDefaults"
              "extraBaseModules"
              "extraBaseNodeModules"
              "node"
              "sshBackdoor"
              "testScript"
              "skipLint"
              "skipTypeCheck"
              "meta"
              "passthru"
              "interactive"
              "globalTimeout"
              "enableOCR"
              "extraPythonPackages"
              "extraDriverArgs"
              "enableDebugHook"
              "qemu"
            ]
            test;
        node = closedArgs "runNixOSTest node" [ ] [ "pkgs" "pkgsReadOnly" "specialArgs" ] (
          checked.node or { }
        );
        pkgsReadOnly = node.pkgsReadOnly or true;
        standIn = nixosStandIn {
          inherit lib;
          pkgs = final;
        };
        evalNode =
          nodeModule:
          lib.evalModules {
            modules = [
              standIn.module
              standIn.vmTestOptions
              nodeModule
              { _module.args.utils = standIn.utils; }
              (if pkgsReadOnly then standIn.readOnlyNixpkgs else { _module.args.pkgs = final; })
            ];
          };
      in
      fake "nixos-test-${test.name}" {
        test = checked;
        inherit pkgsReadOnly;
        nodes = lib.mapAttrs (_: evalNode) (checked.nodes or { });
      };

    systemd = fake "systemd" { };
    writeShellScriptBin = name: text: fake name { inherit text; };
    postgresql = fake "postgresql" { };
    postgresqlTestHook = fake "postgresql-test-hook" { };
    redisTestHook = fake "redis-test-hook" { };
    nixfmt-tree = fake "nixfmt-tree" { };
    nixfmt = fake "nixfmt" { };
    ruff = fake "ruff" { };
    pyright = fake "pyright" { };
    yamllint = fake "yamllint" { };
    wrk = fake "wrk" { };
    openapi-generator-cli = fake "openapi-generator-cli" { };
    bash = fake "bash" { };
    gitMinimal = fake "git-minimal" { };
    coreutils = fake "coreutils" { };
    redis = fake "redis" { };
    process-compose = fake "process-compose" { };
    openssl = fake "openssl" { };
    writeText = name: text: fake name { inherit text; };
  };
in
lib.fix (lib.foldl' (acc: overlay: lib.extends overlay acc) base overlays)

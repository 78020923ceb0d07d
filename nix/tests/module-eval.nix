# Evaluates ../module.nix with nixpkgs' `lib` alone: ./nixos-stand-in.nix declares the NixOS
# options the module writes to with nixpkgs' own types, and a stand-in `pkgs` holds fake store
# paths. `failures` lists
# every expectation that does not hold; `cases` exposes the evaluated facts as JSON for pytest
# (tests/nix/test_module_eval.py). The stand-in defaults mirror nixpkgs' modules
# (nixos/modules/services/databases/{postgresql,redis}.nix, services/web-servers/nginx).
{ lib }:
let
  fakeStorePath = pname: "/nix/store/${lib.fixedWidthString 32 "1" ""}-${pname}";
  fakePackage =
    pname: extra:
    {
      type = "derivation";
      name = pname;
      outPath = fakeStorePath pname;
    }
    // extra;

  pkgs = {
    flask-nix-stack = fakePackage "flask-nix-stack-0.1.0" {
      meta.mainProgram = "flask-nix-stack";
      runtimeEnv = fakePackage "python3-3.12-env" { };
    };
    coreutils = fakePackage "coreutils-9.5" { };
    systemd = fakePackage "systemd-257" { };
    writeShellScriptBin = pname: text: fakePackage pname { inherit text; };
  };

  standIn = import ./nixos-stand-in.nix { inherit lib pkgs; };

  evaluate =
    serviceConfig:
    lib.evalModules {
      modules = [
        standIn.module
        ../module.nix
        {
          _module.args = {
            inherit pkgs;
            inherit (standIn) utils;
          };
          services.flask-nix-stack = serviceConfig;
        }
      ];
    };

  unitFacts = unit: {
    inherit (unit)
      description
      wantedBy
      after
      requires
      wants
      environment
      serviceConfig
      ;
  };

  facts =
    serviceConfig:
    let
      evaluated = evaluate serviceConfig;
      inherit (evaluated) config;
      units = config.systemd.services;
      redis = config.services.redis.servers;
    in
    {
      failedAssertions = map (a: a.message) (lib.filter (a: !a.assertion) config.assertions);
      inherit (config) warnings;
      unitNames = lib.attrNames units;
      web = if units ? flask-nix-stack then unitFacts units.flask-nix-stack else null;
      migrate = if units ? flask-nix-stack-migrate then unitFacts units.flask-nix-stack-migrate else null;
      nginxUnit = units.nginx.serviceConfig or null;
      postgresql = {
        inherit (config.services.postgresql) enable ensureDatabases ensureUsers;
      };
      redis = redis.flask-nix-stack or null;
      nginx = {
        inherit (config.services.nginx)
          enable
          recommendedProxySettings
          commonHttpConfig
          eventsConfig
          appendConfig
          upstreams
          virtualHosts
          ;
      };
      firewallTCPPorts = config.networking.firewall.allowedTCPPorts;
      users = config.users.users;
      groups = lib.attrNames config.users.groups;
      systemPackages = map (p: p.name) config.environment.systemPackages;
      manageScript = lib.concatMapStrings (p: p.text or "") config.environment.systemPackages;
      packagePath = pkgs.flask-nix-stack.outPath;
      runtimeEnvPath = pkgs.flask-nix-stack.runtimeEnv.outPath;
      # Every visible option of the module needs a description (the NixOS manual renders them).
      undocumentedOptions = map (o: o.name) (
        lib.filter (
          o:
          lib.hasPrefix "services.flask-nix-stack." o.name
          && o.visible
          && !o.internal
          && (o.description or null == null || o.description == "")
        ) (lib.optionAttrSetToDocList evaluated.options)
      );
      # Setting names the module declares, set or not (tests/nix/test_settings_names.py).
      declaredSettings = lib.filter (n: !lib.hasPrefix "_" n) (
        lib.attrNames (evaluated.options.services.flask-nix-stack.settings.type.getSubOptions [ ])
      );
    };

  secretKey = "/run/keys/flask-nix-stack-secret-key";

  cases = lib.mapAttrs (_: facts) {
    # Everything on this host: the VM test's configuration, plus nginx on the socket.
    local = {
      enable = true;
      database.createLocally = true;
      redis.createLocally = true;
      unixSocket = "/run/flask-nix-stack/web.sock";
      workers = 3;
      threads = 2;
      nginx.enable = true;
      nginx.domain = "api.example.test";
      credentials.APP_SECRET_KEY = secretKey;
    };
    # External backends on TCP, secrets in an env file, settings and gunicorn flags.
    external = {
      enable = true;
      database.url = "postgresql+psycopg2://app@db.internal:5432/app";
      redis.url = "redis://cache.internal:6379/0";
      listenAddress = "0.0.0.0";
      port = 8001;
      openFirewall = true;
      environmentFile = "/run/secrets/flask-nix-stack.env";
      gunicorn.extraArgs = [
        "--max-requests=1000"
        "--name=api server"
      ];
      settings = {
        APP_SERVER = "gunicorn";
        APP_LOG_LEVEL = "DEBUG";
        APP_CACHE_TTL = 60;
        APP_RATELIMIT_ENABLED = false;
      };
    };
    # nginx in front of a TCP listener on IPv6 loopback; mixed local/remote backends.
    nginxTcp = {
      enable = true;
      database.createLocally = true;
      redis.url = "redis://cache.internal:6379/0";
      listenAddress = "::1";
      nginx.enable = true;
      nginx.domain = "api.example.test";
      openFirewall = true;
      credentials.APP_SECRET_KEY = secretKey;
    };
    disabled = {
      enable = false;
    };
    # Every assertion of the module should fire here.
    misconfigured = {
      enable = true;
      database.createLocally = true;
      database.url = "postgresql+psycopg2://app@db/app";
      redis.createLocally = true;
      redis.url = "redis://cache/0";
      unixSocket = "/tmp/web.sock";
      settings.APP_SENTRY_DSN = "https://key@sentry.example/1";
      credentials.SECRET_KEY = secretKey;
    };
  };

  hasAll = wanted: list: lib.all (x: lib.elem x list) wanted;
  hardeningKeys = [
    "CapabilityBoundingSet"
    "LockPersonality"
    "MemoryDenyWriteExecute"
    "NoNewPrivileges"
    "PrivateDevices"
    "PrivateTmp"
    "ProtectHome"
    "ProtectSystem"
    "RestrictAddressFamilies"
    "SystemCallFilter"
    "UMask"
  ];
  pythonEnv = pkgs.flask-nix-stack.runtimeEnv.outPath;
  localUnits = [
    "postgresql.target"
    "redis-flask-nix-stack.service"
  ];
  migrateUnit = "flask-nix-stack-migrate.service";

  # What must hold for both units of a configuration.
  unitChecks =
    c:
    lib.concatMapAttrs (
      role: unit:
      if unit == null then
        { "${role} unit exists" = false; }
      else
        {
          "${role} hardening keys" = hasAll hardeningKeys (lib.attrNames unit.serviceConfig);
          "${role} user" = unit.serviceConfig.User == "flask-nix-stack";
          "${role} APP_ENV" = unit.environment.APP_ENV == "production";
          "${role} environment equals web's" = unit.environment == c.web.environment;
        }
    ) { inherit (c) web migrate; };

  # case name -> { "what is expected" = holds; }
  expectations = {
    local =
      let
        c = cases.local;
      in
      unitChecks c
      // {
        "no assertion fails" = c.failedAssertions == [ ];
        "web ExecStart" = c.web.serviceConfig.ExecStart == ''"${pythonEnv}/bin/flask-nix-stack" "serve"'';
        "granian by default, no sd_notify" =
          c.web.environment.APP_SERVER == "granian" && c.web.serviceConfig.Type == "exec";
        # The CLI from the same environment as the server (Sentry extra included), not the bare
        # package.
        "migrate ExecStart" =
          c.migrate.serviceConfig.ExecStart == ''"${pythonEnv}/bin/flask-nix-stack" "db" "upgrade"'';
        "manage runs the environment's CLI" =
          lib.hasInfix "${pythonEnv}/bin/flask-nix-stack" c.manageScript;
        "migrate is a remaining oneshot" =
          c.migrate.serviceConfig.Type == "oneshot" && c.migrate.serviceConfig.RemainAfterExit;
        "web requires migrate and backends" = hasAll (localUnits ++ [ migrateUnit ]) c.web.requires;
        "web after migrate and backends" = hasAll (localUnits ++ [ migrateUnit ]) c.web.after;
        "migrate requires backends" = hasAll localUnits c.migrate.requires;
        "APP_BIND" = c.web.environment.APP_BIND == "unix:/run/flask-nix-stack/web.sock";
        "APP_DATABASE_URL" =
          c.web.environment.APP_DATABASE_URL == "postgresql+psycopg2:///flask-nix-stack?host=/run/postgresql";
        "APP_REDIS_URL" =
          c.web.environment.APP_REDIS_URL == "unix:///run/redis-flask-nix-stack/redis.sock?db=0";
        "LoadCredential" = c.web.serviceConfig.LoadCredential == [ "APP_SECRET_KEY:${secretKey}" ];
        "redis group" = c.web.serviceConfig.SupplementaryGroups == [ "redis-flask-nix-stack" ];
        "ensureDatabases" = c.postgresql.ensureDatabases == [ "flask-nix-stack" ];
        "ensureUsers" =
          c.postgresql.ensureUsers == [
            {
              name = "flask-nix-stack";
              ensureDBOwnership = true;
            }
          ];
        "redis server on its socket only" = c.redis != null && c.redis.enable && c.redis.port == 0;
        "nginx upstream on the socket" =
          c.nginx.upstreams.flask-nix-stack.servers ? "unix:/run/flask-nix-stack/web.sock";
        "nginx in the app group" = c.nginxUnit.SupplementaryGroups or [ ] == [ "flask-nix-stack" ];
        "manage wrapper installed" = lib.elem "flask-nix-stack-manage" c.systemPackages;
        "every option documented" = c.undocumentedOptions == [ ];
      };

    external =
      let
        c = cases.external;
      in
      unitChecks c
      // {
        "no assertion fails" = c.failedAssertions == [ ];
        "web requires only migrate" = c.web.requires == [ migrateUnit ];
        "network-online wanted" = lib.elem "network-online.target" c.web.wants;
        "APP_BIND" = c.web.environment.APP_BIND == "0.0.0.0:8001";
        "gunicorn notifies systemd" =
          c.web.serviceConfig.Type == "notify" && c.web.serviceConfig.NotifyAccess == "main";
        "bools render as true/false" = c.web.environment.APP_RATELIMIT_ENABLED == "false";
        "EnvironmentFile" = c.web.serviceConfig.EnvironmentFile == [ "/run/secrets/flask-nix-stack.env" ];
        "firewall opens the port" = c.firewallTCPPorts == [ 8001 ];
        "no local backends" = !c.postgresql.enable && c.redis == null;
      };

    nginxTcp =
      let
        c = cases.nginxTcp;
      in
      unitChecks c
      // {
        "APP_BIND in brackets" = c.web.environment.APP_BIND == "[::1]:8000";
        "nginx upstream" = c.nginx.upstreams.flask-nix-stack.servers ? "[::1]:8000";
        "firewall opens 80 and 443" =
          c.firewallTCPPorts == [
            80
            443
          ];
        "nginx unit untouched" = c.nginxUnit == null;
      };

    disabled = {
      "no units, no packages" = cases.disabled.unitNames == [ ] && cases.disabled.systemPackages == [ ];
    };

    misconfigured = {
      "all six assertions fire" = lib.length cases.misconfigured.failedAssertions == 6;
    };

    refused = lib.mapAttrs (_: r: !r.evaluates) refused;
  };

  # Configurations the module must refuse at evaluation time (not merely by an assertion).
  evaluates =
    serviceConfig:
    (builtins.tryEval (builtins.deepSeq (evaluate serviceConfig).config.systemd.services true)).success;
  refused =
    lib.mapAttrs
      (_: serviceConfig: {
        evaluates = evaluates (
          {
            enable = true;
            credentials.APP_SECRET_KEY = secretKey;
          }
          // serviceConfig
        );
      })
      {
        # Derived settings are read-only: one place to set each value.
        "settings.APP_BIND" = {
          settings.APP_BIND = "0.0.0.0:9000";
        };
        "settings.APP_WORKERS" = {
          settings.APP_WORKERS = 8;
        };
        "settings.APP_THREADS" = {
          settings.APP_THREADS = 4;
        };
        # The test profile is not a deployment profile.
        "APP_ENV testing" = {
          settings.APP_ENV = "testing";
        };
        # Real option types: a unit name must be a unit name, Type one systemd knows.
        "gunicorn.extraArgs not a list" = {
          gunicorn.extraArgs = "--workers 3";
        };
      };
  # The same evaluation accepts a plain valid configuration (so `refused` is not vacuous).
  acceptsPlain = evaluates {
    enable = true;
    credentials.APP_SECRET_KEY = secretKey;
    settings.APP_LOG_LEVEL = "DEBUG";
  };

  failures = lib.concatLists (
    lib.mapAttrsToList (
      case: checks: map (what: "${case}: ${what}") (lib.attrNames (lib.filterAttrs (_: ok: !ok) checks))
    ) expectations
  );
in
{
  inherit cases failures acceptsPlain;
  refused = lib.mapAttrs (_: r: r.evaluates) refused;
}

# NixOS module for flask-nix-stack: granian (or gunicorn) behind an optional nginx, a migration oneshot,
# and optionally a local PostgreSQL database and Redis server.
# Shape follows nixpkgs' nixos/modules/services/web-apps/{pretalx,mealie}.nix.
{
  config,
  lib,
  pkgs,
  utils,
  ...
}:
let
  cfg = config.services.flask-nix-stack;
  name = "flask-nix-stack";

  # Every command runs from the package's Python environment (its passthru.runtimeEnv, see
  # nix/package.nix), as pretalx.nix does with its pythonEnv: the server has to import
  # `server`, and the CLI (migrations, flask-nix-stack-manage) must see the same packages as the
  # web server, the Sentry extra included.
  pythonEnv = cfg.package.runtimeEnv;
  cli = lib.getExe' pythonEnv "flask-nix-stack";

  stateDir = "/var/lib/${name}";
  runtimeDir = "/run/${name}";
  migrateUnit = "${name}-migrate.service";

  # nixpkgs' postgresql.nix puts its socket here and trusts local peer authentication.
  pgSocketDir = "/run/postgresql";
  localDatabaseUrl = "postgresql+psycopg2:///${cfg.user}?host=${pgSocketDir}";

  redisServer = config.services.redis.servers.${name};
  # Newer redis.nix has a `group` option (default: the user); older ones only `user`, which
  # names the group too.
  redisGroup = redisServer.group or redisServer.user;
  localRedisUrl = "unix://${redisServer.unixSocket}?db=0";

  # IPv6 addresses need brackets, for the server's bind as for nginx's upstream.
  hostPort =
    address: port:
    let
      host = if lib.hasInfix ":" address then "[${address}]" else address;
    in
    "${host}:${toString port}";
  bind =
    if cfg.unixSocket != null then "unix:${cfg.unixSocket}" else hostPort cfg.listenAddress cfg.port;

  # The web server command, in one place: `flask-nix-stack serve` (server/serve.py) picks
  # granian or gunicorn; bind, workers and threads come from APP_BIND / APP_WORKERS /
  # APP_THREADS. systemd splits ExecStart= itself: nixpkgs' utils quotes for its rules.
  serverCommand = [
    cli
    "serve"
  ]
  ++ cfg.gunicorn.extraArgs;

  settingValue = v: if lib.isBool v then lib.boolToString v else toString v;
  environment = lib.mapAttrs (_: settingValue) (lib.filterAttrs (_: v: v != null) cfg.settings);

  # What nginx answers by itself (a request line or header it cannot parse, a URI or headers
  # over its buffers, a body over client_max_body_size, an unknown Transfer-Encoding, no
  # upstream) answered as the app answers: problem+json (server/errors.py) with the app's
  # security headers (server/middleware/security_headers.py), not nginx's HTML pages. Only
  # nginx's own errors: proxy_intercept_errors stays off, so the app's answers pass untouched.
  # tests/nix/test_module_nginx_errors.py checks them against the app's, through a real nginx.
  problemPrefix = "/.${name}-problem/";
  nginxProblems = [
    {
      status = 400;
      slug = "bad-request";
      title = "Bad Request";
      detail = "The request could not be parsed.";
    }
    {
      status = 404; # only the internal locations below, asked for from outside
      slug = "not-found";
      title = "Not Found";
      detail = "Nothing is served at this URL.";
    }
    {
      status = 405; # TRACE, which nginx refuses itself (the app answers every other method)
      slug = "method-not-allowed";
      title = "Method Not Allowed";
      detail = "The method is not allowed for the requested URL.";
    }
    {
      status = 413;
      slug = "payload-too-large";
      title = "Content Too Large";
      detail = "The request body is too large.";
    }
    {
      status = 414;
      slug = "uri-too-long";
      title = "URI Too Long";
      detail = "The request URI is too long.";
    }
    {
      # nginx's own code for headers over its buffers (large_client_header_buffers).
      status = 431;
      from = 494;
      slug = "headers-too-large";
      title = "Request Header Fields Too Large";
      detail = "The request headers are too large.";
    }
    {
      status = 500;
      slug = "internal-error";
      title = "Internal Server Error";
      detail = "The server failed to handle the request.";
    }
    {
      status = 501;
      slug = "not-implemented";
      title = "Not Implemented";
      detail = "The request uses a transfer coding or feature this server does not support.";
    }
    {
      status = 502;
      slug = "service-unavailable";
      title = "Bad Gateway";
      detail = "The service is unavailable; retry shortly.";
      retry = true;
    }
    {
      status = 503;
      slug = "service-unavailable";
      title = "Service Unavailable";
      detail = "The service is unavailable; retry shortly.";
      retry = true;
    }
    {
      status = 504;
      slug = "service-unavailable";
      title = "Gateway Timeout";
      detail = "The service is unavailable; retry shortly.";
      retry = true;
    }
    {
      status = 505;
      slug = "http-version-not-supported";
      title = "HTTP Version Not Supported";
      detail = "The HTTP version of the request is not supported.";
    }
  ];
  securityHeaders = {
    X-Content-Type-Options = "nosniff";
    X-Frame-Options = "DENY";
    Content-Security-Policy = "default-src 'none'; frame-ancestors 'none'";
    Referrer-Policy = "no-referrer";
    Cross-Origin-Resource-Policy = "same-origin";
    Cache-Control = "no-store";
  };
  # The access log's format: nginx's `combined` writes `$request`, the request line as sent, and
  # so the password of an absolute-form target's userinfo (`GET http://user:pw@host/`), even on
  # the 400 that refuses it, and whatever else a refused line holds. This one writes the method
  # and the path nginx parsed (`- - -` for a line it could not), and no query: a client may put
  # a credential there (`?access_token=`), percent-encoded past any pattern. The app logs each
  # query it is sent, credentials redacted (server/redaction.py). A path that holds a token or
  # a JWT is logged as `[redacted]`.
  accessLogFormat = ''
    map $uri $flask_nix_stack_logged_path {
      default $uri;
      "~fns_[A-Za-z0-9]{8}_|eyJ[A-Za-z0-9_-]+\." "[redacted]";
    }
    log_format ${name} '$remote_addr [$time_local] "$request_method $flask_nix_stack_logged_path $server_protocol" '
                       '$status $body_bytes_sent $request_time "$http_user_agent"';
  '';
  problemErrorPages = lib.concatMapStrings (
    p:
    "error_page ${toString (p.from or p.status)} =${toString p.status} ${problemPrefix}${toString p.status};\n"
  ) nginxProblems;
  # `return` takes the body in single quotes: the documents hold none, and no `$`.
  problemLocation = p: {
    name = "= ${problemPrefix}${toString p.status}";
    value = {
      return = "${toString p.status} '${
        builtins.toJSON {
          type = "tag:flask-nix-stack,2026:problems/${p.slug}";
          inherit (p) title status detail;
        }
      }'";
      extraConfig = ''
        internal;
        default_type application/problem+json;
      ''
      + lib.concatStrings (
        lib.mapAttrsToList (header: value: "add_header ${header} \"${value}\" always;\n") (
          securityHeaders // lib.optionalAttrs (p.retry or false) { Retry-After = "1"; }
        )
      );
    };
  };

  # Units a local backing service is reached through. postgresql.target, not .service:
  # the target also waits for postgresql-setup.service, which runs ensureUsers/ensureDatabases.
  localUnits =
    lib.optional cfg.database.createLocally "postgresql.target"
    ++ lib.optional cfg.redis.createLocally "redis-${name}.service";
  remoteBackends = !cfg.database.createLocally || !cfg.redis.createLocally;

  # Shared by the web and the migration unit (and mirrored by flask-nix-stack-manage).
  commonUnitConfig = {
    inherit environment;
    after = [
      "network.target"
    ]
    ++ localUnits
    ++ lib.optional remoteBackends "network-online.target";
    wants = lib.optional remoteBackends "network-online.target";
    requires = localUnits;
    serviceConfig = {
      User = cfg.user;
      Group = cfg.group;
      SupplementaryGroups = lib.optional cfg.redis.createLocally redisGroup;
      EnvironmentFile = lib.optional (cfg.environmentFile != null) cfg.environmentFile;
      # The app reads $CREDENTIALS_DIRECTORY when APP_SECRETS_DIR is unset; one file per setting.
      LoadCredential = lib.mapAttrsToList (setting: path: "${setting}:${path}") cfg.credentials;
      StateDirectory = name;
      StateDirectoryMode = "0750";
      WorkingDirectory = stateDir;

      # Hardening, as pretalx.nix; `systemd-analyze security flask-nix-stack` rates it.
      AmbientCapabilities = "";
      CapabilityBoundingSet = [ "" ];
      DevicePolicy = "closed";
      LockPersonality = true;
      MemoryDenyWriteExecute = true;
      NoNewPrivileges = true;
      PrivateDevices = true;
      PrivateTmp = true;
      ProcSubset = "pid";
      ProtectClock = true;
      ProtectControlGroups = true;
      ProtectHome = true;
      ProtectHostname = true;
      ProtectKernelLogs = true;
      ProtectKernelModules = true;
      ProtectKernelTunables = true;
      ProtectProc = "invisible";
      ProtectSystem = "strict";
      RemoveIPC = true;
      RestrictAddressFamilies = [
        "AF_INET"
        "AF_INET6"
        "AF_UNIX"
      ];
      RestrictNamespaces = true;
      RestrictRealtime = true;
      RestrictSUIDSGID = true;
      SystemCallArchitectures = "native";
      # gunicorn chowns its worker heartbeat files: @chown is in ~@privileged, so allow it back.
      SystemCallFilter = [
        "@system-service"
        "~@privileged"
        "@chown"
      ];
      UMask = "0027";
    };
  };

  # Runs the CLI in a transient unit with the service's user, environment, env file and
  # credentials (credentials exist only inside a unit, so sudo could not pass them on).
  manageProperties = [
    "--uid=${cfg.user}"
    "--gid=${cfg.group}"
    "--working-directory=${stateDir}"
  ]
  ++
    lib.concatMap (key: map (value: "--property=${key}=${value}") commonUnitConfig.serviceConfig.${key})
      [
        "SupplementaryGroups"
        "EnvironmentFile"
        "LoadCredential"
      ]
  ++ lib.mapAttrsToList (var: value: "--setenv=${var}=${value}") environment;

  manage = pkgs.writeShellScriptBin "${name}-manage" ''
    set -eu
    if [ "$(id -u)" != 0 ]; then
      echo "${name}-manage: run as root; it starts the CLI as ${cfg.user} via systemd-run" >&2
      exit 1
    fi
    io=--pipe
    if [ -t 0 ] && [ -t 1 ]; then io=--pty; fi
    exec ${config.systemd.package}/bin/systemd-run --quiet --collect --wait "$io" \
      --service-type=exec --unit="${name}-manage-$$" \
      ${lib.escapeShellArgs manageProperties} \
      ${cli} "$@"
  '';

  proxyDefaultText = ''
    if config.services.flask-nix-stack.trustedProxies > 0
    then config.services.flask-nix-stack.trustedProxies
    else null
  '';
  proxyDefault = if cfg.trustedProxies > 0 then cfg.trustedProxies else null;
  settingsType = lib.types.submodule {
    freeformType =
      with lib.types;
      attrsOf (
        nullOr (oneOf [
          bool
          int
          str
        ])
      );
    options = {
      # The test profile lives with the tests, not in a deployment.
      APP_ENV = lib.mkOption {
        type = lib.types.enum [
          "production"
          "development"
        ];
        default = "production";
        description = ''
          Settings profile. `production` requires a real `APP_SECRET_KEY` (32 characters or more).
        '';
      };
      APP_DATABASE_URL = lib.mkOption {
        type = with lib.types; nullOr str;
        default = if cfg.database.createLocally then localDatabaseUrl else cfg.database.url;
        defaultText = lib.literalExpression ''
          if config.services.flask-nix-stack.database.createLocally
          then "postgresql+psycopg2:///''${config.services.flask-nix-stack.user}?host=/run/postgresql"
          else config.services.flask-nix-stack.database.url
        '';
        description = ''
          SQLAlchemy URL of the database. `null` leaves it to {option}`environmentFile` or
          {option}`credentials`.
        '';
      };
      APP_REDIS_URL = lib.mkOption {
        type = with lib.types; nullOr str;
        default = if cfg.redis.createLocally then localRedisUrl else cfg.redis.url;
        defaultText = lib.literalExpression ''
          if config.services.flask-nix-stack.redis.createLocally
          then "unix://''${config.services.redis.servers.flask-nix-stack.unixSocket}?db=0"
          else config.services.flask-nix-stack.redis.url
        '';
        description = ''
          Redis URL (cache, rate limits). `null` leaves it to {option}`environmentFile` or
          {option}`credentials`.
        '';
      };
      APP_SERVER = lib.mkOption {
        type = lib.types.enum [
          "granian"
          "gunicorn"
        ];
        default = "granian";
        description = ''
          HTTP server `flask-nix-stack serve` runs. granian reads slow clients' headers and bodies
          without tying up a worker, so it needs no nginx in front; gunicorn's sync workers do.
        '';
      };
      # Derived from other options and read-only, so each value has one place to be set: the
      # firewall (port), nginx (upstream) and the server can never disagree.
      APP_BIND = lib.mkOption {
        type = lib.types.str;
        readOnly = true;
        default = bind;
        defaultText = lib.literalMD ''
          `unix:` and {option}`unixSocket`, or {option}`listenAddress`:{option}`port`
        '';
        description = ''
          Server bind address (read-only): set {option}`unixSocket`, or {option}`listenAddress`
          and {option}`port`.
        '';
      };
      APP_WORKERS = lib.mkOption {
        type = lib.types.ints.positive;
        readOnly = true;
        default = cfg.workers;
        defaultText = lib.literalExpression "config.services.flask-nix-stack.workers";
        description = "Server worker processes (read-only): set {option}`workers`.";
      };
      APP_THREADS = lib.mkOption {
        type = lib.types.ints.positive;
        readOnly = true;
        default = cfg.threads;
        defaultText = lib.literalExpression "config.services.flask-nix-stack.threads";
        description = "Threads per server worker (read-only): set {option}`threads`.";
      };
      APP_PROXY_FIX_X_FOR = lib.mkOption {
        type = with lib.types; nullOr ints.unsigned;
        default = proxyDefault;
        defaultText = lib.literalExpression proxyDefaultText;
        description = "Proxies trusted for `X-Forwarded-For`; set {option}`trustedProxies`.";
      };
      APP_PROXY_FIX_X_PROTO = lib.mkOption {
        type = with lib.types; nullOr ints.unsigned;
        default = proxyDefault;
        defaultText = lib.literalExpression proxyDefaultText;
        description = "Proxies trusted for `X-Forwarded-Proto`; set {option}`trustedProxies`.";
      };
      APP_TRUSTED_HOSTS = lib.mkOption {
        type = lib.types.str;
        readOnly = true;
        default = lib.concatStringsSep "," cfg.trustedHosts;
        defaultText = lib.literalExpression ''
          lib.concatStringsSep "," config.services.flask-nix-stack.trustedHosts
        '';
        description = "Host names answered (read-only): set {option}`trustedHosts`.";
      };
      # Scale-out and metrics (issue 12).
      APP_METRICS_ENABLED = lib.mkOption {
        type = with lib.types; nullOr bool;
        default = if cfg.metrics.enable then true else null;
        defaultText = lib.literalExpression ''
          if config.services.flask-nix-stack.metrics.enable then true else null
        '';
        description = "Serve Prometheus metrics; set {option}`metrics.enable` instead.";
      };
      APP_METRICS_BIND = lib.mkOption {
        type = with lib.types; nullOr str;
        default = if cfg.metrics.enable then hostPort cfg.metrics.listenAddress cfg.metrics.port else null;
        defaultText = lib.literalMD "{option}`metrics.listenAddress`:{option}`metrics.port`";
        description = "Metrics listener; set the {option}`metrics` options instead.";
      };
      APP_DB_CA_FILE = lib.mkOption {
        type = with lib.types; nullOr str;
        default = lib.mapNullable toString cfg.database.tls.caFile;
        defaultText = lib.literalExpression "config.services.flask-nix-stack.database.tls.caFile";
        description = "CA for TLS to PostgreSQL; set {option}`database.tls.caFile` instead.";
      };
      APP_REDIS_CA_FILE = lib.mkOption {
        type = with lib.types; nullOr str;
        default = lib.mapNullable toString cfg.redis.tls.caFile;
        defaultText = lib.literalExpression "config.services.flask-nix-stack.redis.tls.caFile";
        description = "CA for TLS to Redis; set {option}`redis.tls.caFile` instead.";
      };
    };
  };
in
{
  options.services.flask-nix-stack = {
    enable = lib.mkEnableOption "flask-nix-stack, a Flask JSON API served by granian or gunicorn";

    package = lib.mkPackageOption pkgs "flask-nix-stack" {
      extraDescription = ''
        It must provide `passthru.runtimeEnv`, a Python environment with the server, granian and
        gunicorn. The flake's `nixosModules.default` sets it to the flake's own package for the
        host system, built against the flake's locked nixpkgs; `pkgs.flask-nix-stack` exists
        only with the flake's `overlays.default`.
      '';
    };

    user = lib.mkOption {
      type = lib.types.str;
      default = name;
      description = ''
        System user the service runs as; created when left at the default. A static user (not
        `DynamicUser`) so that {command}`flask-nix-stack-manage` and PostgreSQL peer
        authentication see one stable name and the state directory keeps one owner. With
        {option}`database.createLocally` the database and its role carry this name too.
      '';
    };

    group = lib.mkOption {
      type = lib.types.str;
      default = name;
      description = "Group the service runs as; created when left at the default.";
    };

    listenAddress = lib.mkOption {
      type = lib.types.str;
      default = "127.0.0.1";
      example = "0.0.0.0";
      description = "Address the server listens on when {option}`unixSocket` is `null`.";
    };

    port = lib.mkOption {
      type = lib.types.port;
      default = 8000;
      description = "TCP port the server listens on when {option}`unixSocket` is `null`.";
    };

    unixSocket = lib.mkOption {
      type = with lib.types; nullOr path;
      default = null;
      example = "${runtimeDir}/web.sock";
      description = ''
        Unix socket the server binds instead of {option}`listenAddress`:{option}`port`. It must lie
        in `${runtimeDir}/`, the unit's runtime directory (mode 0750; nginx joins the group).
      '';
    };

    workers = lib.mkOption {
      type = lib.types.ints.positive;
      default = 2;
      example = 5;
      description = "Server worker processes (about one per core for granian).";
    };

    threads = lib.mkOption {
      type = lib.types.ints.positive;
      default = 4;
      example = 4;
      description = ''
        Python threads per worker. With gunicorn, its default sync worker suits a buffering proxy
        such as {option}`nginx.enable`, and more than 1 makes gunicorn use its gthread worker.
      '';
    };

    gunicorn.extraArgs = lib.mkOption {
      type = with lib.types; listOf str;
      default = [ ];
      example = [
        "--max-requests=2000"
        "--access-logfile=-"
      ];
      description = ''
        Extra gunicorn command-line arguments, with `settings.APP_SERVER = "gunicorn"` only;
        they override the `APP_*` based configuration.
        See <https://docs.gunicorn.org/en/stable/settings.html>.
      '';
    };

    settings = lib.mkOption {
      type = settingsType;
      default = { };
      example = {
        APP_LOG_LEVEL = "DEBUG";
        APP_CACHE_TTL = 60;
        APP_RATELIMIT_ENABLED = false;
      };
      description = ''
        Application settings, passed as the unit's environment. Names are the `APP_*`
        variables of `server.config.Settings`; booleans render as `true`/`false`, `null` unsets.
        Secrets (`APP_SECRET_KEY`, passwords in URLs, `APP_SENTRY_DSN`) do not belong here, as
        they would land in the world-readable Nix store: use {option}`credentials` or
        {option}`environmentFile`.
      '';
    };

    environmentFile = lib.mkOption {
      type = with lib.types; nullOr externalPath;
      default = null;
      example = "/run/secrets/flask-nix-stack.env";
      description = ''
        File of `APP_NAME=value` lines read by both units (systemd `EnvironmentFile=`), for
        secrets kept out of the Nix store (a string path; a Nix path literal is refused, as it
        would copy the file into the store).
      '';
    };

    credentials = lib.mkOption {
      type = with lib.types; attrsOf externalPath;
      default = { };
      example = {
        APP_SECRET_KEY = "/run/keys/flask-nix-stack-secret-key";
      };
      description = ''
        Secrets as files on the host, passed with systemd `LoadCredential=NAME:path`: the file
        is readable by root only, the service sees a private copy in `$CREDENTIALS_DIRECTORY`,
        which the app reads as its secrets directory. Names are `APP_*` setting names.
      '';
    };

    database = {
      createLocally = lib.mkOption {
        type = lib.types.bool;
        default = false;
        description = ''
          Create a local PostgreSQL database and role named after {option}`user`, owned by it
          (`ensureDBOwnership`), reached over the socket in `${pgSocketDir}` with peer
          authentication, so no password exists.
        '';
      };
      url = lib.mkOption {
        type = with lib.types; nullOr str;
        default = null;
        example = "postgresql+psycopg2://app@db.example.com/app?sslmode=verify-full";
        description = ''
          URL of an external database, without a password (it would be world-readable in the
          store): pass that via {option}`credentials` (`APP_DATABASE_URL`) or
          {option}`environmentFile` instead and leave this `null`.
        '';
      };
    };

    redis = {
      createLocally = lib.mkOption {
        type = lib.types.bool;
        default = false;
        description = ''
          Run a dedicated Redis server, `services.redis.servers.${name}`, on its Unix socket
          only; the service joins its group to reach the socket.
        '';
      };
      url = lib.mkOption {
        type = with lib.types; nullOr str;
        default = null;
        example = "redis://cache.example.com:6379/0";
        description = "URL of an external Redis server (no password; see {option}`database.url`).";
      };
    };

    nginx = {
      enable = lib.mkEnableOption "an nginx virtual host proxying to the service";
      domain = lib.mkOption {
        type = lib.types.str;
        example = "api.example.com";
        description = ''
          Server name of the nginx virtual host. Set TLS (`enableACME`, `forceSSL`) on
          `services.nginx.virtualHosts.<domain>` itself.
        '';
      };
    };

    openFirewall = lib.mkOption {
      type = lib.types.bool;
      default = false;
      description = ''
        Open {option}`port` in the firewall, or ports 80 and 443 when {option}`nginx.enable` is set.
      '';
    };

    # Scale-out and metrics (issue 12): several hosts on one database, behind a load balancer.
    migrate = lib.mkOption {
      type = lib.types.bool;
      default = true;
      description = ''
        Run the migrations on this host (`flask-nix-stack-migrate.service`, before the web
        unit). With several hosts on one database, enable it on one of them. Runs that meet
        are safe either way: each takes a PostgreSQL advisory lock, so the schema is migrated
        once.
      '';
    };

    trustedHosts = lib.mkOption {
      type = with lib.types; nonEmptyListOf str;
      default = [
        "localhost"
        "127.0.0.1"
      ]
      ++ lib.optional cfg.nginx.enable cfg.nginx.domain;
      defaultText = lib.literalExpression ''
        [ "localhost" "127.0.0.1" ]
        ++ lib.optional config.services.flask-nix-stack.nginx.enable
          config.services.flask-nix-stack.nginx.domain
      '';
      example = [
        "api.example.com"
        ".internal.example.com"
      ];
      description = ''
        Host names the server answers for (`APP_TRUSTED_HOSTS`); any other `Host` header gets
        400, which closes DNS rebinding. `.example.com` also matches its subdomains, and `"*"`
        alone allows any host. Add the names a load balancer in front sends. Names only, on any
        port: an entry with a port, a scheme or an IPv6 literal stops the service's start.
      '';
    };

    trustedProxies = lib.mkOption {
      type = lib.types.ints.unsigned;
      default = if cfg.nginx.enable then 1 else 0;
      defaultText = lib.literalExpression ''
        if config.services.flask-nix-stack.nginx.enable then 1 else 0
      '';
      example = 2;
      description = ''
        Reverse proxies in front of the service whose `X-Forwarded-For` and
        `X-Forwarded-Proto` the app trusts (werkzeug's `ProxyFix`): 1 for this module's nginx
        or one load balancer, 2 for a load balancer in front of nginx. Rate limits key on the
        client address this yields, so never count more proxies than there are.
      '';
    };

    database.tls.caFile = lib.mkOption {
      type = with lib.types; nullOr path;
      default = null;
      example = "/etc/ssl/db-ca.pem";
      description = ''
        CA certificate of a remote PostgreSQL (`APP_DB_CA_FILE`): the connection is encrypted
        and the server's certificate must chain to it and name the host of the URL
        (`sslmode=verify-full`). A certificate is public: a store path is fine.
      '';
    };

    redis.tls.caFile = lib.mkOption {
      type = with lib.types; nullOr path;
      default = null;
      example = "/etc/ssl/redis-ca.pem";
      description = ''
        CA certificate of a remote Redis reached over TLS (`APP_REDIS_CA_FILE`); the Redis URL
        must be `rediss://`.
      '';
    };

    metrics = {
      enable = lib.mkEnableOption ''
        Prometheus metrics (`APP_METRICS_ENABLED`), served by gunicorn's master on a listener
        of their own, never on the API's address
      '';
      listenAddress = lib.mkOption {
        type = lib.types.str;
        default = "127.0.0.1";
        example = "0.0.0.0";
        description = ''
          Address of the metrics listener: the default suits a Prometheus on this host; use
          the host's address and {option}`metrics.openFirewall` for one elsewhere.
        '';
      };
      port = lib.mkOption {
        type = lib.types.port;
        default = 9464;
        description = "Port of the metrics listener (`GET /metrics`).";
      };
      openFirewall = lib.mkOption {
        type = lib.types.bool;
        default = false;
        description = "Open {option}`metrics.port` in the firewall (for a Prometheus elsewhere).";
      };
    };
  };

  config = lib.mkIf cfg.enable {
    assertions = [
      {
        assertion = !(cfg.database.createLocally && cfg.database.url != null);
        message = "services.flask-nix-stack: set database.createLocally or database.url, not both.";
      }
      {
        assertion = !(cfg.redis.createLocally && cfg.redis.url != null);
        message = "services.flask-nix-stack: set redis.createLocally or redis.url, not both.";
      }
      {
        assertion = cfg.unixSocket == null || lib.hasPrefix "${runtimeDir}/" cfg.unixSocket;
        message = "services.flask-nix-stack.unixSocket must lie in ${runtimeDir}/.";
      }
      {
        assertion = lib.all (lib.hasPrefix "APP_") (
          lib.attrNames cfg.settings ++ lib.attrNames cfg.credentials
        );
        message = "services.flask-nix-stack: settings and credentials take APP_* names only.";
      }
      {
        assertion = !(cfg.settings ? APP_SECRET_KEY || cfg.settings ? APP_SENTRY_DSN);
        message = "services.flask-nix-stack: secrets in settings go to the store; use credentials";
      }
      {
        assertion =
          cfg.redis.tls.caFile == null || cfg.redis.url == null || lib.hasPrefix "rediss://" cfg.redis.url;
        message = "services.flask-nix-stack: redis.tls.caFile needs a rediss:// redis.url (TLS).";
      }
      {
        assertion =
          cfg.settings.APP_ENV != "production"
          || cfg.credentials ? APP_SECRET_KEY
          || cfg.environmentFile != null;
        message = "services.flask-nix-stack: production needs APP_SECRET_KEY (credentials/env file)";
      }
    ];

    warnings = lib.optional (
      cfg.openFirewall && cfg.unixSocket != null && !cfg.nginx.enable
    ) "services.flask-nix-stack.openFirewall has no effect: the server listens on a Unix socket.";

    users.users = lib.mkIf (cfg.user == name) {
      ${name} = {
        isSystemUser = true;
        inherit (cfg) group;
        home = stateDir;
      };
    };
    users.groups = lib.mkIf (cfg.group == name) { ${name} = { }; };

    environment.systemPackages = [ manage ];

    services = {
      postgresql = lib.mkIf cfg.database.createLocally {
        enable = true;
        ensureDatabases = [ cfg.user ];
        ensureUsers = [
          {
            name = cfg.user;
            ensureDBOwnership = true;
          }
        ];
      };

      # A named server listens on its socket only (port 0, unixSocketPerm 660, group redis-<name>).
      redis.servers = lib.mkIf cfg.redis.createLocally { ${name}.enable = true; };

      nginx = lib.mkIf cfg.nginx.enable {
        enable = true;
        recommendedProxySettings = lib.mkDefault true;
        # nginx's own 512 connections per worker (nixpkgs sets none, and one worker) would be
        # what a flood of idle connections fills first: the app holds 4096 per worker
        # (APP_WORKER_CONNECTIONS). A proxied request takes two descriptors, client and
        # upstream; the unit keeps systemd's default limits. A user's own lines win.
        eventsConfig = lib.mkDefault "worker_connections 4096;";
        appendConfig = lib.mkDefault "worker_rlimit_nofile 9216;";
        commonHttpConfig = accessLogFormat;
        # nginx's upstream syntax matches the server's bind: host:port or unix:/path.
        upstreams.${name}.servers.${cfg.settings.APP_BIND} = { };
        virtualHosts.${cfg.nginx.domain} = {
          locations = {
            "/".proxyPass = "http://${name}";
          }
          // lib.listToAttrs (map problemLocation nginxProblems);
          # nixpkgs' nginx logs there by default (--http-log-path); only the format changes.
          extraConfig = ''
            access_log /var/log/nginx/access.log ${name};
          ''
          + problemErrorPages;
        };
      };
    };

    networking.firewall.allowedTCPPorts =
      lib.optionals cfg.openFirewall (
        if cfg.nginx.enable then
          [
            80
            443
          ]
        else
          lib.optional (cfg.unixSocket == null) cfg.port
      )
      ++ lib.optional (cfg.metrics.enable && cfg.metrics.openFirewall) cfg.metrics.port;

    systemd.services =
      lib.optionalAttrs cfg.migrate {
        # A oneshot that stays active: `systemctl restart flask-nix-stack` does not rerun it, but a
        # deploy that changes the package changes this unit, so switch-to-configuration reruns it.
        ${"${name}-migrate"} = lib.recursiveUpdate commonUnitConfig {
          description = "flask-nix-stack database migrations";
          serviceConfig = {
            Type = "oneshot";
            RemainAfterExit = true;
            ExecStart = utils.escapeSystemdExecArgs [
              cli
              "db"
              "upgrade"
            ];
          };
        };
      }
      // {
        ${name} = lib.recursiveUpdate commonUnitConfig {
          description = "flask-nix-stack web API (${cfg.settings.APP_SERVER})";
          wantedBy = [ "multi-user.target" ];
          # requires + after: a failed migration keeps the web unit down.
          after = commonUnitConfig.after ++ lib.optional cfg.migrate migrateUnit;
          requires = commonUnitConfig.requires ++ lib.optional cfg.migrate migrateUnit;
          serviceConfig = {
            ExecStart = utils.escapeSystemdExecArgs serverCommand;
            # HUP: the main process replaces its workers gracefully (both servers).
            ExecReload = "${pkgs.coreutils}/bin/kill -HUP $MAINPID";
            KillMode = "mixed";
            Restart = "on-failure";
            RuntimeDirectory = name;
            RuntimeDirectoryMode = "0750";
          }
          # gunicorn's arbiter sends READY=1 once it listens:
          # https://docs.gunicorn.org/en/stable/deploy.html#systemd (granian does not notify).
          // (
            if cfg.settings.APP_SERVER == "gunicorn" then
              {
                Type = "notify";
                NotifyAccess = "main";
              }
            else
              { Type = "exec"; }
          );
        };

        # Lets nginx through the 0750 runtime directory to the socket, as pretalx.nix does.
        nginx = lib.mkIf (cfg.nginx.enable && cfg.unixSocket != null) {
          serviceConfig.SupplementaryGroups = [ cfg.group ];
        };
      };
  };
}

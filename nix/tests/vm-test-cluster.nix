# Multi-host NixOS VM test of the scale-out setup (needs KVM; Linux only): a database host with
# PostgreSQL and Redis, both over TLS with passwords; two app hosts running the module against
# them, credentials from files, only one of them migrating; a load-balancer host with nginx.
# Requests through the balancer keep succeeding while one app host is stopped, then gone.
# Shape of nixpkgs' multi-node tests (nixos/tests/*: nodes by role, `start()` in order).
{ pkgs, nixosModule }:
let
  # Test-only secrets: in the store, acceptable here and nowhere else.
  dbPassword = "vm-cluster-db-password";
  redisPassword = "vm-cluster-redis-password";
  secretKey = "vm-cluster-secret-key-0123456789abcdef0123456789";

  # A throwaway CA and a certificate for the host name `db` (PostgreSQL and Redis share it).
  certs = pkgs.runCommand "cluster-test-certs" { nativeBuildInputs = [ pkgs.openssl ]; } ''
    mkdir $out
    cd $out
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj /CN=cluster-test-ca \
      -keyout ca.key -out ca.crt
    openssl req -newkey rsa:2048 -nodes -subj /CN=db -keyout server.key -out server.csr
    echo subjectAltName=DNS:db > san.cnf
    openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 \
      -extfile san.cnf -out server.crt
  '';

  # Root-only files on the host; systemd (as root) hands them to the units as credentials.
  secretFile = text: {
    inherit text;
    mode = "0400";
  };

  appHost = {
    imports = [ nixosModule ];

    environment.etc = {
      "flask-nix-stack/secret-key" = secretFile secretKey;
      "flask-nix-stack/database-url" = secretFile "postgresql+psycopg2://app:${dbPassword}@db:5432/app";
      "flask-nix-stack/redis-url" = secretFile "rediss://:${redisPassword}@db:6379/0";
    };

    services.flask-nix-stack = {
      enable = true;
      listenAddress = "0.0.0.0";
      port = 8000;
      openFirewall = true;
      # nginx on the `lb` host is the one proxy in front.
      trustedProxies = 1;
      # The Host names requests arrive with: the balancer's (recommendedProxySettings passes
      # $host on), and the test's own curl on the app hosts.
      trustedHosts = [
        "lb"
        "localhost"
        "127.0.0.1"
      ];
      database.tls.caFile = "${certs}/ca.crt";
      redis.tls.caFile = "${certs}/ca.crt";
      # Reachable by the Prometheus on `lb`, through the firewall (metrics port only).
      metrics = {
        enable = true;
        listenAddress = "0.0.0.0";
        openFirewall = true;
      };
      credentials = {
        APP_SECRET_KEY = "/etc/flask-nix-stack/secret-key";
        APP_DATABASE_URL = "/etc/flask-nix-stack/database-url";
        APP_REDIS_URL = "/etc/flask-nix-stack/redis-url";
      };
    };

    virtualisation.memorySize = 1024;
  };
in
pkgs.testers.runNixOSTest {
  name = "flask-nix-stack-cluster";

  # node.pkgsReadOnly stays at its default (true): the module sets no nixpkgs.* option.

  nodes = {
    db = {
      networking.firewall.allowedTCPPorts = [
        5432
        6379
      ];

      # The keys must belong to the servers and be private to them (PostgreSQL refuses others).
      environment.etc = {
        "cluster-tls/postgres.key" = {
          source = "${certs}/server.key";
          mode = "0600";
          user = "postgres";
          group = "postgres";
        };
        "cluster-tls/redis.key" = {
          source = "${certs}/server.key";
          mode = "0600";
          user = "redis-cluster";
          group = "redis-cluster";
        };
        "cluster-tls/redis-password" = secretFile redisPassword;
      };

      services.postgresql = {
        enable = true;
        enableTCPIP = true;
        settings = {
          ssl = true;
          ssl_cert_file = "${certs}/server.crt";
          ssl_key_file = "/etc/cluster-tls/postgres.key";
        };
        # From the network: TLS and a password, or nothing (rules above nixpkgs' defaults).
        authentication = ''
          hostssl app app 0.0.0.0/0 scram-sha-256
          hostssl app app ::/0 scram-sha-256
        '';
        initialScript = pkgs.writeText "cluster-init.sql" ''
          CREATE ROLE app LOGIN PASSWORD '${dbPassword}';
          CREATE DATABASE app OWNER app;
        '';
      };

      # TLS only (plain TCP port 0), a password, all interfaces.
      services.redis.servers.cluster = {
        enable = true;
        bind = null;
        port = 0;
        requirePassFile = "/etc/cluster-tls/redis-password";
        settings = {
          tls-port = 6379;
          tls-cert-file = "${certs}/server.crt";
          tls-key-file = "/etc/cluster-tls/redis.key";
          tls-ca-cert-file = "${certs}/ca.crt";
          tls-auth-clients = "no";
        };
      };
    };

    # Both app hosts run migrations-safe code; only app1 runs the migration unit.
    app1 = {
      imports = [ appHost ];
      services.flask-nix-stack.migrate = true;
    };
    app2 = {
      imports = [ appHost ];
      services.flask-nix-stack.migrate = false;
    };

    lb = {
      networking.firewall.allowedTCPPorts = [ 80 ];
      # The operator's Prometheus, scraping both app hosts' metrics listeners.
      services.prometheus = {
        enable = true;
        globalConfig.scrape_interval = "2s";
        scrapeConfigs = [
          {
            job_name = "flask-nix-stack";
            static_configs = [
              {
                targets = [
                  "app1:9464"
                  "app2:9464"
                ];
              }
            ];
          }
        ];
      };
      services.nginx = {
        enable = true;
        recommendedProxySettings = true;
        # Passive health checks: a backend that fails once is skipped for 10 s.
        upstreams.api.servers = {
          "app1:8000" = {
            max_fails = 1;
            fail_timeout = "10s";
          };
          "app2:8000" = {
            max_fails = 1;
            fail_timeout = "10s";
          };
        };
        virtualHosts.lb = {
          default = true;
          locations."/" = {
            proxyPass = "http://api";
            # Idempotent requests go to the other backend when one fails; a POST that was
            # already sent is never resent (nginx's default for non-idempotent methods).
            extraConfig = ''
              proxy_next_upstream error timeout http_502 http_503 http_504;
              proxy_connect_timeout 2s;
              add_header X-Upstream $upstream_addr always;
            '';
          };
        };
      };
    };
  };

  testScript = ''
    import json

    def upstream(headers):
        for line in headers.splitlines():
            name, _, value = line.partition(":")
            if name.strip().lower() == "x-upstream":
                return value.strip()
        raise AssertionError(f"no X-Upstream in {headers!r}")

    def through_balancer(path):
        return lb.succeed(f"curl --fail --silent --max-time 10 http://lb{path}")

    db.start()
    db.wait_for_unit("postgresql.service")
    db.wait_for_unit("redis-cluster.service")
    db.wait_for_open_port(5432)
    db.wait_for_open_port(6379)

    app1.start()
    app2.start()
    lb.start()

    with subtest("one host migrates; both serve, over TLS to PostgreSQL and Redis"):
        app1.wait_for_unit("flask-nix-stack-migrate.service")
        app2.fail("systemctl cat flask-nix-stack-migrate.service")
        for app in (app1, app2):
            app.wait_for_unit("flask-nix-stack.service")
            app.wait_for_open_port(8000)
            app.wait_until_succeeds("curl --fail --silent http://127.0.0.1:8000/health/ready")
        # Every connection of the app's role is encrypted, and there are some.
        query = "SELECT count(*) > 0 AND bool_and(ssl) FROM pg_stat_ssl" \
            " JOIN pg_stat_activity USING (pid) WHERE usename = 'app'"
        assert db.succeed(f'runuser -u postgres -- psql -tAc "{query}"').strip() == "t"

    with subtest("the balancer spreads requests over both hosts"):
        lb.wait_for_unit("nginx.service")
        lb.wait_for_open_port(80)
        seen = set()
        for _ in range(10):
            headers = lb.succeed(
                "curl --fail --silent --dump-header - -o /dev/null http://lb/health/ready"
            )
            seen.add(upstream(headers))
        assert len(seen) == 2, seen

    with subtest("a write through the balancer is read back on either host"):
        project = json.loads(lb.succeed(
            "curl --fail --silent -H 'Content-Type: application/json' "
            "-d '{\"name\": \"cluster\"}' http://lb/api/v1/projects"
        ))
        for app in (app1, app2):
            got = json.loads(app.succeed(
                f"curl --fail --silent http://127.0.0.1:8000/api/v1/projects/{project['id']}"
            ))
            assert got["name"] == "cluster", got

    with subtest("metrics on their own port, not on the API's; Prometheus scrapes both hosts"):
        metrics = app2.succeed("curl --fail --silent http://127.0.0.1:9464/metrics")
        assert "fns_http_requests_total" in metrics
        app2.fail("curl --fail --silent http://127.0.0.1:8000/metrics")
        lb.wait_for_unit("prometheus.service")
        lb.wait_for_open_port(9090)
        query = "curl --fail --silent -G http://127.0.0.1:9090/api/v1/query --data-urlencode "
        lb.wait_until_succeeds(query + "'query=count(up == 1)' | grep -F ',\"2\"]'")
        lb.wait_until_succeeds(
            query + "'query=sum(fns_http_requests_total) > 0' | grep -F '\"result\":[{'"
        )

    with subtest("requests succeed while one app host is stopped"):
        app1.succeed("systemctl stop flask-nix-stack.service")
        for _ in range(20):
            through_balancer("/api/v1/projects?limit=5")
        app1.shutdown()
        for _ in range(20):
            through_balancer(f"/api/v1/projects/{project['id']}")

    app2.log(app2.succeed("systemd-analyze security flask-nix-stack.service"))
  '';
}

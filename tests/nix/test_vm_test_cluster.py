"""nix/tests/vm-test-cluster.nix, evaluated with nixpkgs' `lib` and a recording `pkgs`.

The test itself needs KVM and a real nixpkgs (CI's `nix flake check`); here: it evaluates, its
nodes have the roles the issue asks for, and what the test script drives exists in them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

CLUSTER = Path(__file__).resolve().parents[2] / "nix" / "tests" / "vm-test-cluster.nix"

EXPR = f"""
let
  lib = import <nixpkgs/lib>;
  fake = name: extra: {{ type = "derivation"; inherit name; outPath = "/nix/store/x-" + name; }}
    // extra;
  pkgs = {{
    openssl = fake "openssl" {{ }};
    runCommand = name: env: script: fake name {{ inherit env script; }};
    writeText = name: text: fake name {{ inherit text; }};
    testers.runNixOSTest = test: test;
  }};
  test = import {CLUSTER} {{ inherit pkgs; nixosModule = "the-module"; }};
  # Each app node imports the shared app-host module, which imports the project's module.
  appHost = name: builtins.head test.nodes.${{name}}.imports;
  app = name: {{
    imports = (appHost name).imports;
    migrate = test.nodes.${{name}}.services.flask-nix-stack.migrate;
    service = (appHost name).services.flask-nix-stack;
    credentials = (appHost name).environment.etc;
  }};
in {{
  inherit (test) name testScript;
  nodes = builtins.attrNames test.nodes;
  app1 = app "app1";
  app2 = app "app2";
  db = {{
    inherit (test.nodes.db.services.postgresql) enableTCPIP authentication settings;
    initialScript = test.nodes.db.services.postgresql.initialScript.text;
    redis = test.nodes.db.services.redis.servers.cluster;
    ports = test.nodes.db.networking.firewall.allowedTCPPorts;
  }};
  lb = {{
    prometheus = test.nodes.lb.services.prometheus;
    upstreams = test.nodes.lb.services.nginx.upstreams.api.servers;
    location = test.nodes.lb.services.nginx.virtualHosts.lb.locations."/";
  }};
}}
"""


@pytest.fixture(scope="module")
def cluster(nix_eval: Callable[..., Any]) -> dict[str, Any]:
    return dict(nix_eval(EXPR))


def test_nodes_by_role(cluster: dict[str, Any]) -> None:
    assert cluster["name"] == "flask-nix-stack-cluster"
    assert cluster["nodes"] == ["app1", "app2", "db", "lb"]


def test_only_one_app_host_migrates(cluster: dict[str, Any]) -> None:
    assert cluster["app1"]["migrate"] is True
    assert cluster["app2"]["migrate"] is False
    for host in ("app1", "app2"):
        assert cluster[host]["imports"] == ["the-module"]


def test_app_hosts_use_remote_backends_over_tls_with_file_credentials(
    cluster: dict[str, Any],
) -> None:
    service = cluster["app1"]["service"]
    assert service["trustedProxies"] == 1
    assert service["database"]["tls"]["caFile"].endswith("/ca.crt")
    assert service["redis"]["tls"]["caFile"].endswith("/ca.crt")
    assert set(service["credentials"]) == {"APP_SECRET_KEY", "APP_DATABASE_URL", "APP_REDIS_URL"}
    files = cluster["app1"]["credentials"]
    for name, path in service["credentials"].items():
        entry = files[path.removeprefix("/etc/")]
        assert entry["mode"] == "0400", name
    assert files["flask-nix-stack/redis-url"]["text"].startswith("rediss://")
    assert "@db:5432/" in files["flask-nix-stack/database-url"]["text"]
    assert "database" not in service or "url" not in service["database"]


def test_database_host_requires_tls_and_passwords(cluster: dict[str, Any]) -> None:
    db = cluster["db"]
    assert db["enableTCPIP"] is True
    assert db["settings"]["ssl"] is True
    rules = [line.split() for line in db["authentication"].splitlines() if line.strip()]
    assert rules
    assert all(rule[0] == "hostssl" and rule[-1] == "scram-sha-256" for rule in rules)
    assert "CREATE ROLE app LOGIN PASSWORD" in db["initialScript"]
    redis = db["redis"]
    assert redis["port"] == 0, "plain TCP must be off"
    assert redis["settings"]["tls-port"] == 6379
    assert redis["requirePassFile"]
    assert set(db["ports"]) == {5432, 6379}


def test_balancer_passes_idempotent_requests_on(cluster: dict[str, Any]) -> None:
    lb = cluster["lb"]
    assert set(lb["upstreams"]) == {"app1:8000", "app2:8000"}
    assert all(server["max_fails"] == 1 for server in lb["upstreams"].values())
    assert lb["location"]["proxyPass"] == "http://api"
    assert "proxy_next_upstream error timeout" in lb["location"]["extraConfig"]
    assert "non_idempotent" not in lb["location"]["extraConfig"]


def test_script_stops_an_app_host_under_requests(cluster: dict[str, Any]) -> None:
    script = cluster["testScript"]
    stop = script.index('app1.succeed("systemctl stop flask-nix-stack.service")')
    assert script.index("through_balancer(", stop) > stop
    assert script.index("app1.shutdown()") > stop
    assert 'app2.fail("systemctl cat flask-nix-stack-migrate.service")' in script


def test_the_balancer_hosts_prometheus_scrapes_both_app_hosts(cluster: dict[str, Any]) -> None:
    prometheus = cluster["lb"]["prometheus"]
    assert prometheus["enable"] is True
    (job,) = prometheus["scrapeConfigs"]
    assert job["static_configs"] == [{"targets": ["app1:9464", "app2:9464"]}]
    metrics = cluster["app1"]["service"]["metrics"]
    assert metrics == {"enable": True, "listenAddress": "0.0.0.0", "openFirewall": True}
    assert "query=count(up == 1)" in cluster["testScript"]


def test_script_is_python(cluster: dict[str, Any]) -> None:
    compile(cluster["testScript"], "vm-test-cluster.nix:testScript", "exec")

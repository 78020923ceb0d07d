"""The module's scale-out and metrics options, evaluated with nixpkgs' real `lib`.

Loose stand-ins (any value) for the NixOS options the module writes to: this checks what the
new options produce (units, environment, firewall, assertions); the stricter stand-ins of
module-eval.nix check the types of everything the module writes.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

MODULE = Path(__file__).resolve().parents[2] / "nix" / "module.nix"

EXPR = """
let
  lib = import <nixpkgs/lib>;
  inherit (lib) mkOption types;
  any = default: mkOption { type = types.anything; inherit default; };
  fake = name: extra: { type = "derivation"; inherit name; outPath = "/nix/store/x-" + name; }
    // extra;
  pkgs = {
    flask-nix-stack = fake "flask-nix-stack" {
      meta.mainProgram = "flask-nix-stack";
      runtimeEnv = fake "env" { };
    };
    coreutils = fake "coreutils" { };
    writeShellScriptBin = name: text: fake name { inherit text; };
  };
  standIns = {
    options = {
      assertions = any [ ];
      warnings = any [ ];
      systemd.package = any (fake "systemd" { });
      systemd.services = mkOption { type = types.attrsOf types.anything; default = { }; };
      users.users = any { };
      users.groups = any { };
      environment.systemPackages = any [ ];
      networking.firewall.allowedTCPPorts = mkOption {
        type = types.listOf types.port;
        default = [ ];
      };
      services.postgresql = any { };
      services.redis.servers = any { };
      services.nginx = any { };
    };
  };
  evaluate = service: (lib.evalModules {
    modules = [
      standIns
      (import MODULE)
      { _module.args.pkgs = pkgs; services.flask-nix-stack = service; }
    ];
  }).config;
  facts = service: let c = evaluate service; in {
    units = lib.attrNames c.systemd.services;
    webRequires = c.systemd.services.flask-nix-stack.requires;
    webAfter = c.systemd.services.flask-nix-stack.after;
    environment = c.systemd.services.flask-nix-stack.environment;
    firewall = c.networking.firewall.allowedTCPPorts;
    failed = map (a: a.message) (lib.filter (a: !a.assertion) c.assertions);
  };
  credentials = {
    APP_SECRET_KEY = "/run/keys/secret-key";
    APP_DATABASE_URL = "/run/keys/database-url";
    APP_REDIS_URL = "/run/keys/redis-url";
  };
in
lib.mapAttrs (_: facts) {
  appHost = {
    enable = true;
    listenAddress = "0.0.0.0";
    openFirewall = true;
    migrate = false;
    trustedProxies = 1;
    database.tls.caFile = "/etc/ssl/cluster-ca.pem";
    redis.tls.caFile = "/etc/ssl/cluster-ca.pem";
    metrics = { enable = true; listenAddress = "0.0.0.0"; openFirewall = true; };
    inherit credentials;
  };
  defaults = { enable = true; inherit credentials; };
  localMetrics = { enable = true; metrics.enable = true; inherit credentials; };
  behindNginx = {
    enable = true;
    nginx = { enable = true; domain = "api.test"; };
    inherit credentials;
  };
  otherHosts = {
    enable = true;
    trustedHosts = [ "api.example.com" ".internal.example.com" ];
    inherit credentials;
  };
  plainRedisWithCa = {
    enable = true;
    redis.url = "redis://cache:6379/0";
    redis.tls.caFile = "/etc/ssl/ca.pem";
    inherit credentials;
  };
}
"""


@pytest.fixture(scope="module")
def cases(nix_eval: Callable[..., Any]) -> dict[str, Any]:
    return dict(nix_eval(EXPR.replace("MODULE", str(MODULE))))


def test_app_host_of_a_cluster(cases: dict[str, Any]) -> None:
    host = cases["appHost"]
    assert host["failed"] == []
    assert host["units"] == ["flask-nix-stack"], "migrate = false: no migration unit"
    assert "flask-nix-stack-migrate.service" not in host["webRequires"] + host["webAfter"]
    env = host["environment"]
    assert env["APP_PROXY_FIX_X_FOR"] == "1"
    assert env["APP_PROXY_FIX_X_PROTO"] == "1"
    assert env["APP_METRICS_ENABLED"] == "true"
    assert env["APP_METRICS_BIND"] == "0.0.0.0:9464"
    assert env["APP_DB_CA_FILE"] == "/etc/ssl/cluster-ca.pem"
    assert env["APP_REDIS_CA_FILE"] == "/etc/ssl/cluster-ca.pem"
    # The URLs (with passwords) come from credentials, never the store.
    assert "APP_DATABASE_URL" not in env
    assert "APP_REDIS_URL" not in env
    assert sorted(host["firewall"]) == [8000, 9464]


def test_defaults_add_nothing_new(cases: dict[str, Any]) -> None:
    plain = cases["defaults"]
    assert sorted(plain["units"]) == ["flask-nix-stack", "flask-nix-stack-migrate"]
    assert "flask-nix-stack-migrate.service" in plain["webRequires"]
    new = {"APP_METRICS_ENABLED", "APP_METRICS_BIND", "APP_DB_CA_FILE", "APP_REDIS_CA_FILE"}
    assert not new & set(plain["environment"])
    assert "APP_PROXY_FIX_X_FOR" not in plain["environment"]
    assert plain["firewall"] == []


def test_metrics_for_the_hosts_own_prometheus(cases: dict[str, Any]) -> None:
    local = cases["localMetrics"]
    assert local["environment"]["APP_METRICS_BIND"] == "127.0.0.1:9464"
    assert local["firewall"] == [], "loopback metrics open no port"


def test_nginx_counts_as_one_trusted_proxy(cases: dict[str, Any]) -> None:
    assert cases["behindNginx"]["environment"]["APP_PROXY_FIX_X_FOR"] == "1"


def test_redis_ca_without_tls_is_refused(cases: dict[str, Any]) -> None:
    assert any("rediss://" in message for message in cases["plainRedisWithCa"]["failed"])


def test_trusted_hosts_follow_the_virtual_host(cases: dict[str, Any]) -> None:
    """Requests through the module's nginx carry its domain as Host: the app must answer it
    (APP_TRUSTED_HOSTS refuses any other Host with 400)."""
    assert cases["defaults"]["environment"]["APP_TRUSTED_HOSTS"] == "localhost,127.0.0.1"
    behind = cases["behindNginx"]["environment"]["APP_TRUSTED_HOSTS"]
    assert behind == "localhost,127.0.0.1,api.test"
    others = cases["otherHosts"]["environment"]["APP_TRUSTED_HOSTS"]
    assert others == "api.example.com,.internal.example.com"

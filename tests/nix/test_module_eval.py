"""The NixOS module evaluated with nixpkgs' real `lib` and stand-in options (module-eval.nix)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

MODULE_EVAL = Path(__file__).resolve().parents[2] / "nix" / "tests" / "module-eval.nix"
EXPR = f"import {MODULE_EVAL} {{ lib = import <nixpkgs/lib>; }}"

SOCKET = "/run/flask-nix-stack/web.sock"
SECRET_KEY_FILE = "/run/keys/flask-nix-stack-secret-key"
LOCAL_UNITS = ["postgresql.target", "redis-flask-nix-stack.service"]
HARDENING = {
    "CapabilityBoundingSet": [""],
    "LockPersonality": True,
    "MemoryDenyWriteExecute": True,
    "NoNewPrivileges": True,
    "PrivateDevices": True,
    "PrivateTmp": True,
    "ProtectHome": True,
    "ProtectKernelTunables": True,
    "ProtectSystem": "strict",
    "RestrictAddressFamilies": ["AF_INET", "AF_INET6", "AF_UNIX"],
    "RestrictNamespaces": True,
    "SystemCallArchitectures": "native",
    "SystemCallFilter": ["@system-service", "~@privileged", "@chown"],
    "UMask": "0027",
}


@pytest.fixture
def evaluated(nix_eval: Callable[..., Any]) -> dict[str, Any]:
    """The whole evaluation (a fraction of a second, so once per test)."""
    result: dict[str, Any] = nix_eval(EXPR)
    return result


@pytest.fixture
def cases(evaluated: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = evaluated["cases"]
    return result


def test_expectations_in_nix_hold(evaluated: dict[str, Any]) -> None:
    assert evaluated["failures"] == []


def test_local_web_unit_runs_the_server_after_migrations(cases: dict[str, Any]) -> None:
    web = cases["local"]["web"]
    env_path = cases["local"]["runtimeEnvPath"]
    svc = web["serviceConfig"]
    assert svc["ExecStart"] == f'"{env_path}/bin/flask-nix-stack" "serve"'
    assert svc["Type"] == "exec"  # granian does not send READY=1
    assert web["environment"]["APP_SERVER"] == "granian"
    assert svc["ExecReload"].endswith("/bin/kill -HUP $MAINPID")
    assert svc["RuntimeDirectory"] == "flask-nix-stack"
    assert set(web["requires"]) == {*LOCAL_UNITS, "flask-nix-stack-migrate.service"}
    assert {*LOCAL_UNITS, "flask-nix-stack-migrate.service"} <= set(web["after"])
    assert "postgresql.service" not in web["after"]  # ordering on it skips ensure* (pitfall 14)
    assert web["wantedBy"] == ["multi-user.target"]
    assert web["wants"] == []  # nothing remote


def test_local_migrate_unit_is_a_remaining_oneshot(cases: dict[str, Any]) -> None:
    migrate = cases["local"]["migrate"]
    svc = migrate["serviceConfig"]
    # The runtime environment's CLI (Sentry extra included), the same as the web unit's.
    env_path = cases["local"]["runtimeEnvPath"]
    assert svc["ExecStart"] == f'"{env_path}/bin/flask-nix-stack" "db" "upgrade"'
    assert svc["Type"] == "oneshot"
    assert svc["RemainAfterExit"] is True
    assert set(migrate["requires"]) == set(LOCAL_UNITS)
    assert set(LOCAL_UNITS) <= set(migrate["after"])
    assert "RuntimeDirectory" not in svc  # would be removed under the running web unit


def test_local_environment(cases: dict[str, Any]) -> None:
    env = cases["local"]["web"]["environment"]
    assert env == {
        "APP_ENV": "production",
        "APP_SERVER": "granian",
        "APP_BIND": f"unix:{SOCKET}",
        "APP_WORKERS": "3",
        "APP_THREADS": "2",
        "APP_DATABASE_URL": "postgresql+psycopg2:///flask-nix-stack?host=/run/postgresql",
        "APP_REDIS_URL": "unix:///run/redis-flask-nix-stack/redis.sock?db=0",
        "APP_PROXY_FIX_X_FOR": "1",
        "APP_PROXY_FIX_X_PROTO": "1",
        # The nginx virtual host's name, beside the local ones.
        "APP_TRUSTED_HOSTS": "localhost,127.0.0.1,api.example.test",
    }
    assert cases["local"]["migrate"]["environment"] == env


@pytest.mark.parametrize("case", ["local", "external", "nginxTcp"])
@pytest.mark.parametrize("role", ["web", "migrate"])
def test_units_share_user_state_and_hardening(cases: dict[str, Any], case: str, role: str) -> None:
    svc = cases[case][role]["serviceConfig"]
    assert svc["User"] == "flask-nix-stack"
    assert svc["Group"] == "flask-nix-stack"
    assert svc["StateDirectory"] == "flask-nix-stack"
    assert svc["WorkingDirectory"] == "/var/lib/flask-nix-stack"
    assert {key: svc.get(key) for key in HARDENING} == HARDENING


def test_credentials_and_redis_group(cases: dict[str, Any]) -> None:
    for role in ("web", "migrate"):
        svc = cases["local"][role]["serviceConfig"]
        assert svc["LoadCredential"] == [f"APP_SECRET_KEY:{SECRET_KEY_FILE}"]
        assert svc["SupplementaryGroups"] == ["redis-flask-nix-stack"]
        assert svc["EnvironmentFile"] == []


def test_local_postgresql_and_redis(cases: dict[str, Any]) -> None:
    local = cases["local"]
    assert local["postgresql"] == {
        "enable": True,
        "ensureDatabases": ["flask-nix-stack"],
        "ensureUsers": [{"name": "flask-nix-stack", "ensureDBOwnership": True}],
    }
    redis = local["redis"]
    assert redis["enable"] is True
    assert redis["port"] == 0  # socket only
    assert redis["unixSocket"] == "/run/redis-flask-nix-stack/redis.sock"
    assert redis["group"] == "redis-flask-nix-stack"
    assert local["users"]["flask-nix-stack"]["isSystemUser"] is True
    assert "flask-nix-stack" in local["groups"]


def test_nginx_on_the_socket(cases: dict[str, Any]) -> None:
    local = cases["local"]
    nginx = local["nginx"]
    assert nginx["enable"] is True
    assert nginx["recommendedProxySettings"] is True
    # Not nginx's 512: a flood of idle connections would fill the front first.
    assert nginx["eventsConfig"] == "worker_connections 4096;"
    assert nginx["appendConfig"] == "worker_rlimit_nofile 9216;"
    assert nginx["upstreams"] == {
        "flask-nix-stack": {"servers": {f"unix:{SOCKET}": {"backup": False}}, "extraConfig": ""}
    }
    location = nginx["virtualHosts"]["api.example.test"]["locations"]["/"]
    assert location["proxyPass"] == "http://flask-nix-stack"
    assert local["nginxUnit"] == {"SupplementaryGroups": ["flask-nix-stack"]}
    assert local["firewallTCPPorts"] == []


def test_nginx_on_tcp_ipv6(cases: dict[str, Any]) -> None:
    case = cases["nginxTcp"]
    assert case["web"]["environment"]["APP_BIND"] == "[::1]:8000"
    assert case["nginx"]["upstreams"]["flask-nix-stack"]["servers"] == {
        "[::1]:8000": {"backup": False}
    }
    assert case["nginxUnit"] is None
    assert case["firewallTCPPorts"] == [80, 443]
    # Local database, remote Redis: require the one, wait for the network for the other.
    assert set(case["web"]["requires"]) == {
        "postgresql.target",
        "flask-nix-stack-migrate.service",
    }
    assert "network-online.target" in case["web"]["wants"]
    assert case["redis"] is None


def test_external_backends_port_and_settings(cases: dict[str, Any]) -> None:
    ext = cases["external"]
    web, svc = ext["web"], ext["web"]["serviceConfig"]
    assert svc["ExecStart"] == (
        f'"{ext["runtimeEnvPath"]}/bin/flask-nix-stack" "serve"'
        ' "--max-requests=1000" "--name=api server"'
    )
    assert svc["Type"] == "notify"
    assert web["environment"] == {
        "APP_ENV": "production",
        "APP_SERVER": "gunicorn",
        "APP_BIND": "0.0.0.0:8001",
        "APP_WORKERS": "2",
        "APP_THREADS": "4",
        "APP_DATABASE_URL": "postgresql+psycopg2://app@db.internal:5432/app",
        "APP_REDIS_URL": "redis://cache.internal:6379/0",
        "APP_LOG_LEVEL": "DEBUG",
        "APP_CACHE_TTL": "60",
        "APP_RATELIMIT_ENABLED": "false",
        "APP_TRUSTED_HOSTS": "localhost,127.0.0.1",
    }
    assert svc["EnvironmentFile"] == ["/run/secrets/flask-nix-stack.env"]
    assert svc["LoadCredential"] == []
    assert svc["SupplementaryGroups"] == []
    assert web["requires"] == ["flask-nix-stack-migrate.service"]
    assert {"network-online.target", "flask-nix-stack-migrate.service"} <= set(web["after"])
    assert ext["postgresql"]["enable"] is False
    assert ext["redis"] is None
    assert ext["nginx"]["enable"] is False
    assert ext["firewallTCPPorts"] == [8001]


def test_manage_wrapper_carries_the_unit_context(cases: dict[str, Any]) -> None:
    script = cases["local"]["manageScript"]
    assert "flask-nix-stack-manage" in cases["local"]["systemPackages"]
    assert "/bin/systemd-run" in script
    for needle in (
        "'--uid=flask-nix-stack'",
        f"'--property=LoadCredential=APP_SECRET_KEY:{SECRET_KEY_FILE}'",
        "'--property=SupplementaryGroups=redis-flask-nix-stack'",
        "'--setenv=APP_DATABASE_URL=postgresql+psycopg2:///flask-nix-stack?host=/run/postgresql'",
        f'{cases["local"]["runtimeEnvPath"]}/bin/flask-nix-stack "$@"',
    ):
        assert needle in script
    assert (
        "'--property=EnvironmentFile=/run/secrets/flask-nix-stack.env'"
        in (cases["external"]["manageScript"])
    )


def test_disabled_module_adds_nothing(cases: dict[str, Any]) -> None:
    disabled = cases["disabled"]
    assert disabled["unitNames"] == []
    assert disabled["systemPackages"] == []
    assert disabled["users"] == {}
    assert disabled["postgresql"]["enable"] is False


def test_misconfiguration_is_refused(cases: dict[str, Any]) -> None:
    messages = cases["misconfigured"]["failedAssertions"]
    expected = [
        "database.createLocally or database.url",
        "redis.createLocally or redis.url",
        "unixSocket must lie in /run/flask-nix-stack/",
        "APP_* names only",
        "secrets in settings",
        "production needs APP_SECRET_KEY",
    ]
    assert len(messages) == len(expected)
    for fragment, message in zip(expected, messages, strict=True):
        assert fragment in message


def test_every_option_is_documented(cases: dict[str, Any]) -> None:
    assert cases["local"]["undocumentedOptions"] == []


def test_derived_settings_and_test_profile_are_refused(evaluated: dict[str, Any]) -> None:
    """APP_BIND/APP_WORKERS/APP_THREADS are read-only (set listenAddress/port/unixSocket,
    workers, threads), and APP_ENV=testing is no deployment profile: evaluation fails."""
    assert evaluated["acceptsPlain"] is True
    assert evaluated["refused"] == {
        "settings.APP_BIND": False,
        "settings.APP_WORKERS": False,
        "settings.APP_THREADS": False,
        "APP_ENV testing": False,
        "gunicorn.extraArgs not a list": False,
    }


STAND_IN_EXPR = """
let
  lib = import <nixpkgs/lib>;
  pkgs.systemd = { type = "derivation"; outPath = "/nix/store/x-systemd"; name = "systemd"; };
  standIn = import ./nix/tests/nixos-stand-in.nix { inherit lib pkgs; };
  evaluates = config: (builtins.tryEval (builtins.deepSeq
    (lib.evalModules { modules = [ standIn.module config ]; }).config
    true)).success;
in
lib.mapAttrs (_: evaluates) {
  valid = {
    systemd.services.a.after = [ "b.service" ];
    systemd.services.a.serviceConfig.Type = "notify";
    users.users.a = { isSystemUser = true; group = "a"; };
    services.nginx.virtualHosts.h.locations."/".proxyPass = "http://a";
  };
  badUnitName = { systemd.services.a.after = [ "network" ]; };
  badServiceType = { systemd.services.a.serviceConfig.Type = "daemon"; };
  conflictingScalar = {
    imports = [ { systemd.services.a.serviceConfig.User = "x"; } ];
    systemd.services.a.serviceConfig.User = "y";
  };
  unknownUserOption = { users.users.a.homeDir = "/var/lib/a"; };
  misspeltLocationOption = { services.nginx.virtualHosts.h.locations."/".proxyPas = "http://a"; };
}
"""


def test_stand_in_options_refuse_what_nixos_refuses(nix_eval: Callable[..., Any]) -> None:
    """The declarations module-eval.nix evaluates against are nixpkgs' types, not `anything`."""
    assert nix_eval(STAND_IN_EXPR) == {
        "valid": True,
        "badUnitName": False,
        "badServiceType": False,
        "conflictingScalar": False,
        "unknownUserOption": False,
        "misspeltLocationOption": False,
    }

"""flake.nix's outputs, evaluated with nixpkgs' real lib and a stand-in package set.

tests/nix/stub-nixpkgs stands in for `import nixpkgs { system; overlays; }`: the flake's own
wiring, the overlay, nix/package.nix and nix/checks.nix are evaluated for real; the builders
(callPackage of the other files, runCommand, runNixOSTest) only record their arguments.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SYSTEMS = {"x86_64-linux", "aarch64-linux", "x86_64-darwin", "aarch64-darwin"}
LINUX = {"x86_64-linux", "aarch64-linux"}
REV = "0123456789abcdef0123456789abcdef01234567"

EXPR = f"""
let
  lib = import <nixpkgs/lib>;
  flake = import ./flake.nix;
  nixpkgs = {{
    inherit lib;
    outPath = toString ./tests/nix/stub-nixpkgs;
  }};
  self = flake.outputs {{ inherit self nixpkgs; }} // {{
    rev = "{REV}";
    lastModifiedDate = "20260625081700";
    outPath = toString ./.;
  }};
  names = lib.mapAttrs (_: builtins.attrNames);
  pkg = system: self.packages.${{system}}.default;
in
{{
  inherit (flake) description;
  inputs = flake.inputs;
  packages = names self.packages;
  apps = lib.mapAttrs (_: lib.mapAttrs (_: a: {{
    inherit (a) type program;
    inherit (a.meta) description;
  }})) self.apps;
  devShells = names self.devShells;
  checks = names self.checks;
  formatter = lib.mapAttrs (_: f: f.name) self.formatter;
  overlayIsFunction = lib.isFunction self.overlays.default;
  module = {{
    imports = map toString self.nixosModules.default.imports;
    overlays = builtins.length self.nixosModules.default.nixpkgs.overlays;
  }};
  templatePath = toString self.templates.default.path;
  image = {{
    inherit (self.packages.x86_64-linux.image.args) name tag created config fakeRootCommands;
    contents = map (p: p.name) self.packages.x86_64-linux.image.args.contents;
  }};
  stack = {{
    inherit (self.checks.x86_64-linux.stack) text;
    runtimeInputs = map (p: p.name) self.checks.x86_64-linux.stack.runtimeInputs;
  }};
  migrateText = self.checks.x86_64-linux.migrate.text;
  devShell = {{
    packages = map (p: p.name) self.devShells.x86_64-linux.default.attrs.packages;
    inherit (self.devShells.x86_64-linux.default.attrs) shellHook;
    python = map (p: p.name) (builtins.elemAt self.devShells.x86_64-linux.default.attrs.packages 0)
      .packages;
    editable = (builtins.elemAt
      (builtins.elemAt self.devShells.x86_64-linux.default.attrs.packages 0).packages 0).attrs;
  }};
  package = lib.genAttrs [ "x86_64-linux" "aarch64-darwin" ] (system: {{
    inherit (pkg system) name version;
    inherit ((pkg system).meta) mainProgram;
    inherit ((pkg system).attrs)
      doCheck disabledTestMarks pythonImportsCheck redisTestPort pyproject preCheck
      postgresqlTestUserOptions;
    buildSystem = map (p: p.name) (pkg system).attrs.build-system;
    dependencies = map (p: p.name) (pkg system).attrs.dependencies;
    nativeCheckInputs = map (p: p.name) (pkg system).attrs.nativeCheckInputs;
    tests = builtins.attrNames (pkg system).tests;
    runtimeEnv = map (p: p.name) (pkg system).runtimeEnv.packages;
  }});
  vmTestName = self.checks.x86_64-linux.vm.test.name;
  moduleEvalScript = self.checks.x86_64-linux.module-eval.script;
}}
"""


@pytest.fixture(scope="module")
def outputs(nix_eval: Callable[..., Any]) -> dict[str, Any]:
    """One evaluation (about a second) for the whole file."""
    return nix_eval(EXPR)


def test_one_input_nixos_stable(outputs: dict[str, Any]) -> None:
    assert outputs["inputs"] == {"nixpkgs": {"url": "github:NixOS/nixpkgs/nixos-26.05"}}


def test_every_system_has_package_app_shell_check_formatter(outputs: dict[str, Any]) -> None:
    for kind in ("packages", "apps", "devShells", "checks", "formatter"):
        assert set(outputs[kind]) == SYSTEMS, kind
    for system in SYSTEMS:
        assert outputs["formatter"][system] == "nixfmt-tree"
        assert outputs["devShells"][system] == ["default"]


def test_image_and_vm_only_on_linux(outputs: dict[str, Any]) -> None:
    for system in SYSTEMS:
        packages = set(outputs["packages"][system])
        checks = set(outputs["checks"][system])
        common = {"package", "stack", "migrate", "devshell", "ruff", "nixfmt"}
        if system in LINUX:
            assert packages == {"default", "server", "image"}
            assert checks == common | {"image", "vm", "module-eval"}
        else:
            assert packages == {"default", "server"}
            assert checks == common


def test_apps_run_the_stack_and_migrations(outputs: dict[str, Any]) -> None:
    for system in SYSTEMS:
        apps = outputs["apps"][system]
        assert set(apps) == {"default", "migrate"}
        assert apps["default"]["type"] == "app"
        assert apps["default"]["program"].endswith("/bin/flask-nix-stack-up")
        assert apps["migrate"]["program"].endswith("/bin/flask-nix-stack-migrate")
        assert all(app["description"] for app in apps.values())


def test_package_wiring(outputs: dict[str, Any]) -> None:
    linux = outputs["package"]["x86_64-linux"]
    assert linux["name"] == f"flask-nix-stack-{linux['version']}"
    assert linux["mainProgram"] == "flask-nix-stack"
    assert linux["pyproject"] is True
    assert linux["buildSystem"] == ["python3-setuptools"]
    assert linux["doCheck"] is True
    assert outputs["package"]["aarch64-darwin"]["doCheck"] is False
    assert linux["disabledTestMarks"] == ["stack", "slow"]
    assert linux["pythonImportsCheck"] == ["server"]
    assert linux["redisTestPort"] == 0
    assert linux["postgresqlTestUserOptions"] == "LOGIN CREATEDB"
    assert 'export PATH="$out/bin:$PATH"' in linux["preCheck"]
    assert {"postgresql", "postgresql-test-hook", "redis-test-hook"} <= set(
        linux["nativeCheckInputs"]
    )
    assert {"python3-granian", "python3-gunicorn"} <= set(linux["dependencies"])
    assert linux["tests"] == ["vm"]
    assert outputs["package"]["aarch64-darwin"]["tests"] == []
    assert "python3-sentry-sdk" in linux["runtimeEnv"]


def test_package_declares_every_pyproject_dependency(outputs: dict[str, Any]) -> None:
    """pip and Nix install the same set: each pyproject requirement has its nixpkgs package."""
    import re
    import tomllib

    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]

    def names(requirements: list[str]) -> set[str]:
        return {"python3-" + re.split(r"[\[<>=! ]", r, maxsplit=1)[0].lower() for r in requirements}

    linux = outputs["package"]["x86_64-linux"]
    assert names(pyproject["dependencies"]) <= set(linux["dependencies"])
    # Tools the dev shell brings as programs (ruff) or separately (mypy) are not test inputs.
    dev = names(pyproject["optional-dependencies"]["dev"]) - {"python3-ruff", "python3-mypy"}
    assert dev <= set(linux["nativeCheckInputs"])


def test_module_and_overlay(outputs: dict[str, Any]) -> None:
    assert outputs["overlayIsFunction"] is True
    assert [p.rsplit("/", 2)[-2:] for p in outputs["module"]["imports"]] == [["nix", "module.nix"]]
    assert outputs["module"]["overlays"] == 1
    assert outputs["vmTestName"] == "flask-nix-stack"


def test_module_eval_check_passes(outputs: dict[str, Any]) -> None:
    # checks.<linux>.module-eval succeeds only when nix/module-eval.nix reports no failures.
    assert outputs["moduleEvalScript"] == "touch $out"


def test_image_runs_the_server_as_non_root(outputs: dict[str, Any]) -> None:
    image = outputs["image"]
    config = image["config"]
    assert image["name"] == "flask-nix-stack"
    assert image["created"] == "2026-06-25T08:17:00Z"  # from the source's lastModifiedDate
    assert config["User"] == "1000:1000"
    assert config["Cmd"] == ["flask-nix-stack", "serve"]
    env = dict(item.split("=", 1) for item in config["Env"])
    assert env["PATH"].endswith("-python3-env/bin")
    assert env["APP_ENV"] == "production"
    assert env["APP_BIND"] == "0.0.0.0:8000"
    assert env["SSL_CERT_FILE"] == "/etc/ssl/certs/ca-certificates.crt"
    assert config["ExposedPorts"] == {"8000/tcp": {}}
    labels = config["Labels"]
    assert labels["org.opencontainers.image.revision"] == REV
    assert labels["org.opencontainers.image.created"] == image["created"]
    assert labels["org.opencontainers.image.version"] == image["tag"]
    assert image["contents"] == ["fake-nss", "ca-certificates"]
    assert "chmod 1777 tmp" in image["fakeRootCommands"]


def test_image_sets_only_known_app_settings(outputs: dict[str, Any]) -> None:
    names = {item.split("=", 1)[0] for item in outputs["image"]["config"]["Env"]}
    assert {n for n in names if n.startswith("APP_")} == {"APP_ENV", "APP_BIND"}


def test_stack_script(outputs: dict[str, Any]) -> None:
    text = outputs["stack"]["text"]
    assert "git rev-parse --show-toplevel" in text
    assert 'export PC_CONFIG_FILES="$root/process-compose.yaml"' in text
    assert "export PC_NO_SERVER=1" in text
    assert 'export STACK_WEB_MODE="${STACK_WEB_MODE:-prod}"' in text
    assert text.rstrip().endswith('exec process-compose up "$@"')
    assert set(outputs["stack"]["runtimeInputs"]) == {
        "bash",
        "coreutils",
        "git-minimal",
        "postgresql",
        "redis",
        "process-compose",
        "python3-env",
    }
    assert outputs["migrateText"].rstrip().endswith('/bin/flask-nix-stack db upgrade "$@"')


def test_dev_shell(outputs: dict[str, Any]) -> None:
    shell = outputs["devShell"]
    assert set(shell["packages"]) == {
        "python3-env",
        "ruff",
        "postgresql",
        "redis",
        "process-compose",
        "nixfmt-tree",
    }
    assert "flask-nix-stack-editable" in shell["python"]
    assert {"python3-pytest", "python3-pytest-cov", "python3-mypy"} <= set(shell["python"])
    assert shell["editable"]["root"] == "$FLASK_NIX_STACK_ROOT"
    assert shell["editable"]["scripts"] == {"flask-nix-stack": "server.cli:main"}
    assert "export FLASK_NIX_STACK_ROOT" in shell["shellHook"]


def test_template_is_the_repository(outputs: dict[str, Any]) -> None:
    assert Path(outputs["templatePath"]) == REPO_ROOT

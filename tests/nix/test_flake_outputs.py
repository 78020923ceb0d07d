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
  imageArgs = self.packages.x86_64-linux.image.callPackage.args;
  package = lib.genAttrs [ "x86_64-linux" "aarch64-darwin" ] (system: {{
    inherit (pkg system) name version;
    inherit ((pkg system).meta) mainProgram;
    inherit ((pkg system).attrs)
      doCheck disabledTestMarks pythonImportsCheck redisTestPort pyproject;
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
    assert linux["disabledTestMarks"] == ["stack"]
    assert linux["pythonImportsCheck"] == ["server"]
    assert linux["redisTestPort"] == 0
    assert {"postgresql", "postgresql-test-hook", "redis-test-hook"} <= set(
        linux["nativeCheckInputs"]
    )
    assert "python3-gunicorn" in linux["dependencies"]
    assert linux["tests"] == ["vm"]
    assert outputs["package"]["aarch64-darwin"]["tests"] == []
    assert "python3-sentry-sdk" in linux["runtimeEnv"]


def test_module_and_overlay(outputs: dict[str, Any]) -> None:
    assert outputs["overlayIsFunction"] is True
    assert [p.rsplit("/", 2)[-2:] for p in outputs["module"]["imports"]] == [["nix", "module.nix"]]
    assert outputs["module"]["overlays"] == 1
    assert outputs["vmTestName"] == "flask-nix-stack"


def test_module_eval_check_passes(outputs: dict[str, Any]) -> None:
    # checks.<linux>.module-eval succeeds only when nix/module-eval.nix reports no failures.
    assert outputs["moduleEvalScript"] == "touch $out"


def test_image_gets_revision_and_date(outputs: dict[str, Any]) -> None:
    assert outputs["imageArgs"] == {"revision": REV, "lastModifiedDate": "20260625081700"}


def test_template_is_the_repository(outputs: dict[str, Any]) -> None:
    assert Path(outputs["templatePath"]) == REPO_ROOT

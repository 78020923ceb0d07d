"""flake.nix's outputs, evaluated with nixpkgs' real lib and a stand-in package set.

tests/nix/stub-nixpkgs stands in for `import nixpkgs { system; overlays; }`: the flake's own
wiring, the overlay, nix/package.nix and nix/checks.nix are evaluated for real; the builders
(callPackage of the other files, runCommand, runNixOSTest) only record their arguments.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
# No x86_64-darwin: nixpkgs 26.05 is its last release (it warns), 26.11 throws on it.
SYSTEMS = {"x86_64-linux", "aarch64-linux", "aarch64-darwin"}
LINUX = {"x86_64-linux", "aarch64-linux"}
REV = "0123456789abcdef0123456789abcdef01234567"

PRELUDE = f"""
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
  # A host that passes its own pkgs (no overlay, so no pkgs.flask-nix-stack) and makes
  # nixpkgs.* read-only, as runNixOSTest nodes and many flake hosts do.
  hostPkgs = import ./tests/nix/stub-nixpkgs {{ system = "aarch64-linux"; }};
  standIn = import ./nix/tests/nixos-stand-in.nix {{ inherit lib; pkgs = hostPkgs; }};
  host = lib.evalModules {{
    modules = [
      standIn.module
      standIn.readOnlyNixpkgs
      self.nixosModules.default
      {{
        _module.args.utils = standIn.utils;
        services.flask-nix-stack = {{
          enable = true;
          credentials.APP_SECRET_KEY = "/run/keys/secret";
        }};
      }}
    ];
  }};
  vm = self.checks.x86_64-linux.vm;
"""

EXPR = (
    PRELUDE
    + """in
{
  inherit (flake) description;
  inputs = flake.inputs;
  packages = names self.packages;
  apps = lib.mapAttrs (_: lib.mapAttrs (_: a: {
    inherit (a) type program;
    inherit (a.meta) description;
  })) self.apps;
  devShells = names self.devShells;
  checks = names self.checks;
  formatter = lib.mapAttrs (_: f: f.name) self.formatter;
  overlayIsFunction = lib.isFunction self.overlays.default;
  templatePath = toString self.templates.default.path;
  image = {
    inherit (self.packages.x86_64-linux.image.args) name tag created config fakeRootCommands;
    contents = map (p: p.name) self.packages.x86_64-linux.image.args.contents;
  };
  scripts = lib.mapAttrs (_: a: { inherit (a) script excludeShellChecks; }) {
    inherit (self.checks.x86_64-linux) stack migrate;
  };
  stack = {
    inherit (self.checks.x86_64-linux.stack) text;
    runtimeInputs = map (p: p.name) self.checks.x86_64-linux.stack.runtimeInputs;
  };
  migrateText = self.checks.x86_64-linux.migrate.text;
  devShell = {
    packages = map (p: p.name) self.devShells.x86_64-linux.default.attrs.packages;
    inherit (self.devShells.x86_64-linux.default.attrs) shellHook;
    python = map (p: p.name) (builtins.elemAt self.devShells.x86_64-linux.default.attrs.packages 0)
      .packages;
    editable = (builtins.elemAt
      (builtins.elemAt self.devShells.x86_64-linux.default.attrs.packages 0).packages 0).attrs;
  };
  package = lib.genAttrs [ "x86_64-linux" "aarch64-darwin" ] (system: {
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
    runtimeEnvHasFinalPackage = builtins.elem (pkg system) (pkg system).runtimeEnv.packages;
    # overridePythonAttrs reaches what the image, the units and `nix run` run.
    overriddenRuntimeEnv = map (p: p.name)
      ((pkg system).overridePythonAttrs (_: { version = "9.9.9"; })).runtimeEnv.packages;
  });
  vmTestName = self.checks.x86_64-linux.vm.test.name;
  moduleEvalScript = self.checks.x86_64-linux.module-eval.script;
}
"""
)

# The NixOS module on a read-only-pkgs host and in the VM test: its own evaluation, so the
# other outputs are still checked when this part fails.
HOST_EXPR = (
    PRELUDE
    + """in
{
  module = {
    package = host.config.services.flask-nix-stack.package.outPath;
    flakePackage = (pkg "aarch64-linux").outPath;
    units = builtins.attrNames (builtins.deepSeq host.config.systemd.services
      host.config.systemd.services);
  };
  vmNode = {
    inherit (vm) pkgsReadOnly;
    units = builtins.attrNames vm.nodes.machine.config.systemd.services;
    execStart = vm.nodes.machine.config.systemd.services.flask-nix-stack.serviceConfig.ExecStart;
    package = vm.nodes.machine.config.services.flask-nix-stack.package.outPath;
  };
}
"""
)


@pytest.fixture(scope="module")
def outputs(nix_eval: Callable[..., Any]) -> dict[str, Any]:
    """One evaluation (about a second) for the whole file."""
    evaluated: dict[str, Any] = nix_eval(EXPR)
    return evaluated


@pytest.fixture(scope="module")
def host(nix_eval: Callable[..., Any]) -> dict[str, Any]:
    evaluated: dict[str, Any] = nix_eval(HOST_EXPR)
    return evaluated


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
        common = {"package", "stack", "migrate", "devshell", "ruff", "yamllint", "nixfmt"}
        if system in LINUX:
            assert packages == {"default", "server", "image"}
            assert checks == common | {"image", "vm", "vm-cluster", "module-eval"}
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
    assert linux["tests"] == ["vm", "vm-cluster"]
    assert outputs["package"]["aarch64-darwin"]["tests"] == []
    assert "python3-sentry-sdk" in linux["runtimeEnv"]
    # finalAttrs.finalPackage: the environment holds the package as finally built (overrides too).
    assert linux["runtimeEnvHasFinalPackage"] is True
    assert "flask-nix-stack-9.9.9" in linux["overriddenRuntimeEnv"]


def pyproject() -> dict[str, Any]:
    project: dict[str, Any] = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    return project


def names(requirements: list[str]) -> set[str]:
    """The stand-in nixpkgs' names (python3-NAME) of pyproject requirements."""
    return {"python3-" + re.split(r"[\[<>=! ]", r, maxsplit=1)[0].lower() for r in requirements}


def stubs(requirements: list[str]) -> set[str]:
    """mypy's stub packages among them (types-NAME)."""
    return {name for name in names(requirements) if name.startswith("python3-types-")}


def test_package_declares_every_pyproject_dependency(outputs: dict[str, Any]) -> None:
    """pip and Nix install the same set: each pyproject requirement has its nixpkgs package."""
    project = pyproject()
    linux = outputs["package"]["x86_64-linux"]
    assert names(project["dependencies"]) <= set(linux["dependencies"])
    # Tools the dev shell brings as programs (ruff, yamllint) or separately (mypy and its
    # stubs) are not test inputs; nor is openapi-python-client (an application in nixpkgs:
    # tests/test_generated_clients.py skips without it).
    dev_extra = project["optional-dependencies"]["dev"]
    programs = {"python3-ruff", "python3-mypy", "python3-yamllint", "python3-openapi-python-client"}
    programs |= stubs(dev_extra)
    # Not in nixpkgs at the pin (nix/package.nix says why): left out of the check, with the
    # tests that need it (tests/fuzz). The stand-in nixpkgs has no such attribute either.
    absent = {"python3-schemathesis"}
    dev = names(dev_extra) - programs
    assert dev - absent <= set(linux["nativeCheckInputs"])
    assert not absent & set(linux["nativeCheckInputs"])


def test_module_works_with_read_only_pkgs_and_uses_the_flake_package(
    outputs: dict[str, Any], host: dict[str, Any]
) -> None:
    """A host with read-only nixpkgs.* and no overlay: the module evaluates, and its package is
    the flake's own build for the host system (not one rebuilt against the host's nixpkgs)."""
    assert outputs["overlayIsFunction"] is True
    module = host["module"]
    assert module["package"] == module["flakePackage"]
    assert {"flask-nix-stack", "flask-nix-stack-migrate"} <= set(module["units"])


def test_vm_test_runs_with_read_only_pkgs(outputs: dict[str, Any], host: dict[str, Any]) -> None:
    assert outputs["vmTestName"] == "flask-nix-stack"
    vm = host["vmNode"]
    assert vm["pkgsReadOnly"] is True  # runNixOSTest's default, no opt-out
    assert {"flask-nix-stack", "flask-nix-stack-migrate"} <= set(vm["units"])
    assert vm["package"] == host["module"]["flakePackage"]
    assert vm["execStart"].endswith('/bin/flask-nix-stack" "serve"')


def test_module_eval_check_passes(outputs: dict[str, Any]) -> None:
    # checks.<linux>.module-eval succeeds only when nix/tests/module-eval.nix reports no failures.
    assert outputs["moduleEvalScript"] == "touch $out"


def test_image_runs_the_server_as_non_root(outputs: dict[str, Any]) -> None:
    image = outputs["image"]
    config = image["config"]
    assert image["name"] == "flask-nix-stack"
    assert image["created"] == "2026-06-25T08:17:00Z"  # from the source's lastModifiedDate
    uid, gid = map(int, config["User"].split(":"))
    # Not root, and above the ids a host's own accounts use (checkov CKV_K8S_40, trivy KSV020).
    assert uid > 10000
    assert gid > 10000
    assert config["Cmd"] == ["flask-nix-stack", "serve"]
    env = dict(item.split("=", 1) for item in config["Env"])
    assert env["PATH"].endswith("-python3-env/bin")
    assert env["APP_ENV"] == "production"
    assert env["APP_BIND"] == "0.0.0.0:8000"
    assert env["SSL_CERT_FILE"] == "/etc/ssl/certs/ca-certificates.crt"
    assert env["FNS_BUILD_REVISION"] == REV  # the build_info metric's revision label
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


def run_script(
    text: str, cwd: Path, env: dict[str, str], *args: str
) -> subprocess.CompletedProcess[str]:
    """Run a recorded shell text with bash and ``args``, as its writeShellApplication would
    (set -euo)."""
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", text, "flask-nix-stack-up", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.fixture
def fake_process_compose(tmp_path: Path) -> Path:
    """A `process-compose` that reports what the stack script handed it, instead of running."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    tool = bin_dir / "process-compose"
    tool.write_text(
        "#!/bin/sh\n"
        'printf "%s\\n" "config=$PC_CONFIG_FILES" "scripts=$STACK_SCRIPTS_DIR" '
        '"data=$STACK_DATA_DIR" "cwd=$(pwd)" "args=$*" "pcconfig=${PROC_COMP_CONFIG:-}"\n'
    )
    tool.chmod(0o755)
    return bin_dir


@pytest.mark.parametrize("where", ["empty", "unrelated-git-repo"])
def test_stack_runs_outside_a_checkout(
    outputs: dict[str, Any], tmp_path: Path, fake_process_compose: Path, where: str
) -> None:
    """`nix run github:OWNER/flask-nix-stack` from any directory: the YAML comes from the store,
    state goes to $XDG_STATE_HOME/flask-nix-stack, and another repo's process-compose.yaml is
    never picked up."""
    cwd = tmp_path / "somewhere"
    cwd.mkdir()
    if where == "unrelated-git-repo":
        (cwd / ".git").mkdir()
        (cwd / "process-compose.yaml").write_text("processes: {}\n")
    state_home = tmp_path / "state"
    env = {
        "PATH": f"{fake_process_compose}:/usr/bin:/bin",
        "HOME": str(tmp_path / "home"),
        "XDG_STATE_HOME": str(state_home),
    }
    proc = run_script(outputs["stack"]["text"], cwd, env)
    assert proc.returncode == 0, proc.stderr
    report = dict(line.split("=", 1) for line in proc.stdout.splitlines())
    assert report["config"].startswith("/nix/store/")
    assert report["config"].endswith("-process-compose.yaml")
    assert report["scripts"].startswith("/nix/store/")
    assert report["scripts"].endswith("-stack")
    assert report["data"] == str(state_home / "flask-nix-stack")
    assert report["cwd"] == report["data"]
    assert (state_home / "flask-nix-stack").is_dir()


@pytest.mark.parametrize("config_home", ["none", "user's", "set by hand"])
def test_stack_gives_process_compose_a_config_dir_only_without_one(
    outputs: dict[str, Any], tmp_path: Path, fake_process_compose: Path, config_home: str
) -> None:
    """Without a process-compose config directory, process-compose logs two JSON debug lines
    at each start; the stack points it at an empty one in its state, never over the user's."""
    home = tmp_path / "home"
    env = {"PATH": f"{fake_process_compose}:/usr/bin:/bin", "HOME": str(home)}
    if config_home == "user's":
        (home / ".config" / "process-compose").mkdir(parents=True)
    if config_home == "set by hand":
        env["PROC_COMP_CONFIG"] = str(tmp_path / "mine")
    proc = run_script(outputs["stack"]["text"], tmp_path, env)
    assert proc.returncode == 0, proc.stderr
    report = dict(line.split("=", 1) for line in proc.stdout.splitlines())
    expected = {
        "none": f"{report['data']}/process-compose",
        "user's": "",
        "set by hand": str(tmp_path / "mine"),
    }[config_home]
    assert report["pcconfig"] == expected
    if config_home == "none":
        assert Path(expected).is_dir()


@pytest.mark.parametrize("args", [["--help"], ["-h"], ["--tui=false", "--help"]])
def test_stack_help_leaves_no_state_behind(
    outputs: dict[str, Any], tmp_path: Path, fake_process_compose: Path, args: list[str]
) -> None:
    """`nix run . -- --help` shows process-compose's help for `up`; it made the state directory
    and process-compose's config directory in it first."""
    state_home = tmp_path / "state"
    env = {
        "PATH": f"{fake_process_compose}:/usr/bin:/bin",
        "HOME": str(tmp_path / "home"),
        "XDG_STATE_HOME": str(state_home),
    }
    proc = run_script(outputs["stack"]["text"], tmp_path, env, *args)
    assert proc.returncode == 0, proc.stderr
    assert f"args=up {' '.join(args)}" in proc.stdout.splitlines()
    assert not state_home.exists()
    assert not (tmp_path / "home").exists()


def test_stack_passes_arguments_on(
    outputs: dict[str, Any], tmp_path: Path, fake_process_compose: Path
) -> None:
    """A `--help` after `--` is not for process-compose's `up`: the stack starts as usual."""
    env = {"PATH": f"{fake_process_compose}:/usr/bin:/bin", "HOME": str(tmp_path / "home")}
    proc = run_script(outputs["stack"]["text"], tmp_path, env, "web", "--", "--help")
    assert proc.returncode == 0, proc.stderr
    report = dict(line.split("=", 1) for line in proc.stdout.splitlines())
    assert report["args"] == "up web -- --help"
    assert Path(report["data"]).is_dir()


def test_stack_state_dir_override(
    outputs: dict[str, Any], tmp_path: Path, fake_process_compose: Path
) -> None:
    env = {
        "PATH": f"{fake_process_compose}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "STACK_DATA_DIR": str(tmp_path / "mine"),
    }
    proc = run_script(outputs["stack"]["text"], tmp_path, env)
    assert proc.returncode == 0, proc.stderr
    assert f"data={tmp_path / 'mine'}" in proc.stdout.splitlines()


def test_stack_script_inputs(outputs: dict[str, Any]) -> None:
    text = outputs["stack"]["text"]
    assert "export PC_NO_SERVER=1" in text
    assert 'export STACK_WEB_MODE="${STACK_WEB_MODE:-prod}"' in text
    assert text.rstrip().endswith('exec process-compose up "$@"')
    assert "git" not in text
    assert set(outputs["stack"]["runtimeInputs"]) == {
        "bash",
        "coreutils",
        "postgresql",
        "redis",
        "process-compose",
        "python3-env",
    }
    # The CLI of the runtime environment (with the Sentry extra), like the units and the image.
    assert (
        outputs["migrateText"].rstrip().endswith('-python3-env/bin/flask-nix-stack db upgrade "$@"')
    )


@pytest.mark.parametrize("name", ["stack", "migrate"])
def test_shell_applications_pass_shellcheck(outputs: dict[str, Any], name: str) -> None:
    """writeShellApplication's checkPhase runs shellcheck on the written script; so do we."""
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        if os.environ.get("CI"):
            pytest.fail("shellcheck missing in CI (apt-get install shellcheck)")
        pytest.skip("shellcheck not installed (apt-get install shellcheck)")
    script = outputs["scripts"][name]
    excluded = script["excludeShellChecks"]
    cmd = [shellcheck, *(["--exclude", ",".join(excluded)] if excluded else []), "-"]
    proc = subprocess.run(
        cmd, input=script["script"], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_dev_shell(outputs: dict[str, Any]) -> None:
    shell = outputs["devShell"]
    assert set(shell["packages"]) == {
        "python3-env",
        "ruff",
        "pyright",
        "yamllint",
        "wrk",
        "openapi-generator-cli",
        "postgresql",
        "redis",
        "process-compose",
        "nixfmt-tree",
    }
    assert "flask-nix-stack-editable" in shell["python"]
    assert {"python3-pytest", "python3-pytest-cov", "python3-mypy"} <= set(shell["python"])
    extras = pyproject()["optional-dependencies"]
    # mypy checks the tests too: the dev extra's stubs (psycopg2, yaml, jsonschema, requests).
    assert len(stubs(extras["dev"])) == 4
    assert stubs(extras["dev"]) <= set(shell["python"])
    # bench/ runs there too: the bench extra, uvicorn's standard extras included.
    assert names(extras["bench"]) | {"python3-httptools"} <= set(shell["python"])
    assert shell["editable"]["root"] == "$FLASK_NIX_STACK_ROOT"
    assert shell["editable"]["scripts"] == {"flask-nix-stack": "server.cli:main"}


def shell_hook_root(
    hook: str, cwd: Path, extra_env: dict[str, str] | None = None
) -> tuple[str, str]:
    """FLASK_NIX_STACK_ROOT after the dev shell's hook, run as `nix develop -i` would: a bare
    environment (no git on PATH)."""
    env = {"PATH": "/nonexistent", **(extra_env or {})}
    bash = shutil.which("bash") or "/bin/bash"
    proc = subprocess.run(
        [bash, "--norc", "--noprofile", "-c", hook + '\nprintf %s "${FLASK_NIX_STACK_ROOT:-}"'],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout, proc.stderr


def test_dev_shell_finds_the_checkout_without_git(outputs: dict[str, Any], tmp_path: Path) -> None:
    hook = outputs["devShell"]["shellHook"]
    checkout = tmp_path / "checkout"
    (checkout / "tests" / "nix").mkdir(parents=True)
    (checkout / "pyproject.toml").write_text((REPO_ROOT / "pyproject.toml").read_text())
    assert shell_hook_root(hook, checkout)[0] == str(checkout)
    assert shell_hook_root(hook, checkout / "tests" / "nix")[0] == str(checkout)
    # A directory outside any checkout: no root, and a message saying why.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    root, message = shell_hook_root(hook, elsewhere)
    assert root == ""
    assert "FLASK_NIX_STACK_ROOT" in message
    # An explicit root wins (a shell opened elsewhere on purpose).
    assert shell_hook_root(hook, elsewhere, {"FLASK_NIX_STACK_ROOT": str(checkout)})[0] == str(
        checkout
    )


def test_dev_shell_gives_process_compose_a_config_dir(
    outputs: dict[str, Any], tmp_path: Path
) -> None:
    """`process-compose up` in the dev shell starts without its config-home debug lines, as
    `nix run` does: an empty config directory in the checkout's .data/, unless the user has one."""
    report = '\nprintf "%s|%s\\n" "${PROC_COMP_CONFIG:-}" "$(declare -F process_compose_config)"'
    hook = outputs["devShell"]["shellHook"] + report
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    (checkout / "pyproject.toml").write_text((REPO_ROOT / "pyproject.toml").read_text())
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path / "home")}
    out, err = shell_hook_root(hook, checkout, env)
    assert err == ""
    # The variable only: the function is gone from the user's shell.
    assert out.splitlines()[0] == f"{checkout}/.data/process-compose|"
    assert (checkout / ".data" / "process-compose").is_dir()
    (tmp_path / "home" / ".config" / "process-compose").mkdir(parents=True)
    out, _ = shell_hook_root(hook, checkout, env)
    assert out.splitlines()[0] == "|"


def test_template_is_the_repository(outputs: dict[str, Any]) -> None:
    assert Path(outputs["templatePath"]) == REPO_ROOT

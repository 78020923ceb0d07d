"""script/bootstrap, script/server, script/test and .ci/run: shellcheck-clean, and what can be
checked of bootstrap without reinstalling the machine: its one-line refusals and its plan
(--dry-run), with stand-ins for os-release, dpkg-query and sudo."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BOOTSTRAP = ROOT / "script" / "bootstrap"
SCRIPTS = [*sorted(p for p in (ROOT / "script").iterdir() if p.is_file()), ROOT / ".ci" / "run"]
CI = os.environ.get("CI") == "true"
UBUNTU = 'NAME="Ubuntu"\nID=ubuntu\nID_LIKE=debian\nVERSION_ID="24.04"\n'


def bootstrap(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BOOTSTRAP), *args],
        capture_output=True,
        text=True,
        # Only the variables the test sets: none inherited from a script/test run.
        env={**{k: v for k, v in os.environ.items() if not k.startswith("FNS_")}, **(env or {})},
        stdin=subprocess.DEVNULL,
        timeout=60,
        check=False,
    )


@pytest.fixture
def fake_bin(tmp_path: Path) -> Path:
    """A directory put first on PATH, for stand-in commands."""
    directory = tmp_path / "bin"
    directory.mkdir()
    return directory


def stand_in(directory: Path, name: str, script: str) -> None:
    path = directory / name
    path.write_text(f"#!/bin/sh\n{script}\n")
    path.chmod(0o755)


def dpkg_without(directory: Path, *absent: str) -> None:
    """A dpkg-query that reports every package installed except ``absent``."""
    cases = "".join(f"  {name}) exit 1 ;;\n" for name in absent)
    stand_in(
        directory,
        "dpkg-query",
        f'for pkg; do :; done\ncase "$pkg" in\n{cases}esac\nprintf "install ok installed"',
    )


def stand_in_env(tmp_path: Path, fake_bin: Path, **extra: str) -> dict[str, str]:
    """The environment for bootstrap: the os-release in tmp_path and the stand-ins first."""
    return {
        "FNS_OS_RELEASE": str(tmp_path / "os-release"),
        "PATH": f"{fake_bin}:{os.environ['PATH']}",
        **extra,
    }


def test_shellcheck_clean() -> None:
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        if CI:
            pytest.fail("shellcheck is not installed (script/bootstrap installs it)")
        pytest.skip("shellcheck is not installed (apt-get install shellcheck)")
    # As anyone runs it: no -x, from another directory; each script says where lib.sh is.
    shell_files = [*SCRIPTS, *sorted((ROOT / "stack").glob("*.sh"))]
    result = subprocess.run(
        [shellcheck, *map(str, shell_files)],
        cwd="/",
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout


@pytest.mark.parametrize(
    ("os_release", "message"),
    [
        ('ID=fedora\nID_LIKE="rhel centos"\n', "unsupported distribution 'fedora'"),
        ("ID=arch\n", "unsupported distribution 'arch'"),
        (None, "cannot tell the distribution"),
    ],
)
def test_refuses_other_distributions_in_one_line(
    tmp_path: Path, os_release: str | None, message: str
) -> None:
    path = tmp_path / "os-release"
    if os_release is not None:
        path.write_text(os_release)
    result = bootstrap("test", env={"FNS_OS_RELEASE": str(path)})
    assert result.returncode == 1
    assert result.stdout == "", "nothing is done before the check"
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"bootstrap: {message}")
    assert "nix run" in result.stderr


def test_ubuntu_and_derivatives_pass(tmp_path: Path, fake_bin: Path) -> None:
    (tmp_path / "os-release").write_text('ID=pop\nID_LIKE="ubuntu debian"\n')
    dpkg_without(fake_bin)
    result = bootstrap("server", "--dry-run", env=stand_in_env(tmp_path, fake_bin))
    assert result.returncode == 0, result.stderr
    assert "apt packages: all 10 present" in result.stdout


@pytest.mark.parametrize("name", ["bootstrap", "server", "test"])
@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help_is_the_header_and_nothing_else(name: str, flag: str) -> None:
    """Before: script/server --help installed everything, then showed process-compose's help;
    script/test --help, pytest's after the same installs."""
    script = ROOT / "script" / name
    result = subprocess.run(
        [str(script), flag], capture_output=True, text=True, timeout=30, check=False
    )
    assert (result.returncode, result.stderr) == (0, "")
    header = script.read_text().split("\nset -", 1)[0].splitlines()[1:]
    assert result.stdout.splitlines() == [
        line.removeprefix("#").removeprefix(" ") for line in header
    ]
    assert "== " not in result.stdout  # nothing said, so nothing done


def test_unknown_argument_is_one_line() -> None:
    result = bootstrap("--frobnicate")
    assert result.returncode == 1
    assert result.stderr == (
        "bootstrap: unknown argument '--frobnicate' "
        "(usage: script/bootstrap [server|test] [--dry-run] [--nixpkgs-versions])\n"
    )


def test_plan_installs_only_what_is_missing(tmp_path: Path, fake_bin: Path) -> None:
    (tmp_path / "os-release").write_text(UBUNTU)
    dpkg_without(fake_bin, "wrk", "libpq-dev")
    env = stand_in_env(tmp_path, fake_bin)
    result = bootstrap("test", "--dry-run", env=env)
    assert result.returncode == 0, result.stderr
    assert "would: apt-get install libpq-dev wrk (through sudo)\n" in result.stdout
    # The server needs libpq-dev but not the benchmark tool.
    result = bootstrap("server", "--dry-run", env=env)
    assert "would: apt-get install libpq-dev (through sudo)\n" in result.stdout


def test_without_a_password_prompt_sudo_fails_in_one_line(tmp_path: Path, fake_bin: Path) -> None:
    (tmp_path / "os-release").write_text(UBUNTU)
    dpkg_without(fake_bin, "wrk")
    stand_in(fake_bin, "sudo", 'echo "sudo: a password is required" >&2; exit 1')
    stand_in(fake_bin, "apt-get", f"touch {tmp_path}/apt-ran")
    env = stand_in_env(tmp_path, fake_bin)
    result = bootstrap("test", env=env)
    assert result.returncode == 1
    assert result.stderr == (
        "bootstrap: sudo needs a password and there is no terminal to ask for it: "
        "run as root, or install: wrk\n"
    )
    assert not (tmp_path / "apt-ran").exists()


def test_a_changed_python_env_is_rebuilt(tmp_path: Path, fake_bin: Path) -> None:
    """The env is reused only while its stamp matches pyproject.toml and the interpreter."""
    (tmp_path / "os-release").write_text(UBUNTU)
    dpkg_without(fake_bin)
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").symlink_to("/usr/bin/python3")
    (venv / ".fns-stamp").write_text("from-an-older-pyproject\n")
    result = bootstrap(
        "server", "--dry-run", env=stand_in_env(tmp_path, fake_bin, FNS_VENV=str(venv))
    )
    assert f"would: create the Python env {venv} from /usr/bin/python3" in result.stdout


# The envs script/bootstrap makes, and the arguments that make each.
BOOTSTRAPPED_ENVS = {ROOT / ".venv": (), ROOT / ".venv-nixpkgs": ("--nixpkgs-versions",)}


@pytest.mark.skipif(
    Path(sys.prefix) not in BOOTSTRAPPED_ENVS,
    reason="pytest does not run from an env script/bootstrap makes (.venv, .venv-nixpkgs), "
    "so it may be stale",
)
def test_second_run_has_nothing_to_do() -> None:
    """script/test bootstrapped this checkout: another bootstrap would change nothing."""
    result = bootstrap("test", "--dry-run", *BOOTSTRAPPED_ENVS[Path(sys.prefix)])
    assert result.returncode == 0, result.stderr
    assert "would:" not in result.stdout, result.stdout

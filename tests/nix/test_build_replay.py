"""Replay nix/package.nix's check phase without Nix, as faithfully as this machine allows.

`nix build` runs the test suite in its check phase; a file the tests read but the source
fileset leaves out, a mark or flag the derivation sets, the hooks' database setup: none of it
shows up in a plain `pytest` run of the checkout. This test rebuilds that situation:

- the source is exactly the fileset nix/package.nix declares (evaluated with a recording
  stand-in for lib.fileset, tests/nix/fileset-recorder.nix), applied to the git-tracked files
  only, as a flake copies only those;
- the package is installed from that copy (a wheel into a fresh target directory, not
  editable), and the derivation's own preCheck puts it first on PATH and PYTHONPATH;
- pytest runs in that copy with the marks, disabledTests, disabledTestPaths and pytestFlags of
  the derivation, combined as pytestCheckHook does, `--import-mode=importlib` as the hook adds
  by default, `--numprocesses=$NIX_BUILD_CORES` after them as pytest-xdist's setup hook adds
  when it is a check input (pkgs/development/python-modules/pytest-xdist/setup-hook.sh), with
  NIX_BUILD_CORES=2 (see REPLAY_BUILD_CORES), and HOME=/homeless-shelter;
- PostgreSQL and Redis come as postgresqlTestHook and redisTestHook provide them (PGHOST a
  socket directory, PGUSER=test_user, PGDATABASE=test_db with postgresqlTestUserOptions, the
  server configured with postgresqlExtraSettings; Redis on REDIS_SOCKET with redisTestPort), read
  from pkgs/by-name/{po/postgresqlTestHook,
  re/redisTestHook} in nixpkgs;
- python, python3 and pytest are the env's base interpreter without the env's packages: as in
  the build, where the interpreter is nixpkgs' bare python3, every dependency comes through
  PYTHONPATH (a test that gave a child process a PYTHONPATH of its own passed under the venv's
  interpreter, and would have failed the real build);
- PATH holds no git, no redis-server, no process-compose and no Chromium (the build has none of
  them), no LANG or LC_* is set (so the hook's initdb makes a SQL_ASCII cluster, as in the
  sandbox), PYTHONHASHSEED=0 as nixpkgs' Python setup hook exports it, and the whole replay
  runs as an unprivileged user.

Not reproducible here: the sandbox (no network, a fixed /build), nixpkgs' Python 3.13 and
its package versions (see tests/nix/nixpkgs-versions.txt), and the real builders.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, NoReturn

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
RECORDER = REPO_ROOT / "tests" / "nix" / "fileset-recorder.nix"
CONSTRAINTS = REPO_ROOT / "tests" / "nix" / "nixpkgs-versions.txt"
SUITE_TIMEOUT_S = 1800
# NIX_BUILD_CORES is a builder's setting (nix.conf `cores`), not the derivation's: the check must
# pass whatever a builder sets, so any value is a faithful one. 2 is the least at which
# pytest-xdist's workers share the hooks' PostgreSQL and Redis (a database suffix and a Redis
# database per worker, tests/support/servers.py), which only this replay exercises: the suite
# outside it gives each worker servers of its own. More workers would each repeat their start-up
# (imports, collection, the session's databases: ~4 CPU-s each) while the outer run keeps the
# machine's other cores busy.
REPLAY_BUILD_CORES = 2

EXPR = f"""
let
  recorder = import {RECORDER};
  pkgs = import ./tests/nix/stub-nixpkgs {{
    system = "x86_64-linux";
    overlays = [
      (final: prev: {{
        lib = prev.lib // {{ fileset = recorder; }};
        flask-nix-stack = final.callPackage ./nix/package.nix {{ }};
      }})
    ];
  }};
  a = pkgs.flask-nix-stack.attrs;
in
{{
  inherit (a) src doCheck;
  preCheck = a.preCheck or "";
  postgresqlTestUserOptions = a.postgresqlTestUserOptions or "";
  postgresqlExtraSettings = a.postgresqlExtraSettings or "";
  redisTestPort = a.redisTestPort or 6379;
  disabledTestMarks = a.disabledTestMarks or [ ];
  enabledTestMarks = a.enabledTestMarks or [ ];
  disabledTests = a.disabledTests or [ ];
  enabledTests = a.enabledTests or [ ];
  disabledTestPaths = a.disabledTestPaths or [ ];
  pytestFlags = a.pytestFlags or [ ];
  dontUsePytestXdist = a.dontUsePytestXdist or false;
  nativeCheckInputs = map (p: p.name) a.nativeCheckInputs;
  inherit (pkgs.python3) sitePackages;
}}
"""

# Tools the build has (stdenv, nativeCheckInputs) come from this machine's PATH, minus these,
# which the check phase does not have. Chromium is not a check input either: under Nix the
# /docs page tests skip (the suite outside the replay runs them), so here they must skip too
# rather than start a server and a browser that the real check never starts.
NOT_IN_THE_BUILD = (
    *("git", "redis-server", "redis-cli", "process-compose", "nix", "sudo"),
    *("chromium", "chromium-browser"),
)


def lacking(reason: str) -> NoReturn:
    """Skip, saying why, where the machine lacks a tool; in CI (CI set) that is a failure."""
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(f"CI must run the build replay, but: {reason}", pytrace=False)
    pytest.skip(reason)


@dataclass
class CheckPhase:
    """What nix/package.nix tells the check phase, as evaluated."""

    src: dict[str, Any]
    pre_check: str
    user_options: str
    postgres_settings: str
    redis_port: int
    disabled_marks: list[str]
    enabled_marks: list[str]
    disabled_tests: list[str]
    enabled_tests: list[str]
    disabled_paths: list[str]
    pytest_flags: list[str]
    xdist_hook: bool
    native_check_inputs: list[str]
    site_packages: str


def tracked_files(root: Path) -> set[str]:
    """The files a flake would copy: git's tracked files, as they are in the working tree."""
    git = shutil.which("git")
    if git is None or not (root / ".git").exists():
        lacking("no git checkout: cannot tell which files a flake would copy")
    proc = subprocess.run(
        [git, "-c", "safe.directory=*", "ls-files", "-z"],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return {name for name in proc.stdout.split("\0") if name and (root / name).is_file()}


def apply_fileset(node: dict[str, Any], root: Path, files: set[str]) -> set[str]:
    """lib.fileset's semantics for the recorded expression, over `files` (relative paths)."""
    op = node["op"]
    if op in {"path", "maybeMissing"}:
        rel = os.path.relpath(node["path"], root)
        assert not rel.startswith(".."), f"{node['path']} lies outside the fileset root {root}"
        under = {f for f in files if f == rel or f.startswith(rel.rstrip("/") + "/")}
        if op == "path" and not under:
            # lib.fileset throws for a path that does not exist; for the flake it is the same
            # when the file exists but is not tracked.
            pytest.fail(
                f"nix/package.nix names {rel}, which is not a git-tracked file or directory"
            )
        return under
    if op == "unions":
        return set().union(*(apply_fileset(item, root, files) for item in node["items"]))
    if op == "difference":
        return apply_fileset(node["include"], root, files) - apply_fileset(
            node["exclude"], root, files
        )
    raise AssertionError(f"fileset-recorder.nix recorded an unknown operation {op!r}")


def marks_expression(enabled: list[str], disabled: list[str]) -> str:
    """pytestCheckHook's -m/-k expression: ((a) or (b)) and not (c) and not (d)."""
    include = f"(({') or ('.join(enabled)}))" if enabled else ""
    exclude = ""
    if disabled:
        exclude = (" and " if include else "") + f"not ({') and not ('.join(disabled)})"
    return include + exclude


@pytest.fixture(scope="module")
def check_phase(nix_eval: Callable[..., Any]) -> CheckPhase:
    data = nix_eval(EXPR)
    if not data["doCheck"]:
        pytest.fail("nix/package.nix sets doCheck = false on Linux: nothing would be tested")
    return CheckPhase(
        src=data["src"],
        pre_check=data["preCheck"],
        user_options=data["postgresqlTestUserOptions"],
        postgres_settings=data["postgresqlExtraSettings"],
        redis_port=data["redisTestPort"],
        disabled_marks=data["disabledTestMarks"],
        enabled_marks=data["enabledTestMarks"],
        disabled_tests=data["disabledTests"],
        enabled_tests=data["enabledTests"],
        disabled_paths=data["disabledTestPaths"],
        pytest_flags=data["pytestFlags"],
        xdist_hook="python3-pytest-xdist" in data["nativeCheckInputs"]
        and not data["dontUsePytestXdist"],
        native_check_inputs=data["nativeCheckInputs"],
        site_packages=data["sitePackages"],
    )


# Where $NIX_BUILD_TOP goes: in memory where the machine has a tmpfs, as on builders whose build
# directory is one (the sandbox calls it /build either way). The check's PostgreSQL writes ~200 MB
# (a database per test area and worker); on a disk shared with other work, writing and removing
# them took seconds (removing alone: 14 s, measured here under load).
BUILD_TOP_PARENTS = (Path("/dev/shm"), Path("/tmp"))
# Memory is taken only with room to spare: a container's /dev/shm is often 64 MB.
BUILD_TOP_MIN_FREE = 1 << 30


def usable_parent(path: Path) -> bool:
    if not (path.is_dir() and os.access(path, os.W_OK | os.X_OK)):
        return False
    return path == BUILD_TOP_PARENTS[-1] or shutil.disk_usage(path).free >= BUILD_TOP_MIN_FREE


@pytest.fixture(scope="module")
def build_top() -> Iterator[Path]:
    """$NIX_BUILD_TOP: short, so the socket paths below stay under ~100 bytes."""
    parent = next(p for p in BUILD_TOP_PARENTS if usable_parent(p))
    path = Path(tempfile.mkdtemp(prefix="fns-nb-", dir=parent))
    yield path
    subprocess.run(["rm", "-rf", str(path)], check=False)


def copy_source(check: CheckPhase, build_top: Path) -> Path:
    assert check.src["op"] == "toSource"
    root = Path(check.src["root"])
    files = apply_fileset(check.src["fileset"], root, tracked_files(root))
    source = build_top / "source"
    for rel in sorted(files):
        target = source / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / rel, target)
    return source


def sandbox_path(build_top: Path, extra: list[Path]) -> str:
    """PATH for the check phase: this machine's tools minus what the build does not have."""
    bin_dir = build_top / "host-bin"
    bin_dir.mkdir()
    for directory in (Path("/usr/bin"), Path("/bin")):
        for tool in directory.iterdir():
            if tool.name in NOT_IN_THE_BUILD or (bin_dir / tool.name).exists():
                continue
            (bin_dir / tool.name).symlink_to(tool)
    return ":".join([*map(str, extra), str(bin_dir)])


def bare_interpreter(build_top: Path) -> Path:
    """A bin directory whose python, python3 and pytest run this env's base interpreter, which
    has none of the env's packages: in the build the interpreter is nixpkgs' bare python3, and
    every dependency comes through PYTHONPATH (the Python hooks set it), so a test that gives a
    child process a PYTHONPATH of its own takes them away there. Run by the venv's interpreter,
    such a child still found them, and the replay passed."""
    base = Path(getattr(sys, "_base_executable", sys.executable)).resolve()
    bin_dir = build_top / "python-bin"
    bin_dir.mkdir()
    for name in ("python", "python3"):
        (bin_dir / name).symlink_to(base)
    # The entry point the installed pytest declares, as the wrapper a package build generates
    # from it (pytest 9.2 moved it from pytest:console_main, now deprecated, to a private one).
    (script,) = entry_points(group="console_scripts", name="pytest")
    module, _, function = script.value.partition(":")
    launcher = bin_dir / "pytest"
    launcher.write_text(
        f"#!{base}\nimport sys\nfrom {module} import {function}\nsys.exit({function}())\n"
    )
    launcher.chmod(0o755)
    return bin_dir


def postgres_bindir() -> Path:
    for candidate in [
        shutil.which("initdb"),
        *sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb")),
    ]:
        if candidate:
            return Path(candidate).parent
    lacking("PostgreSQL server binaries (initdb) not found")


def run(cmd: list[str], env: dict[str, str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False, **kwargs)
    assert proc.returncode == 0, f"{cmd}: {proc.stdout}\n{proc.stderr}"
    return proc


@dataclass
class Hooks:
    """The servers postgresqlTestHook and redisTestHook start, and what they export."""

    env: dict[str, str]
    redis: subprocess.Popen[bytes]
    pg_ctl: Path
    pgdata: Path

    def stop(self) -> None:
        subprocess.run(
            [str(self.pg_ctl), "stop", "--mode=immediate", "-D", str(self.pgdata)],
            env=self.env,
            capture_output=True,
            check=False,
        )
        self.redis.terminate()
        self.redis.wait(timeout=30)


def start_hooks(check: CheckPhase, build_top: Path, env: dict[str, str]) -> Hooks:
    bindir = postgres_bindir()
    run_dir = build_top / "run"
    socket_dir = run_dir / "postgresql"
    socket_dir.mkdir(parents=True)
    pgdata = build_top / "postgresql"
    hook_env = env | {
        "PGSSLMODE": "disable",
        "PGDATA": str(pgdata),
        "PGHOST": str(socket_dir),
        "PGUSER": "test_user",
        "PGDATABASE": "test_db",
    }
    run(
        [str(bindir / "initdb"), "--username=postgres", "--auth=trust", "--no-sync"],
        hook_env,
    )
    # In the hook's order: postgresqlExtraSettings, then the socket, then no TCP.
    with (pgdata / "postgresql.conf").open("a", encoding="utf-8") as conf:
        conf.write(f"{check.postgres_settings}\n")
        conf.write(f"unix_socket_directories = '{socket_dir}'\nlisten_addresses = ''\n")
    run([str(bindir / "pg_ctl"), "start", "-w", "-l", str(build_top / "pg.log")], hook_env)
    user_options = check.user_options or "LOGIN"
    setup_sql = (
        f'CREATE ROLE "test_user" {user_options};\nCREATE DATABASE "test_db" OWNER \'test_user\';\n'
    )
    psql = shutil.which("psql", path=hook_env["PATH"]) or str(bindir / "psql")
    run([psql, "postgres"], hook_env | {"PGUSER": "postgres"}, input=setup_sql)
    # What initdb makes without a locale, as in the sandbox: the suite must not rely on more.
    encoding = run([psql, "-AtXc", "SHOW server_encoding"], hook_env).stdout.strip()
    assert encoding == "SQL_ASCII", f"the hook's cluster is {encoding}, not the sandbox's"

    redis_socket = run_dir / "redis.sock"
    redis_server = shutil.which("redis-server")
    if redis_server is None:
        lacking("redis-server not found (apt-get install redis-server)")
    redis = subprocess.Popen(
        [
            redis_server,
            "--unixsocket",
            str(redis_socket),
            "--port",
            str(check.redis_port),
            "--save",
            "",
            "--dir",
            str(build_top),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    hooks = Hooks(hook_env | {"REDIS_SOCKET": str(redis_socket)}, redis, bindir / "pg_ctl", pgdata)
    for _ in range(300):
        if redis_socket.exists():
            break
        if redis.poll() is not None:
            hooks.stop()
            pytest.fail("redis-server exited before its socket appeared")
        subprocess.run(["sleep", "0.05"], check=False)
    return hooks


def build_system_pin() -> str:
    """setuptools as nixpkgs ships it (tests/nix/nixpkgs-versions.txt): the build backend."""
    for line in CONSTRAINTS.read_text(encoding="utf-8").splitlines():
        if line.startswith("setuptools=="):
            return line
    raise AssertionError(f"{CONSTRAINTS.name} pins no setuptools")


def install(source: Path, build_top: Path, check: CheckPhase) -> Path:
    """Build the wheel from the copy with nixpkgs' setuptools and no build isolation, as the
    pyproject hooks do, and install it without dependencies (this venv's) into $out."""
    out = build_top / "out"
    target = out / check.site_packages
    build_env = build_top / "build-env"
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", ""),
    }
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    # The backend runs once: compiling its bytecode would cost more than it saves (0.6 CPU-s).
    run(
        [*pip, "--no-compile", "--target", str(build_env), build_system_pin()],
        env,
        cwd=build_top,
        timeout=600,
    )
    # pip compiles the installed modules' bytecode, as pypaInstallHook's `python -m installer`
    # does by default (pkgs/development/interpreters/python/hooks/pypa-install-hook.sh).
    run(
        [*pip, "--no-deps", "--no-build-isolation", "--target", str(target), str(source)],
        env | {"PYTHONPATH": str(build_env)},
        cwd=build_top,
        timeout=600,
    )
    # pip --target puts the console scripts under the target; Nix puts them in $out/bin.
    (target / "bin").rename(out / "bin")
    return out


@pytest.mark.slow
def test_check_phase_replay(check_phase: CheckPhase, build_top: Path) -> None:
    if os.geteuid() == 0:
        pytest.fail(
            "run as an unprivileged user, as the Nix build user is (PostgreSQL refuses root)"
        )
    assert {"postgresql-test-hook", "redis-test-hook", "python3-pytestCheckHook"} <= set(
        check_phase.native_check_inputs
    ), "the replay assumes the derivation's check inputs; update it with them"

    source = copy_source(check_phase, build_top)
    out = install(source, build_top, check_phase)
    path = sandbox_path(
        build_top, [bare_interpreter(build_top), Path(sys.executable).parent, postgres_bindir()]
    )
    # No LANG or LC_*: the builder has none, so the hook's initdb makes a SQL_ASCII cluster
    # (a replay with LANG=C.UTF-8 hid that the suite's databases then spoke ASCII).
    env = {
        "PATH": path,
        "HOME": "/homeless-shelter",
        "NIX_BUILD_TOP": str(build_top),
        "NIX_BUILD_CORES": str(REPLAY_BUILD_CORES),
        "TMPDIR": str(build_top),
        "out": str(out),
        # Nix's python hooks set PYTHONPATH to the dependencies' site-packages; here they are
        # this venv's (never the checkout: the editable install is shadowed by $out below).
        "PYTHONPATH": sysconfig.get_paths()["purelib"],
        # No PYTHONDONTWRITEBYTECODE: nixpkgs' Python hooks do not set it, so the check writes
        # the tests' bytecode (and pytest's rewritten asserts) into the unpacked source.
        # Python's setup hook fixes the hash seed (pkgs/development/interpreters/python/
        # setup-hook.sh), so every build iterates sets in the same order.
        "PYTHONHASHSEED": "0",
    }
    hooks = start_hooks(check_phase, build_top, env)
    try:
        flags: list[str] = ["--import-mode=importlib"]
        flags += [f"--ignore-glob={p}" for p in check_phase.disabled_paths if "::" not in p]
        flags += [f"--deselect={p}" for p in check_phase.disabled_paths if "::" in p]
        if check_phase.enabled_tests or check_phase.disabled_tests:
            flags += ["-k", marks_expression(check_phase.enabled_tests, check_phase.disabled_tests)]
        if check_phase.enabled_marks or check_phase.disabled_marks:
            flags += ["-m", marks_expression(check_phase.enabled_marks, check_phase.disabled_marks)]
        flags += check_phase.pytest_flags
        if check_phase.xdist_hook:
            flags.append(f"--numprocesses={env['NIX_BUILD_CORES']}")
        # The derivation's preCheck, then the hook's `pytest FLAGS`, in the unpacked source.
        # pytestCheckHook calls the `pytest` program (not `python -m pytest`), so the unpacked
        # source is not on sys.path and `server` must come from $out; `python -P` checks the same.
        script = (
            check_phase.pre_check
            + "\npython -P -c 'import os, server, sys;"
            + ' sys.exit(not server.__file__.startswith(os.environ["out"] + "/"))\''
            + ' || { echo "server is not imported from $out" >&2; exit 97; }'
            + '\nexec pytest "$@"\n'
        )
        proc = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script, "check-phase", *flags],
            cwd=source,
            env=hooks.env,
            capture_output=True,
            text=True,
            timeout=SUITE_TIMEOUT_S,
            check=False,
        )
    finally:
        hooks.stop()
    report = (proc.stdout + proc.stderr)[-6000:]
    assert proc.returncode == 0, f"check phase failed (exit {proc.returncode}):\n{report}"
    assert " passed" in proc.stdout, report
    print("check phase:", proc.stdout.strip().splitlines()[-1])  # shown with -rP / -s

"""The linters that check this repository's Nix from outside, run here on what they would see.

- deadnix (unused let bindings, lambda arguments and pattern names) on every Nix file a flake
  copies, with its default (strictest) settings. script/bootstrap builds it from crates.io.
- The NixOS test driver's own lint: building `runNixOSTest`'s driver runs pyflakes on the
  testScript, with the node names and the driver's symbols as builtins
  (nixos/lib/testing/driver.nix, PYFLAKES_BUILTINS; the symbols are Driver.test_symbols() in
  nixos/lib/test-driver/src/test_driver/driver.py). An unused variable or an unknown name there
  fails `nix flake check` before any VM starts; here ruff's pyflakes rules (F) stand in.

- statix's manual_inherit_from, which statix.toml turns off for its false positives (it also
  flags `x = a.x or default`), checked here without them.
- nixfmt --check is in tests/repo/test_nix_format.py: no registry CI reaches ships nixfmt, so it
  skips where it is missing, and the tests here never skip in CI.

Not here: statix itself (the crate named `statix` on crates.io is an unrelated HTTP server; the
Nix linter is not published there, and building it from its git source took 2 CPU-minutes here).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
VM_TESTS = sorted((REPO_ROOT / "nix" / "tests").glob("vm-test*.nix"))

# Driver.test_symbols() of the test driver (the symbols every driver since 2023 exposes; newer
# ones add more, so a script that uses only these works with all of them).
DRIVER_SYMBOLS = (
    "start_all",
    "test_script",
    "machines",
    "vlans",
    "driver",
    "log",
    "os",
    "create_machine",
    "subtest",
    "run_tests",
    "join_all",
    "retry",
    "serial_stdout_off",
    "serial_stdout_on",
    "polling_condition",
    "Machine",
)


def deadnix_findings(deadnix: str, files: list[Path]) -> list[str]:
    """deadnix's findings as `file:line:column: message` (its JSON output: one object per file)."""
    proc = subprocess.run(
        [deadnix, "--output-format", "json", *map(str, files)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    findings = []
    for line in proc.stdout.splitlines():
        report = json.loads(line)
        for result in report["results"]:
            findings.append(
                f"{report['file']}:{result['line']}:{result['column']}: {result['message']}"
            )
    return findings


def test_deadnix_reports_unused_code(deadnix: str, tmp_path: Path) -> None:
    """The check below can fail: the default settings report a let binding and a pattern name."""
    sample = tmp_path / "sample.nix"
    sample.write_text("{ lib, unused }:\nlet\n  dead = 1;\nin\nlib.id 2\n")
    assert deadnix_findings(deadnix, [sample]) == [
        f"{sample}:1:8: Unused lambda pattern: unused",
        f"{sample}:3:3: Unused let binding: dead",
    ]


def test_deadnix_finds_nothing(deadnix: str, tracked_nix: list[Path]) -> None:
    assert tracked_nix, "no Nix files found"
    findings = deadnix_findings(deadnix, tracked_nix)
    assert not findings, "deadnix:\n" + "\n".join(findings)


# `x = a.x;` with no `or` default: what `inherit (a) x;` says (statix's manual_inherit_from).
MANUAL_INHERIT = re.compile(r"^\s*([A-Za-z_][\w'-]*)\s*=\s*[A-Za-z_][\w'-]*\.\1\s*;")


def test_manual_inherit_from_is_written_as_inherit(tracked_nix: list[Path]) -> None:
    assert MANUAL_INHERIT.match("  version = pyproject.version;")
    assert not MANUAL_INHERIT.match('  rev = self.rev or "dirty";')
    found = [
        f"{path.relative_to(REPO_ROOT)}:{number}: {line.strip()}"
        for path in tracked_nix
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if MANUAL_INHERIT.match(line)
    ]
    assert not found, "write these as `inherit (a) x;`:\n" + "\n".join(found)


# A recording pkgs: the VM tests need only these to evaluate down to their name, nodes and script.
VM_TEST_EXPR = """
test:
let
  fake = name: { type = "derivation"; inherit name; outPath = "/nix/store/x-" + name; };
  pkgs = {
    openssl = fake "openssl";
    runCommand = name: _env: _script: fake name;
    writeText = name: _text: fake name;
    testers.runNixOSTest = t: t;
  };
  t = import test { inherit pkgs; nixosModule = { }; };
in
{
  inherit (t) name testScript;
  nodes = builtins.attrNames t.nodes;
  skipLint = t.skipLint or false;
  skipTypeCheck = t.skipTypeCheck or false;
}
"""


def pythonize(name: str) -> str:
    """nixos/lib/testing/driver.nix's pythonizeName: a node name as a Python identifier."""
    head = name[:1] if name[:1].isascii() and (name[:1].isalpha() or name[:1] == "_") else "_"
    return head + "".join(c if c.isascii() and (c.isalnum() or c == "_") else "_" for c in name[1:])


@pytest.mark.parametrize("vm_test", VM_TESTS, ids=[p.name for p in VM_TESTS])
def test_vm_test_script_passes_the_drivers_lint(
    vm_test: Path, nix_eval: Callable[..., Any], tmp_path: Path
) -> None:
    test = nix_eval(f"({VM_TEST_EXPR}) {vm_test}", needs_lib=False)
    assert not test["skipLint"], f"{vm_test.name} turns the driver's lint off"
    assert not test["skipTypeCheck"], f"{vm_test.name} turns the driver's type check off"
    nodes = [pythonize(n) for n in test["nodes"]]
    # The only node is also `machine` (driver.nix: theOnlyMachine).
    builtins = sorted({*nodes, *(["machine"] if len(nodes) == 1 else []), *DRIVER_SYMBOLS})
    script = tmp_path / "test_script.py"
    script.write_text(test["testScript"], encoding="utf-8")
    proc = subprocess.run(
        [
            *(sys.executable, "-m", "ruff", "check", "--isolated", "--no-cache"),
            *("--select", "F", "--output-format", "concise"),
            *("--config", f"builtins = {json.dumps(builtins)}"),
            str(script),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, f"{vm_test.name} testScript:\n{proc.stdout}{proc.stderr}"


def test_a_lib_warning_fails_the_evaluation(nix_eval: Callable[..., Any]) -> None:
    """nix_eval sets NIX_ABORT_ON_WARN: what nixpkgs' lib deprecates (lib.warn) fails a test."""
    with pytest.raises(pytest.fail.Exception, match="NIX_ABORT_ON_WARN"):
        nix_eval('(import <nixpkgs/lib>).warn "deprecated" 1')

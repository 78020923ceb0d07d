"""The docs: generated references current, every setting documented once, links that resolve,
and a README whose commands are the ones that exist (the ones CI runs)."""

from __future__ import annotations

import importlib.util
import re
import shlex
from pathlib import Path
from types import ModuleType

import pytest

from server.config import Settings

from support.cli_runner import run_cli_in_process
from support.docs import fenced

ROOT = Path(__file__).resolve().parents[2]
NAMES = {f"APP_{name.upper()}" for name in Settings.model_fields}
# Read before Settings exists, and the placeholder the docs use for "any setting".
ALSO_ALLOWED = {"APP_SECRETS_DIR", "APP_ENV_FILE", "APP_NAME"}
DOCS = sorted([ROOT / "README.md", ROOT / "CONTRIBUTING.md", *(ROOT / "docs").glob("*.md")])


def load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("docs_generate", ROOT / "docs" / "generate.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def mentioned(text: str) -> set[str]:
    return set(re.findall(r"\bAPP_[A-Z0-9_]*[A-Z0-9]\b", text))


def test_settings_reference_is_current() -> None:
    generate = load_generator()
    text = generate.CONFIGURATION.read_text()
    assert generate.generated_block(text, "settings") == generate.settings_reference(), (
        "docs/configuration.md is stale: run python docs/generate.py"
    )


def test_settings_reference_has_a_row_per_setting() -> None:
    text = (ROOT / "docs" / "configuration.md").read_text()
    rows = re.findall(r"^\| `(APP_[A-Z0-9_]+)` \|", text, re.MULTILINE)
    assert sorted(rows) == sorted(NAMES)
    assert all("| None |" not in line for line in text.splitlines()), "a setting has no description"


def test_env_example_lists_every_setting() -> None:
    example = (ROOT / ".env.example").read_text()
    assert set(re.findall(r"^# (APP_[A-Z0-9_]+)=", example, re.MULTILINE)) == NAMES


@pytest.mark.parametrize("doc", [*DOCS, ROOT / ".env.example"], ids=lambda p: p.name)
def test_docs_name_no_unknown_setting(doc: Path) -> None:
    unknown = mentioned(doc.read_text()) - NAMES - ALSO_ALLOWED
    # Prefixes written with a trailing underscore (APP_PROXY_FIX_X_FOR/_X_PROTO) are fine.
    unknown = {name for name in unknown if not any(n.startswith(name) for n in NAMES)}
    assert unknown == set(), f"{doc.name} names settings that do not exist: {unknown}"


def slug(heading: str) -> str:
    """GitHub's anchor for a Markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", path.read_text(), flags=re.DOTALL)
    return {slug(h) for h in re.findall(r"^#{1,6} (.+)$", text, re.MULTILINE)}


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_links_resolve(doc: Path) -> None:
    text = re.sub(r"```.*?```", "", doc.read_text(), flags=re.DOTALL)
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target):
            continue
        path_part, _, fragment = target.partition("#")
        path = (doc.parent / path_part).resolve() if path_part else doc
        missing = not path.exists()
        if missing or (fragment and path.suffix == ".md" and fragment not in anchors(path)):
            broken.append(target)
    assert broken == [], f"{doc.name}: links to nothing: {broken}"


def test_every_doc_is_linked_from_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    pages = {p.relative_to(ROOT).as_posix() for p in DOCS} - {"README.md"}
    assert {page for page in pages if f"]({page})" not in readme} == set()


def test_readme_fits_on_a_few_screens() -> None:
    assert len((ROOT / "README.md").read_text().splitlines()) <= 250


def console_commands(text: str) -> list[str]:
    blocks = fenced(text, "console")
    return [line[2:].strip() for block in blocks for line in block.splitlines() if line[:2] == "$ "]


def test_readme_commands_are_the_project_scripts() -> None:
    commands = [c.split("#")[0].strip() for c in console_commands((ROOT / "README.md").read_text())]
    assert "script/server" in commands
    assert "script/test" in commands
    assert "nix run" in commands
    assert "nix flake check" in commands
    for command in commands:
        if command.startswith("script/"):
            script = ROOT / command.split()[0]
            assert script.is_file(), command
            assert script.stat().st_mode & 0o111, f"{command} is not executable"


def test_ci_runs_the_readme_test_command() -> None:
    """CI proves what the README tells newcomers to run: .ci/run runs it, then the suite again
    at nixpkgs' versions, under `set -e` (either failing fails CI)."""
    ci = (ROOT / ".ci" / "run").read_text()
    commands = [
        line.strip()
        for line in ci.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    assert "set -euo pipefail" in commands
    assert commands[-2:] == [
        '"$(dirname "$0")/../script/test"',
        '"$(dirname "$0")/../script/test" --nixpkgs-versions',
    ]
    # script/test ends with pytest itself, under `set -e`: its status is CI's, 5 (no tests) too.
    script = (ROOT / "script" / "test").read_text().splitlines()
    code = [line for line in script if line.strip() and not line.lstrip().startswith("#")]
    assert "set -euo pipefail" in code
    assert code[-1] == 'pytest "$@"'
    workflow = (ROOT / ".github" / "workflows" / "ci.yml").read_text()
    assert re.search(r"run: (bash \.ci/run|script/test)\s*$", workflow, re.MULTILINE)


# A production profile without its secrets: what help has to work with.
HELP_ENV = {"APP_ENV": "production"}


def test_documented_commands_and_options_exist() -> None:
    """Every `flask-nix-stack ...` the docs show names commands and options that exist: each
    option appears in the help of the command it follows. (Help needs no settings, nor any
    server: tests/test_cli.py.)"""
    documented = documented_commands()
    assert len(documented) > 15, documented
    helps: dict[tuple[str, ...], str] = {}

    def help_of(path: list[str]) -> str:  # exits 0, or run_cli_in_process raises
        if tuple(path) not in helps:
            helps[tuple(path)] = run_cli_in_process(*path, "--help", env=HELP_ENV).stdout
        return helps[tuple(path)]

    for command in sorted(documented):
        path: list[str] = []
        for word in shlex.split(re.sub(r"[\[\]]|\.\.\.", " ", command)):
            if word.startswith("-"):
                option = word.split("=")[0]
                shown = help_of(path)
                assert re.search(rf"(^|[\s,/]){re.escape(option)}\b", shown), (command, option)
            elif re.fullmatch(r"[a-z][a-z-]*", word) and path[-1:] != ["create"]:
                path.append(word)  # a command (a lower-case value after `create` is a name)
        help_of(path)  # the command exists


def documented_commands() -> set[str]:
    """`flask-nix-stack ...` in the docs' inline code and after `$ ` in their console blocks."""
    found: set[str] = set()
    for doc in [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *(ROOT / "docs").glob("*.md")]:
        text = doc.read_text(encoding="utf-8")
        found.update(re.findall(r"`flask-nix-stack ([^`]+)`", text))
        found.update(
            command.split("#")[0].strip().removeprefix("flask-nix-stack ")
            for command in console_commands(text)
            if command.startswith("flask-nix-stack ")
        )
    return found


def test_api_doc_has_the_generated_client_example() -> None:
    """tests/test_generated_clients.py type-checks it with the generated client, where docs/ is
    part of the source (a checkout; not the Nix build's, nix/package.nix)."""
    examples = fenced((ROOT / "docs" / "api.md").read_text(), "python")
    assert len(examples) == 1
    assert "from flask_nix_stack_client import AuthenticatedClient" in examples[0]

"""Write the generated references in docs/ from their sources, or check they are current.

- docs/configuration.md: the settings table, from ``server.config.Settings`` and its profiles.
- docs/nixos-module.md: the NixOS module's options, from their declarations in nix/module.nix
  (docs/nixos-options.nix lists them with nixpkgs' lib, as the NixOS manual does).

Each reference sits between ``<!-- BEGIN generated: NAME -->`` and ``<!-- END generated: NAME -->``;
the text around it is written by hand.

    python docs/generate.py          # rewrite the generated blocks
    python docs/generate.py --check  # exit 1 if one is stale (the tests check the same)

The Nix part needs ``nix-instantiate`` and ``NIX_PATH=nixpkgs=/path/to/nixpkgs-lib``.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from pydantic_core import PydanticUndefined

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
CONFIGURATION = DOCS / "configuration.md"
NIXOS_MODULE = DOCS / "nixos-module.md"
NIXOS_OPTIONS_EXPR = DOCS / "nixos-options.nix"
NIX_PREFIX = "services.flask-nix-stack."


def _markers(name: str) -> tuple[str, str]:
    return f"<!-- BEGIN generated: {name} -->", f"<!-- END generated: {name} -->"


def generated_block(text: str, name: str) -> str:
    """The generated part of a document, between its markers."""
    begin, end = _markers(name)
    match = re.search(re.escape(begin) + r"\n(.*?)" + re.escape(end), text, re.DOTALL)
    if match is None:
        raise ValueError(f"no '{begin}' ... '{end}' block")
    return match.group(1)


def replace_block(text: str, name: str, body: str) -> str:
    """``text`` with the generated block ``name`` replaced by ``body``."""
    begin, end = _markers(name)
    old = generated_block(text, name)
    return text.replace(f"{begin}\n{old}{end}", f"{begin}\n{body}{end}")


def _value(value: Any) -> str:
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, list):
        return ", ".join(f"`{item}`" for item in value) if value else "empty"
    return f"`{value}`"


def _default(cls: type, name: str) -> str | None:
    """The profile's default for a field as the table shows it; None when it has none."""
    field = cls.model_fields[name]  # type: ignore[attr-defined]
    if field.default_factory is not None:
        return _value(field.default_factory())
    if field.default is PydanticUndefined:
        return None
    return _value(field.default)


def settings_reference() -> str:
    """The settings table: name, development default, production default, meaning."""
    from server.config import PROFILES, Settings

    development, production = PROFILES["development"], PROFILES["production"]
    rows = [
        "| Variable | Default (development) | Production | Meaning |",
        "|---|---|---|---|",
    ]
    for name, field in Settings.model_fields.items():
        dev = _default(development, name) or "required"
        prod = _default(production, name)
        prod = "required" if prod is None else ("same" if prod == dev else prod)
        rows.append(f"| `APP_{name.upper()}` | {dev} | {prod} | {field.description} |")
    return "\n".join(rows) + "\n"


def _code(text: str) -> str:
    if "\n" in text:
        # A blank line after the fence too, before the next item (markdownlint's MD031).
        return f"\n\n  ```nix\n{_indent(text, '  ')}\n  ```\n"
    return f" `{text}`"


def _indent(text: str, prefix: str) -> str:
    return "\n".join(prefix + line if line else line for line in text.splitlines())


def nixos_options_reference(options: list[dict[str, Any]]) -> str:
    """One section per option, as the NixOS manual renders them, from docs/nixos-options.nix."""
    parts = []
    for option in sorted(options, key=lambda o: o["name"]):
        # The NixOS manual's {option}`name` role: plain code here.
        description = re.sub(r"\{option\}`([^`]*)`", r"`\1`", option["description"]).strip()
        lines = [f"### `{NIX_PREFIX}{option['name']}`", "", description, ""]
        lines.append(f"- Type: {option['type']}")
        default = option["default"]
        lines.append(f"- Default:{_code(default)}" if default is not None else "- Default: none")
        if option["example"] is not None:
            lines.append(f"- Example:{_code(option['example'])}")
        if option["readOnly"]:
            lines.append("- Read-only")
        parts.append("\n".join(lines).rstrip("\n") + "\n")
    return "\n".join(parts)


def nixos_options() -> list[dict[str, Any]]:
    """Evaluate docs/nixos-options.nix with nixpkgs' lib (from NIX_PATH)."""
    expr = f"import {NIXOS_OPTIONS_EXPR} {{ lib = import <nixpkgs/lib>; }}"
    exe = shutil.which("nix-instantiate")
    if exe is None:
        sys.exit("nix-instantiate not found: install Nix (Debian: nix-bin)")
    proc = subprocess.run(  # noqa: S603 (a fixed command line)
        [exe, "--store", "dummy://", "--eval", "--strict", "--json", "-E", expr],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        sys.exit(f"nix-instantiate failed (NIX_PATH=nixpkgs=... set?):\n{proc.stderr}")
    result: list[dict[str, Any]] = json.loads(proc.stdout)
    return result


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    for path, name, body in (
        (CONFIGURATION, "settings", settings_reference()),
        (NIXOS_MODULE, "nixos-options", nixos_options_reference(nixos_options())),
    ):
        text = path.read_text()
        new = replace_block(text, name, body)
        if new != text:
            stale.append(path.relative_to(ROOT))
            if not check:
                path.write_text(new)
    if stale:
        print(f"{'stale' if check else 'rewrote'}: {', '.join(map(str, stale))}")
    return 1 if check and stale else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

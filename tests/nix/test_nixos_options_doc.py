"""docs/nixos-module.md lists the NixOS module's options as their declarations say
(docs/nixos-options.nix evaluated with nixpkgs' lib, rendered by docs/generate.py)."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXPR = f"import {ROOT / 'docs' / 'nixos-options.nix'} {{ lib = import <nixpkgs/lib>; }}"


@pytest.fixture(scope="module")
def generate() -> ModuleType:
    spec = importlib.util.spec_from_file_location("docs_generate", ROOT / "docs" / "generate.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def options(nix_eval: Callable[..., Any]) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = nix_eval(EXPR)
    return result


def test_every_option_is_listed_with_a_description(options: list[dict[str, Any]]) -> None:
    names = {option["name"] for option in options}
    # The options a deployment needs most; the rest are checked through the rendered document.
    assert {"enable", "package", "settings", "credentials", "database.createLocally"} <= names
    assert all(option["description"].strip() for option in options)


def test_reference_is_current(generate: ModuleType, options: list[dict[str, Any]]) -> None:
    text = generate.NIXOS_MODULE.read_text()
    assert generate.generated_block(text, "nixos-options") == generate.nixos_options_reference(
        options
    ), "docs/nixos-module.md is stale: run python docs/generate.py"

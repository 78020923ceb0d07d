"""flake.lock: a real, complete pin of nixpkgs on a NixOS release branch (format version 7)."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def lock() -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads((REPO_ROOT / "flake.lock").read_text())
    return parsed


def test_format_version_and_root(lock: dict[str, Any]) -> None:
    assert lock["version"] == 7
    assert lock["root"] in lock["nodes"]


def test_nixpkgs_locked_to_a_release_commit(lock: dict[str, Any]) -> None:
    root = lock["nodes"][lock["root"]]
    node = lock["nodes"][root["inputs"]["nixpkgs"]]
    locked, original = node["locked"], node["original"]

    assert locked["type"] == "github"
    assert (locked["owner"], locked["repo"]) == ("NixOS", "nixpkgs")
    assert re.fullmatch(r"[0-9a-f]{40}", locked["rev"])
    assert isinstance(locked["lastModified"], int)
    assert locked["lastModified"] > 1_700_000_000  # after 2023-11: a plausible commit time

    # SRI form: "sha256-" and the base64 of exactly 32 bytes.
    algo, _, digest = locked["narHash"].partition("-")
    assert algo == "sha256"
    assert len(base64.b64decode(digest, validate=True)) == 32

    assert original == {
        "owner": "NixOS",
        "repo": "nixpkgs",
        "ref": original["ref"],
        "type": "github",
    }
    assert re.fullmatch(r"nixos-\d{2}\.(05|11)", original["ref"])


def test_every_node_is_locked(lock: dict[str, Any]) -> None:
    for name, node in lock["nodes"].items():
        if name == lock["root"]:
            continue
        assert {"locked", "original"} <= node.keys(), name
        assert node["locked"].get("narHash", "").startswith("sha256-"), name


def test_every_flake_input_is_in_the_lock(
    lock: dict[str, Any], nix_eval: Callable[..., Any]
) -> None:
    # flake.nix `inputs`, read by Nix itself (no nixpkgs needed for that).
    inputs = nix_eval("builtins.attrNames (import ./flake.nix).inputs", needs_lib=False)
    root_inputs = lock["nodes"][lock["root"]]["inputs"]
    assert sorted(root_inputs) == sorted(inputs)
    for name in inputs:
        assert root_inputs[name] in lock["nodes"], name


def test_branch_matches_flake_nix(lock: dict[str, Any]) -> None:
    flake = (REPO_ROOT / "flake.nix").read_text()
    ref = lock["nodes"]["nixpkgs"]["original"]["ref"]
    assert f'"github:NixOS/nixpkgs/{ref}"' in flake

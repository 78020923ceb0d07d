"""``principals`` and ``tokens`` on the command line, as an operator scripts them, and the
bootstrap admin token that `db upgrade` stores from a credential file.

The commands run in this process (support/cli_runner.py), except a fresh host's first
`db upgrade`; the servers that must see their effect are real ones.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from server.auth.tokens import generate

from support.cli_runner import run_cli_in_process
from support.processes import app_env, run_cli, running_server
from support.servers import Postgres


@pytest.fixture(scope="module")
def env(migrated_database: Callable[[str], str], redis_url: str) -> dict[str, str]:
    return app_env(migrated_database("fns_cli_access"), redis_url)


def test_scriptable_principals_and_tokens(env: dict[str, str]) -> None:
    run_cli_in_process("principals", "create", "ci-bot", "--service", env=env)
    run_cli_in_process("principals", "create", "ops", "--admin", env=env)
    listed = run_cli_in_process("principals", "list", env=env).stdout
    assert "ci-bot\tservice\t-" in listed
    assert "ops\tuser\tadmin" in listed
    created = run_cli_in_process(
        "tokens",
        "create",
        "--principal",
        "ci-bot",
        "--scope",
        "read",
        "--scope",
        "write",
        "--expires-in",
        "30d",
        "--name",
        "ci",
        env=env,
    )
    token = created.stdout.strip()
    assert created.stdout == token + "\n"  # the token alone on stdout
    assert token.startswith("fns_")
    prefix = token.split("_")[1]
    tokens = run_cli_in_process("tokens", "list", "--principal", "ci-bot", env=env).stdout
    assert f"{prefix}\tci-bot\tread,write\tactive\t" in tokens
    assert token.split("_", 2)[2] not in tokens
    refused = run_cli_in_process(
        "tokens", "create", "--principal", "ci-bot", "--scope", "admin", env=env, check=False
    )
    assert refused.returncode == 1
    assert refused.stdout == ""
    assert "admin" in refused.stderr
    unknown = run_cli_in_process(
        "tokens", "create", "--principal", "nobody", "--scope", "read", env=env, check=False
    )
    assert unknown.returncode == 1
    assert "no principal named 'nobody'" in unknown.stderr

    with running_server(env, workers=1) as server:
        headers = {"Authorization": f"Bearer {token}"}
        me = requests.get(f"{server.base}/api/v1/me", headers=headers, timeout=5)
        assert me.json()["principal"]["name"] == "ci-bot"
        run_cli_in_process("tokens", "revoke", prefix, env=env)
        assert (
            requests.get(f"{server.base}/api/v1/me", headers=headers, timeout=5).status_code == 401
        )
    assert (
        f"{prefix}\tci-bot\tread,write\trevoked"
        in run_cli_in_process("tokens", "list", env=env).stdout
    )


@pytest.mark.parametrize(
    ("args", "what"),
    [
        (("principals", "create", "tab\tname"), "NAME"),  # would break `list`'s columns
        (("principals", "create", "x" * 101), "NAME"),  # past the column
        (("principals", "create", "jos\u00e9"), "NAME"),  # \w to Python, not to JavaScript
        (("principals", "create", "ok-name", "--oidc-subject", "s" * 256), "--oidc-subject"),
        (
            ("tokens", "create", "--principal", "admin", "--scope", "read", "--name", "a\tb"),
            "--name",
        ),
        # Lookups take the same types: bytes that are not UTF-8 (argv decodes them to lone
        # surrogates) ended in a traceback from the database driver, and a 100 000-character
        # name came back whole in the error.
        (("principals", "disable", "\udcff\udcfe"), "NAME"),
        (("principals", "enable", "x" * 100_000), "NAME"),
        (("tokens", "revoke", "\udcff"), "PREFIX"),
        (("tokens", "revoke", "ABCDEFGH"), "PREFIX"),
        (("tokens", "list", "--principal", "\udcff"), "--principal"),
        (("tokens", "create", "--principal", "\udcff", "--scope", "read"), "--principal"),
    ],
)
def test_the_cli_refuses_what_the_api_refuses(
    env: dict[str, str], args: tuple[str, ...], what: str
) -> None:
    """The same types as the API's fields: a usage error (exit 2) naming the argument, and
    nothing stored."""
    before = run_cli_in_process("principals", "list", env=env).stdout
    refused = run_cli_in_process(*args, env=env, check=False)
    assert refused.returncode == 2, refused.stderr
    assert f"Invalid value for '{what}'" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert refused.stdout == ""
    assert run_cli_in_process("principals", "list", env=env).stdout == before


def test_a_lifetime_past_the_limit_is_refused_in_one_line(env: dict[str, str]) -> None:
    """999999w ran past the year 9999: an OverflowError traceback."""
    for lifetime in ("999999w", "3651d"):
        refused = run_cli_in_process(
            *("tokens", "create", "--principal", "admin", "--scope", "read"),
            *("--expires-in", lifetime),
            env=env,
            check=False,
        )
        assert refused.returncode == 1
        assert refused.stderr.strip() == "error: a token lives at most 3650 days"


def test_tokens_import_reads_stdin(env: dict[str, str]) -> None:
    run_cli_in_process("principals", "create", "importer", env=env)
    token = run_cli_in_process("tokens", "generate", env=env).stdout.strip()
    assert token.startswith("fns_")
    assert (
        token.split("_")[1] not in run_cli_in_process("tokens", "list", env=env).stdout
    )  # not stored
    # stdin as a pipe gives it: the token and a newline, then the end.
    result = run_cli_in_process(
        "tokens",
        "import",
        "--principal",
        "importer",
        "--scope",
        "read",
        env=env,
        input=token + "\n",
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert token not in result.stdout + result.stderr
    assert token.split("_")[1] in run_cli_in_process("tokens", "list", env=env).stdout


@pytest.fixture
def fresh_host(pg: Postgres, redis_url: str, tmp_path: Path) -> dict[str, str]:
    """A new database and a credentials directory, as systemd's LoadCredential= makes one."""
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    token = generate()[0]
    (credentials / "APP_BOOTSTRAP_ADMIN_TOKEN").write_text(token)
    environment = app_env(pg.create_database("fns_fresh_host"), redis_url)
    environment.pop("APP_BOOTSTRAP_ADMIN_TOKEN")
    environment["CREDENTIALS_DIRECTORY"] = str(credentials)
    return {**environment, "TOKEN": token}


def test_a_fresh_host_gets_its_first_admin_from_a_credential(fresh_host: dict[str, str]) -> None:
    token = fresh_host.pop("TOKEN")
    # The console script itself, as the NixOS unit runs it at a fresh host's first start: the
    # one test of main's path that stores the token after the migrations (a process of its own).
    first = run_cli("db", "upgrade", env=fresh_host)
    assert "bootstrap admin token stored" in first.stderr
    assert token not in first.stdout + first.stderr
    again = run_cli_in_process("db", "upgrade", env=fresh_host)  # every start: idempotent, fast
    assert again.stdout.strip() == "database already at the newest revision; nothing to upgrade"
    assert "admin\tuser\tadmin" in run_cli_in_process("principals", "list", env=fresh_host).stdout
    with running_server(fresh_host, workers=1) as server:
        headers = {"Authorization": f"Bearer {token}"}
        answer = requests.get(f"{server.base}/api/v1/admin/principals", headers=headers, timeout=5)
        assert answer.status_code == 200
        assert [p["name"] for p in answer.json()["items"]] == ["admin"]

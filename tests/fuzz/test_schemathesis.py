"""Property-based fuzzing with schemathesis against the served spec, through the production
server (granian) on real PostgreSQL and Redis: no 5xx, every answer conforms to the spec,
every error is problem+json.

Each operation gets valid (positive) and invalid (negative) generated requests, from several
fixed seeds: each seed explores other values (one seed missed a 500 that others found), and a
failure names its seed. The cases also depend on the process's string hashing (schemathesis
iterates sets of names), so a failure reproduces only under the same PYTHONHASHSEED: script/test
sets 0, as nixpkgs' Python setup hook does, and a failure says which one it ran with.
FNS_FUZZ_SEEDS=1,2,...,20 widens the search locally without changing CI's bounded run.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
from hypothesis import HealthCheck, Phase, assume, given, seed, settings

from server.web.openapi import build_openapi

from support.apps import build_app
from support.cli_runner import run_cli_in_process
from support.processes import app_env, authed, running_server
from support.settings import TestingSettings
from support.tools import missing_tool

try:
    import schemathesis  # pyright: ignore[reportMissingImports] (not in nix develop)
    from schemathesis import GenerationMode, checks  # pyright: ignore[reportMissingImports]
    from schemathesis.core.result import Ok  # pyright: ignore[reportMissingImports]
except ModuleNotFoundError:
    # nixpkgs 26.05 has no schemathesis (NixOS/nixpkgs#522967 was a draft at the branch-off),
    # so neither the Nix build nor `nix develop` has it; pip installs it (the dev extra).
    missing_tool(
        "schemathesis is not installed (nixpkgs 26.05 has none): pip install 'schemathesis>=4.19'",
        module=True,
    )

if TYPE_CHECKING:
    from schemathesis import APIOperation  # pyright: ignore[reportMissingImports]

SEEDS = [int(s) for s in os.environ.get("FNS_FUZZ_SEEDS", "1,2,3").split(",")]
# What this process started with (nothing changes it after): see the module's docstring.
HASH_SEED = os.environ.get("PYTHONHASHSEED") or "random (unset)"
EXAMPLES = 12  # per operation, mode and seed: about 2100 cases in all with three seeds
MIN_CASES = 250 * len(SEEDS)
# The document as the app builds it; a test below checks the server serves exactly this.
DOCUMENT = build_openapi(build_app(TestingSettings(_env_file=None)))  # type: ignore[call-arg]
# An invalid request may also be refused for its size, before the app sees it: a request line
# or headers over the server's limits (414, 431), both documented on every operation. Not 412:
# an If-Match outside the document's pattern is no condition at all (400), not a failed one.
REJECTED = ["400", "401", "403", "404", "405", "406", "409", "414", "415", "422", "428", "429"]
REJECTED += ["431", "5xx"]  # schemathesis' default list, plus 414 and 431
# A valid request may still be refused for the state it meets: a conditional write whose If-Match
# names no current version is a 412 (RFC 9110), as a missing resource is a 404.
ACCEPTED = ["2xx", "3xx", "401", "403", "404", "409", "412", "429", "5xx"]
CONFIG = schemathesis.Config.from_dict(
    {
        "checks": {
            "negative_data_rejection": {"expected-statuses": REJECTED},
            "positive_data_acceptance": {"expected-statuses": ACCEPTED},
        }
    }
)
# Every pytest-xdist worker collects this module, and only one runs it: collection reads the
# runs from the document alone, and schemathesis loads the document in the worker that fuzzes
# (test_runs_are_schemathesis_operations checks that both agree).
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
MODES = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
# An operation without parameters, body or security (the health probes) has nothing to make
# invalid.
RUNS = [
    (label, mode)
    for label, invalidable in sorted(
        (
            f"{method.upper()} {path}",
            bool(
                item.get("parameters")
                or operation.get("parameters")
                or operation.get("requestBody")
                # its security scheme's header, which schemathesis counts as a parameter
                or operation.get("security", DOCUMENT.get("security"))
            ),
        )
        for path, item in DOCUMENT["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    )
    for mode in MODES
    if mode is GenerationMode.POSITIVE or invalidable
]


@functools.cache
def operations() -> dict[str, APIOperation[Any, Any, Any, Any]]:
    """schemathesis' operations of the document, by label."""
    schema = schemathesis.openapi.from_dict(DOCUMENT, config=CONFIG)
    found = {}
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result.err()  # an operation schemathesis cannot load
        found[result.ok().label] = result.ok()
    return found


cases_run: list[str] = []
SESSION = requests.Session()


@pytest.fixture(scope="module")
def base_url(migrated_database: Callable[[str], str], redis_url: str) -> Iterator[str]:
    env = app_env(migrated_database("fns_fuzz"), redis_url, APP_KEY_PREFIX="fuzz")
    # Demo data, so that some generated ids exist, and its principal's token: the fuzzer acts
    # as that ordinary (not admin) principal.
    token = run_cli_in_process("seed", env=env).stdout.strip().splitlines()[-1]
    # One worker: the fuzzer sends one request at a time, and what it checks is the same in
    # every worker.
    with running_server(env, workers=1) as server:
        SESSION.headers["Authorization"] = f"Bearer {token}"
        yield server.base
    SESSION.close()


@contextlib.contextmanager
def untraced() -> Iterator[None]:
    """No coverage tracing in this thread for the block.

    The app runs in the server's process, which coverage measures; here the cases are only
    generated and their answers checked, in schemathesis and hypothesis (no server code), where
    tracing every call cost about a third of the module's CPU and measured nothing. pytest-cov's
    no_cover is not enough: on a pytest-xdist worker, stopping pytest-cov's tracer hands over
    to the one coverage's subprocess patch started. Only one tracer runs at a time, so pausing
    the thread's trace function pauses them all.
    """
    tracer = sys.gettrace()
    sys.settrace(None)
    try:
        yield
    finally:
        sys.settrace(tracer)


def lost_in_transit(case: Any) -> bool:
    """Whether a generated query parameter or header is not in the request requests sends.

    requests leaves out a parameter whose value is None or a list of nothing else
    (`{"limit": 27, "x": []}` goes out as `?limit=27`), and a header whose value is None. The
    server then answers another request than the one generated, and a negative case may have
    lost the very part that made it invalid: schemathesis 4.19 counted such a 200 as invalid
    data accepted."""
    kwargs = case.as_transport_kwargs(base_url="http://fuzz.invalid")
    params = kwargs.get("params") or {}
    sent = requests.Request("GET", kwargs["url"], params=params).prepare().url or ""
    sent_names = {name for name, _ in parse_qsl(urlsplit(sent).query, keep_blank_values=True)}
    headers = kwargs.get("headers") or {}
    return not set(params) <= sent_names or any(value is None for value in headers.values())


def errors_are_problem_json(response: Any) -> None:
    """Every 4xx and 5xx answer is application/problem+json with the RFC 9457 members."""
    if response.status_code < 400:
        return
    content_type = response.headers.get("content-type", [""])[0]  # lower-case keys, list values
    assert content_type.startswith("application/problem+json"), (response.status_code, content_type)
    body = response.json()
    assert {"type", "title", "status", "detail"} <= set(body), body
    assert body["status"] == response.status_code, body


@functools.cache
def fuzz_checks() -> list[Callable[..., Any]]:
    """The checks every case meets. After the document is loaded: schemathesis up to 4.19
    (nixpkgs') defines its OpenAPI checks only once an OpenAPI schema is."""
    operations()
    return [
        checks.not_a_server_error,
        checks.status_code_conformance,
        checks.content_type_conformance,
        checks.response_headers_conformance,
        checks.response_schema_conformance,
        checks.negative_data_rejection,
        checks.positive_data_acceptance,
    ]


def test_served_document_is_the_built_one(base_url: str) -> None:
    assert authed.get(f"{base_url}/openapi.json", timeout=10).json() == DOCUMENT


@pytest.mark.slow
@pytest.mark.parametrize("fuzz_seed", SEEDS, ids=[f"seed{s}" for s in SEEDS])
@pytest.mark.parametrize(
    ("label", "mode"), RUNS, ids=[f"{label}-{mode.value}" for label, mode in RUNS]
)
def test_operation(label: str, mode: GenerationMode, fuzz_seed: int, base_url: str) -> None:
    session = SESSION

    @seed(fuzz_seed)
    @given(case=operations()[label].as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),  # pyright: ignore[reportArgumentType]
        database=None,
    )
    def run(case: Any) -> None:
        assume(not lost_in_transit(case))
        cases_run.append(label)
        response = case.call_and_validate(base_url=base_url, session=session, checks=fuzz_checks())
        errors_are_problem_json(response)

    with untraced():
        try:
            run()
        except Exception as failure:
            failure.add_note(f"fuzzed with seed {fuzz_seed} and PYTHONHASHSEED={HASH_SEED}")
            raise


def test_runs_are_schemathesis_operations() -> None:
    """The runs read from the document are schemathesis' operations, each with the modes it
    can generate."""
    schemathesis_runs = [
        (label, mode)
        for label, operation in sorted(operations().items())
        for mode in MODES
        if mode is GenerationMode.POSITIVE
        or any(True for _ in operation.iter_parameters())
        or operation.body
    ]
    assert schemathesis_runs == RUNS


def test_enough_cases_ran() -> None:
    if not cases_run:
        pytest.skip("the fuzzing tests above did not run (deselected)")
    print(f"\nschemathesis: {len(cases_run)} cases over {len(set(cases_run))} operations")
    assert len(cases_run) >= MIN_CASES


def test_lost_in_transit_sees_what_requests_leaves_out() -> None:
    operation = operations()["GET /api/v1/projects"]
    for query in ({"limit": 27, "x": []}, {"x": [None]}, {"limit": None}):
        assert lost_in_transit(operation.Case(query=query)), query
    # schemathesis sends an empty mapping as an empty value (`x=`)
    kept: dict[str, object]
    unchanged: list[dict[str, object]] = [
        {"limit": 27, "x": [""]},
        {"x": ""},
        {"x": {}},
        {"": "1"},
        {},
    ]
    for kept in unchanged:
        assert not lost_in_transit(operation.Case(query=kept)), kept

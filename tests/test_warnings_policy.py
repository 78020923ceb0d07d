"""The suite's warning filters (pyproject.toml): a deprecation this project's code triggers
fails the run; one a library triggers is shown and does not, since the two sets of versions
the suite runs on (PyPI's newest, nixpkgs') emit different ones."""

from __future__ import annotations

import warnings

import pytest


def warn_from(module: str, category: type[Warning]) -> None:
    """Warn as code in ``module`` would: warnings are attributed to the caller's module name."""
    code = compile("warnings.warn('old API', category, stacklevel=1)", f"<{module}>", "exec")
    exec(code, {"__name__": module, "warnings": warnings, "category": category})


@pytest.mark.parametrize("module", ["server.app", "server", "support.processes", "test_cli"])
@pytest.mark.parametrize("category", [DeprecationWarning, PendingDeprecationWarning])
def test_our_deprecations_fail(module: str, category: type[Warning]) -> None:
    with pytest.raises(category):
        warn_from(module, category)


@pytest.mark.parametrize("module", ["opentelemetry.instrumentation.flask", "sqlalchemy.orm"])
def test_a_library_deprecation_is_shown_not_failed(module: str) -> None:
    # record=True keeps the filters in force (pytest.warns would reset them to "always").
    with warnings.catch_warnings(record=True) as seen:
        warn_from(module, DeprecationWarning)
    assert [w.category for w in seen] == [DeprecationWarning]


@pytest.mark.parametrize("category", [UserWarning, RuntimeWarning, ResourceWarning])
def test_other_warnings_fail_wherever_they_come_from(category: type[Warning]) -> None:
    with pytest.raises(category):
        warn_from("somelibrary", category)

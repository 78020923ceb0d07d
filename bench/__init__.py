"""Benchmarks: run from the repository root as modules (``python -m bench.hot_path``).

They share the tests' helpers, imported as ``support`` as the tests import them (pytest's
``pythonpath = ["tests"]``); one name for one module keeps both under the same type check.
"""

import sys
from pathlib import Path


def first_line(doc: str | None) -> str:
    """The first line of a script's docstring: its --help description."""
    return (doc or "").partition("\n")[0]


_TESTS = str(Path(__file__).resolve().parent.parent / "tests")
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)

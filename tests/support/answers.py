"""redis-py's answers, typed for the tests.

Up to redis-py 7 (nixpkgs 26.05 has 7.4) the sync client declares each command's answer
``Awaitable[Any] | Any``: one set of annotations serves it and the asyncio client. redis-py 8
declares the sync client's own types. ``answered`` takes either to the answer itself.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


def answered(value: Awaitable[T] | T) -> T:
    assert not isinstance(value, Awaitable), "an asyncio client's answer"
    return value

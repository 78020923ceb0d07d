"""The docs' fenced code blocks, as the tests read them."""

from __future__ import annotations

import re


def fenced(text: str, language: str) -> list[str]:
    """The bodies of ``text``'s fenced code blocks marked ``language`` (```python, ...)."""
    return re.findall(rf"```{re.escape(language)}\n(.*?)```", text, re.DOTALL)

"""The health endpoints' answers, for the OpenAPI document."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel


class Live(BaseModel):
    status: Literal["ok"]


class Ready(BaseModel):
    status: Literal["ok"]
    checks: dict[str, Literal["ok", "unavailable"]]

"""The health endpoints' answers, for the OpenAPI document."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from server.schemas.common import examples


class Live(BaseModel):
    model_config = examples({"status": "ok"})

    status: Literal["ok"]


class Ready(BaseModel):
    model_config = examples({"status": "ok", "checks": {"database": "ok", "redis": "ok"}})

    status: Literal["ok"]
    checks: dict[str, Literal["ok", "unavailable"]]

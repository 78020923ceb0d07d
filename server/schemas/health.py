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
    # "migrating": the database answers, but its schema is not at this code's newest migration.
    checks: dict[str, Literal["ok", "unavailable", "migrating"]]

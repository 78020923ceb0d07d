"""The health endpoints' answers, for the OpenAPI document."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel
from typing_extensions import TypeAliasType

from server.schemas.common import examples

# "migrating": the database answers, but its schema is not at this code's newest migration.
CheckState = TypeAliasType("CheckState", Literal["ok", "unavailable", "migrating"])


class Live(BaseModel):
    model_config = examples({"status": "ok"})

    status: Literal["ok"]


class Ready(BaseModel):
    model_config = examples({"status": "ok", "checks": {"database": "ok", "redis": "ok"}})

    status: Literal["ok"]
    checks: dict[str, CheckState]

"""URL converter for resource ids: PostgreSQL int4 values from 1 to 2**31-1, and nothing else."""

from __future__ import annotations

from werkzeug.routing import BaseConverter

from server.schemas.common import MAX_INT4

# 1 to 2147483647 as a pattern, so an out-of-range id never matches. A converter that raised
# ValidationError instead would make werkzeug answer 405 (not 404) when one URL has several
# methods on separate rules.
INT4_ID = (
    r"(?:[1-9]\d{0,8}|1\d{9}|20\d{8}|21[0-3]\d{7}|214[0-6]\d{6}|2147[0-3]\d{5}|21474[0-7]\d{4}"
    r"|214748[0-2]\d{3}|2147483[0-5]\d{2}|21474836[0-3]\d|214748364[0-7])"
)


class IdConverter(BaseConverter):
    regex = INT4_ID
    part_isolating = True
    minimum, maximum = 1, MAX_INT4

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: int) -> str:
        return str(value)

"""Scale-out fixtures: server instances behind nginx on PgBouncer (tests/support/cluster.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from support.cluster import Cluster, cluster, missing_tools
from support.servers import Postgres


@pytest.fixture(scope="module")
def scale_cluster(pg: Postgres, redis_url: str) -> Iterator[Cluster]:
    """Three instances, limits high enough never to be reached by the bounded loads."""
    if missing := missing_tools():
        pytest.skip(f"not installed: {', '.join(missing)} (apt-get install nginx pgbouncer)")
    with cluster(pg, redis_url, instances=3) as running:
        yield running

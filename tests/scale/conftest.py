"""Scale-out fixtures: server instances behind nginx on PgBouncer (tests/support/cluster.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from support.cluster import ONE_WORKER, Cluster, cluster, missing_tools
from support.servers import Postgres


@pytest.fixture(scope="module", params=["granian", "gunicorn"])
def scale_cluster(
    request: pytest.FixtureRequest, pg: Postgres, redis_url: str
) -> Iterator[Cluster]:
    """Three instances of each server, limits high enough never to be reached by the loads."""
    if missing := missing_tools():
        pytest.skip(f"not installed: {', '.join(missing)} (apt-get install nginx pgbouncer)")
    with cluster(
        pg, redis_url, instances=3, APP_SERVER=request.param, APP_WORKERS=ONE_WORKER
    ) as running:
        yield running


@pytest.fixture(autouse=True)
def _fresh_balancer(request: pytest.FixtureRequest) -> None:
    """Each test starts with every instance running (an earlier test may have killed one) and
    nginx's failure marks from earlier tests forgotten (a reload)."""
    if "scale_cluster" in request.fixturenames:
        running: Cluster = request.getfixturevalue("scale_cluster")
        running.revive()
        running.nginx.reload()

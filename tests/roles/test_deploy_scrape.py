"""tragen_deploy's scrape module (library/tragen_deploy_scrape.py): every server's /metrics at
once, the analysed families kept, an unreachable server named, not failed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.http_stub import StubServer
from tests.roles.role_files import load_role_file

SCRAPE = load_role_file("tragen_deploy/library/tragen_deploy_scrape.py")
METRICS = """\
# TYPE tragen_http_requests_total counter
tragen_http_requests_total{method="GET",route="/api/v1/portfolio",status="200"} 3.0
tragen_api_latency_seconds_bucket{le="0.01",route="/api/v1/portfolio"} 3.0
tragen_api_latency_seconds_sum{route="/api/v1/portfolio"} 0.01
tragen_trade_execution_seconds_bucket{le="0.1"} 2.0
tragen_agents_running 5.0
"""


@pytest.fixture
def server() -> Iterator[str]:
    stub = StubServer("127.0.97.21", 0, lambda: METRICS)
    try:
        yield f"{stub.url}/metrics"
    finally:
        stub.close()


def test_scrape_keeps_the_analysed_families_and_names_the_unreachable(server: str) -> None:
    # Nothing listens on 127.0.97.22:1: refused at once.
    metrics, errors = SCRAPE.scrape({"app1": server, "app2": "http://127.0.97.22:1/metrics"},
                                    timeout=2)
    kept = METRICS.splitlines()
    assert metrics == {"app1": "\n".join([*kept[1:3], kept[4]])}
    assert list(errors) == ["app2"] and "127.0.97.22:1" in errors["app2"]


def test_the_scrape_keeps_what_the_analysis_reads() -> None:
    from tragen_runtime.deploy.analysis import FAMILIES

    assert SCRAPE.FAMILIES == FAMILIES

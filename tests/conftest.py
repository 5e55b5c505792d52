"""How the suite shares the machine when pytest-xdist spreads it over the cores
(scripts/test.sh runs it with `-n 2 --dist loadgroup`)."""

from __future__ import annotations

import pytest


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that start real services or sandbox containers run one after the other on one
    worker: they share the package cache and their timing margins (lease TTLs, readiness
    waits) were set for a machine they do not share with another such test. The other worker
    takes the unit tests meanwhile."""
    for item in items:
        if item.get_closest_marker("sandbox") or item.get_closest_marker("integration"):
            item.add_marker(pytest.mark.xdist_group("services"))

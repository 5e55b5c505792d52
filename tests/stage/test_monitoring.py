"""Monitoring of the live `medium` stage: every target of Prometheus is up, the database's loss
pages the critical channels and not the phone (the time from the stop to delivery printed), and
the fleet page renders with live values.

    .venv/bin/pytest tests/stage/test_monitoring.py -s
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import pytest

from tests.sandbox.sandbox import Sandbox, run
from tests.stage.monitoring import CHANNELS, clear, prometheus, reached, received
from tests.stage.stage import addresses, container, groups, http_get, wait_for

pytestmark = pytest.mark.sandbox

def test_every_target_is_up(medium: Sandbox) -> None:
    def targets() -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = prometheus(medium, "/api/v1/targets")["data"][
            "activeTargets"]
        return found if found and all(t["health"] == "up" for t in found) else []

    up = wait_for(targets, timeout=60, interval=3)
    down = [t["scrapeUrl"] for t in prometheus(medium, "/api/v1/targets")["data"]
            ["activeTargets"] if t["health"] != "up"]
    assert up, f"targets down: {down}"
    jobs = sorted({t["labels"]["job"] for t in up})
    assert jobs == ["alertmanager", "nginx", "node", "notifier", "postgres", "prometheus",
                    "redis", "tragen_app"]
    assert len([t for t in up if t["labels"]["job"] == "node"]) == 9


def test_a_stopped_primary_pages_the_critical_channels(medium: Sandbox,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    primary = groups(medium)["db_primary"][0]
    clear(medium)
    stopped_at = time.time()
    stop = run(["podman", "exec", container(medium, primary), "systemctl", "stop",
                "postgresql@15-main"])
    assert stop.returncode == 0, stop.stderr
    try:
        # within a minute as a rule; up to a window (300 s) more when the stage's other alerts
        # (its KPIs, its cost) already took a channel's max_alerts_per_window and the notifier
        # folds this one into the next window's summary
        delivered = wait_for(lambda: all(reached(received(medium, c), "PostgresPrimaryDown")
                                         for c in ("email", "sms", "slack")),
                             timeout=360, interval=1)
        notes = {c: reached(received(medium, c), "PostgresPrimaryDown") for c in CHANNELS}
    finally:
        start = run(["podman", "exec", container(medium, primary), "systemctl", "start",
                     "postgresql@15-main"])
    assert start.returncode == 0, start.stderr
    assert delivered, f"not delivered: {notes}"
    assert notes["phone"] == []  # critical: email, sms and slack only
    first = min(datetime.fromisoformat(n["received_at"]).timestamp()
                for c in ("email", "sms", "slack") for n in notes[c])
    # the goal: scrape interval 5 s + for 10 s + group wait 10 s + 10 s
    with capsys.disabled():
        print(f"\n  PostgresPrimaryDown: stop to delivery {first - stopped_at:.1f} s "
              "(goal <= 35 s = scrape 5 + for 10 + group wait 10 + 10)")
    assert notes["sms"][0]["severity"] == "critical"
    assert primary in notes["sms"][0]["text"] or notes["sms"][0]["kind"] == "summary"
    ready = wait_for(lambda: all(http_get(addresses(medium)[h], "/readyz")[0] == 200
                                 for h in groups(medium)["app_servers"]), timeout=90, interval=2)
    assert ready, "the app servers are not ready again after the primary came back"


def test_the_fleet_page_renders_live_values(medium: Sandbox) -> None:
    page = prometheus(medium, "/consoles/tragen-fleet.html")
    assert "Tragen fleet" in page
    for host in groups(medium)["app_servers"]:
        assert f"<td>{host}</td>" in page
    for breaker in ("total_loss", "api_failure_rate"):
        assert f"<td>{breaker}</td>" in page
    assert "trades_per_second" in page and "Cost against budget" in page

"""Monitoring of the live `medium` stage: every target of Prometheus is up; the database's loss
pages the critical channels and not the phone (the time from the stop to delivery printed), and
its return is delivered as resolved; a burst of 30 alerts in one window reaches a channel as at
most `max_alerts_per_window` notifications, the rest in a summary; the fleet page renders with
live values in headless Chromium (its screenshot kept in artefacts/stage/).

    .venv/bin/pytest tests/stage/test_monitoring.py -s
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.sandbox.sandbox import REPO, Sandbox, run
from tests.stage.monitoring import (
    CHANNELS,
    PROMETHEUS,
    clear,
    credentials,
    monitor,
    per_window,
    post_alerts,
    prometheus,
    reached,
    received,
    told,
)
from tests.stage.stage import addresses, container, groups, http_get, wait_for

pytestmark = pytest.mark.sandbox

CRITICAL = ("email", "sms", "slack")
WINDOW, MAX_PER_WINDOW = 300, 10  # inventories/medium: monitoring.alerting.alert_aggregation
ARTEFACTS = REPO / "artefacts" / "stage"

def test_every_target_is_up(medium: Sandbox) -> None:
    def targets() -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = prometheus(medium, "/api/v1/targets")["data"][
            "activeTargets"]
        return found if found and all(t["health"] == "up" for t in found) else []

    # a scrape that times out once shows its target down until the next one, 5 s later
    up = wait_for(targets, timeout=120, interval=3)
    down = [t["scrapeUrl"] for t in prometheus(medium, "/api/v1/targets")["data"]
            ["activeTargets"] if t["health"] != "up"]
    assert up, f"targets down: {down}"
    jobs = sorted({t["labels"]["job"] for t in up})
    assert jobs == ["alertmanager", "nginx", "nginx_log", "node", "notifier", "postgres",
                    "prometheus", "redis", "tragen_app"]
    assert len([t for t in up if t["labels"]["job"] == "node"]) == 9


@dataclass(frozen=True)
class Outage:
    primary: str
    stopped_at: float
    notes: dict[str, list[dict[str, Any]]]
    """What each channel received of PostgresPrimaryDown firing."""


@pytest.fixture(scope="module")
def outage(medium: Sandbox) -> Outage:
    """PostgreSQL's primary stopped until its alert reached the critical channels, then started
    again; the resolved notification is awaited by a later test, while the others run."""
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
        wait_for(lambda: all(reached(received(medium, c), "PostgresPrimaryDown")
                             for c in CRITICAL), timeout=360, interval=1)
        notes = {c: reached(received(medium, c), "PostgresPrimaryDown") for c in CHANNELS}
    finally:
        start = run(["podman", "exec", container(medium, primary), "systemctl", "start",
                     "postgresql@15-main"])
    assert start.returncode == 0, start.stderr
    return Outage(primary, stopped_at, notes)


def test_a_stopped_primary_pages_the_critical_channels(medium: Sandbox, outage: Outage,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    notes = outage.notes
    assert all(notes[c] for c in CRITICAL), f"not delivered: {notes}"
    assert notes["phone"] == []  # critical: email, sms and slack only
    first = min(datetime.fromisoformat(n["received_at"]).timestamp()
                for c in CRITICAL for n in notes[c])
    # the goal: scrape interval 5 s + for 10 s + group wait 10 s + 10 s
    with capsys.disabled():
        print(f"\n  PostgresPrimaryDown: stop to delivery {first - outage.stopped_at:.1f} s "
              "(goal <= 35 s = scrape 5 + for 10 + group wait 10 + 10)")
    assert notes["sms"][0]["severity"] == "critical"
    assert outage.primary in notes["sms"][0]["text"] or notes["sms"][0]["kind"] == "summary"
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


def _chromium(*args: str) -> subprocess.CompletedProcess[str]:
    """Debian's Chromium, headless, with a profile of its own and none of its calls home (the
    machine's network is closed; they would only fail)."""
    browser = shutil.which("chromium")
    assert browser, "chromium is not installed: ./scripts/test.sh installs it"
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run(  # noqa: S603
            [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--ignore-certificate-errors", f"--user-data-dir={profile}",
             *args], capture_output=True, text=True, timeout=120, check=False)


def test_the_fleet_page_renders_in_a_browser(medium: Sandbox,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    user, password = credentials(medium)
    url = f"https://{user}:{password}@{monitor(medium)}:{PROMETHEUS}/consoles/tragen-fleet.html"
    dom = _chromium("--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    for host in groups(medium)["app_servers"]:
        assert f"<td>{host}</td>" in dom.stdout, dom.stdout[:2000]
    assert "Cost against budget" in dom.stdout
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTEFACTS / "fleet-page.png"
    shot.unlink(missing_ok=True)
    taken = _chromium("--window-size=1400,2000", "--hide-scrollbars", f"--screenshot={shot}", url)
    assert taken.returncode == 0 and shot.stat().st_size > 10_000, taken.stderr[-2000:]
    with capsys.disabled():
        print(f"\n  fleet page: {shot.relative_to(REPO)} ({shot.stat().st_size} bytes)")


def test_a_burst_of_alerts_is_capped_per_window(medium: Sandbox,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """30 warnings in one window: the email channel gets at most max_alerts_per_window
    notifications in any window, and every alert beyond them is reported by a summary."""
    # the burst must fall inside one window: start it with a minute of the window left at least
    while time.time() % WINDOW > WINDOW - 60:
        time.sleep(1)
    names = [f"TragenBurst{i:02d}" for i in range(30)]
    now = datetime.now(UTC)
    alerts = [{"labels": {"alertname": name, "severity": "warning", "instance": "burst"},
               "annotations": {"summary": "one of 30 alerts sent in one window by the stage test"},
               "startsAt": now.isoformat(), "endsAt": (now + timedelta(minutes=15)).isoformat()}
              for name in names]
    post_alerts(medium, alerts)
    try:
        told_all = wait_for(lambda: all(reached(received(medium, "email"), n) for n in names),
                            timeout=WINDOW + 90, interval=2)
        email = received(medium, "email")
    finally:
        # expire them, as Prometheus does when an alert stops firing
        ended = datetime.now(UTC).isoformat()
        post_alerts(medium, [{**a, "endsAt": ended} for a in alerts])
    missing = [n for n in names if not reached(email, n)]
    assert told_all, f"never told: {missing}"
    counts = per_window(email, WINDOW)
    assert max(counts.values()) <= MAX_PER_WINDOW, counts
    delivered = [n for n in names if any(note["kind"] == "alert" for note in reached(email, n))]
    summaries = [note for note in email if note["kind"] == "summary" and any(
        f["alertname"] in names for f in note["folded_alerts"])]
    folded = {f["alertname"] for note in summaries for f in note["folded_alerts"]} & set(names)
    # Each alert is told once at least, delivered or in a summary; Alertmanager may send one
    # again (a retried delivery), so a name can be in both.
    assert set(delivered) | folded == set(names), (delivered, folded)
    assert len(delivered) <= MAX_PER_WINDOW and summaries
    assert not any(reached(received(medium, c), names[0]) for c in ("sms", "slack", "phone"))
    with capsys.disabled():
        print(f"\n  30 alerts in one window: {len(delivered)} delivered, {len(folded)} folded into "
              f"{len(summaries)} summary; email per window: {sorted(counts.values())}")


def test_the_primary_back_is_delivered_as_resolved(medium: Sandbox, outage: Outage,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    # Alertmanager sends a group's resolution at its next group interval (the window, 300 s,
    # after the firing notification), and the notifier may fold it into the next window's
    # summary: up to two windows after the stop
    resolved = wait_for(lambda: all(told(received(medium, c), "PostgresPrimaryDown", "resolved")
                                    for c in CRITICAL),
                        timeout=max(0, outage.stopped_at + 2 * WINDOW + 60 - time.time()),
                        interval=2)
    notes = {c: told(received(medium, c), "PostgresPrimaryDown", "resolved") for c in CHANNELS}
    assert resolved, f"resolved not delivered: {notes}"
    assert notes["phone"] == []
    first = min(datetime.fromisoformat(n["received_at"]).timestamp()
                for c in CRITICAL for n in notes[c])
    with capsys.disabled():
        print(f"\n  PostgresPrimaryDown resolved: delivered {first - outage.stopped_at:.0f} s "
              f"after the stop (a group interval of {WINDOW} s after the firing one)")

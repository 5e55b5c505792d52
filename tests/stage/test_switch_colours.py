"""Blue-green on the live `medium` stage, under load, with every agent's owner watched.

After the first blue-green run a stage takes releases from blue_green.yml only (rolling
updates are refused), so these cases come after every other stage test: pytest runs the files of
tests/stage in name order, and this name sorts last.

    .venv/bin/pytest tests/stage/test_switch_colours.py -s
"""

from __future__ import annotations

import contextlib
import threading
import time
import urllib.error
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from tests.sandbox.sandbox import Sandbox
from tests.stage.load import assert_no_failed_request, load
from tests.stage.monitoring import prometheus
from tests.stage.stage import address, app_servers, get_json, lb_url, output, wait_for

pytestmark = pytest.mark.sandbox

PORTS = {"8000": "blue", "8001": "green"}  # the single unit listens on blue's port
LEASE_TTL = 15.0  # runtime.leases.ttl_seconds, the runtime's default on medium


def colour_of(worker: str | None) -> str | None:
    """A worker id is host@address:port/pid-nonce; the port names its colour."""
    if not worker:
        return None
    return PORTS.get(worker.split("/", 1)[0].rsplit(":", 1)[-1], "?")


@dataclass
class OwnerWatch:
    """Samples every agent's lease owner through the balancer while a switch runs: how long
    each went without an owner, and every colour that owned it."""

    url: str
    interval: float = 0.5
    colours: dict[str, set[str]] = field(default_factory=dict)
    longest_orphan: dict[str, float] = field(default_factory=dict)
    samples: int = 0
    _orphan_since: dict[str, float] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)

    def sample(self) -> dict[str, str | None]:
        owners = {a["agent_id"]: colour_of(a["worker"])
                  for a in get_json(f"{self.url}/api/v1/agents")["agents"]}
        now = time.monotonic()
        for agent, colour in owners.items():
            if colour is None:
                since = self._orphan_since.setdefault(agent, now)
                self.longest_orphan[agent] = max(self.longest_orphan.get(agent, 0.0), now - since)
            else:
                self._orphan_since.pop(agent, None)
                self.colours.setdefault(agent, set()).add(colour)
        self.samples += 1
        return owners

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            with contextlib.suppress(OSError, urllib.error.URLError, ValueError):
                self.sample()

    @contextlib.contextmanager
    def running(self) -> Iterator[OwnerWatch]:
        thread = threading.Thread(target=self._run, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            thread.join()

    def summary(self) -> str:
        worst = max(self.longest_orphan.values(), default=0.0)
        return (f"{self.samples} samples of {len(self.colours)} agents' owners; the longest "
                f"any agent went without one: {worst:.1f} s")


def all_owned_by(sandbox: Sandbox, colour: str) -> bool:
    owners = OwnerWatch(lb_url(sandbox)).sample()
    return bool(owners) and set(owners.values()) == {colour}


def colour_release(sandbox: Sandbox, host: str, colour: str) -> str:
    port = {v: k for k, v in PORTS.items()}[colour]
    return str(get_json(f"http://{address(sandbox, host)}:{port}/version")["release_id"])


def scraped_on(sandbox: Sandbox, colour: str) -> bool:
    """Prometheus scrapes the runtime of every app server on `colour`'s port, and it is up."""
    port = {v: k for k, v in PORTS.items()}[colour]
    targets = [t for t in prometheus(sandbox, "/api/v1/targets?state=active")["data"]
               ["activeTargets"] if t["labels"]["job"] == "tragen_app"]
    return sorted(t["labels"]["host"] for t in targets) == sorted(app_servers(sandbox)) and all(
        f":{port}/" in t["scrapeUrl"] and t["labels"].get("colour") == colour
        and t["health"] == "up" for t in targets)


def switch(sandbox: Sandbox, case: str, capsys: pytest.CaptureFixture[str], to: str,
           *args: str) -> None:
    """One blue_green.yml run under load, every agent's owner watched; then every agent is
    owned by `to`, none went without an owner longer than a lease TTL, no request failed, and
    Prometheus scrapes `to`."""
    watch = OwnerWatch(lb_url(sandbox))
    with load(sandbox, case, capsys) as tally, watch.running():
        # A 10 s watch (30 s by default): the watch's failure path is molecule/tragen_deploy's.
        result = sandbox.playbook("playbooks/blue_green.yml",
                                  "-e", "tragen_deploy_blue_green_watch_seconds=10", *args)
        assert result.returncode == 0, output(result)[-6000:]
        assert wait_for(lambda: all_owned_by(sandbox, to), timeout=3 * LEASE_TTL), \
            OwnerWatch(lb_url(sandbox)).sample()
    with capsys.disabled():
        print(f"[{case}] {watch.summary()}")
    assert_no_failed_request(tally)
    assert wait_for(lambda: scraped_on(sandbox, to), timeout=60), \
        prometheus(sandbox, "/api/v1/targets?state=active")
    assert watch.samples > 0
    assert max(watch.longest_orphan.values(), default=0.0) <= LEASE_TTL, watch.longest_orphan


def test_blue_green_from_the_single_unit_then_a_switch_back(
        medium: Sandbox, capsys: pytest.CaptureFixture[str]) -> None:
    single = {host: colour_release(medium, host, "blue") for host in app_servers(medium)}
    switch(medium, "blue-green, first run: bg1 into green", capsys, "green",
           "-e", "tragen_app_release_id=bg1")
    for host in app_servers(medium):
        assert colour_release(medium, host, "green") == "bg1"
        assert colour_release(medium, host, "blue") == single[host]  # idle, for a switch back
        ready = get_json(f"http://{address(medium, host)}:8000/readyz")["checks"]["colour"]
        assert ready == {"this": "blue", "live": "green", "takes_leases": False}
    assert {get_json(f"{lb_url(medium)}/version")["release_id"] for _ in range(8)} == {"bg1"}

    refused = medium.playbook("playbooks/rolling_update.yml", "-e", "tragen_app_release_id=v9")
    assert refused.returncode != 0
    assert "runs blue-green" in " ".join(output(refused).split())

    switch(medium, "blue-green: switch back by hand", capsys, "blue",
           "-e", "tragen_switch_back=true")
    assert {get_json(f"{lb_url(medium)}/version")["release_id"] for _ in range(8)} \
        == set(single.values())

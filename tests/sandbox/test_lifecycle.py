"""The sandbox brings up real systemd hosts for a stage, the base tier applies idempotently, a
bad configuration is refused before any host changes, and teardown leaves nothing behind.
The full deploy of a stage is tested by molecule/tragen_app (single's configuration) and by
molecule/medium (every tier, with tests/stage as its verify)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.sandbox.sandbox import Sandbox, recap, run

pytestmark = pytest.mark.sandbox


@pytest.fixture(scope="module")
def single() -> Iterator[Sandbox]:
    sandbox = Sandbox(stage="single", name="pytest-single", octet=41)
    sandbox.down()
    up = sandbox.up()
    assert up.returncode == 0, up.stdout + up.stderr
    try:
        yield sandbox
    finally:
        sandbox.down()


def test_the_base_tier_applies_and_a_rerun_changes_nothing(single: Sandbox) -> None:
    assert single.containers() == ["tragen-pytest-single-app1"]
    first = single.playbook("playbooks/site.yml", "--tags", "base")
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-2000:]
    second = single.playbook("playbooks/site.yml", "--tags", "base")
    assert second.returncode == 0, second.stdout[-4000:]
    counters = recap(second.stdout)
    assert counters["app1"]["changed"] == 0, second.stdout[-4000:]

    ping = single.ansible("all", "-m", "ansible.builtin.ping")
    assert ping.returncode == 0, ping.stdout


def test_a_broken_configuration_is_refused_before_any_host_changes(single: Sandbox) -> None:
    before = single.ansible("app1", "-m", "ansible.builtin.stat", "-a", "path=/etc/hosts")
    broken = {"tragen_config": {"production": {"max_agent": 5, "concurrent_analyses": -2}}}
    result = single.playbook("playbooks/site.yml", "-e", json.dumps(broken))
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "inventories/single/group_vars/all/tragen.yml" in output
    assert "$.production.max_agent" in output and "max_agents" in output
    assert "$.production.concurrent_analyses" in output
    assert "app1" not in recap(result.stdout)
    after = single.ansible("app1", "-m", "ansible.builtin.stat", "-a", "path=/etc/hosts")
    assert before.stdout == after.stdout


# The largest stage; medium's hosts come and go in molecule/medium (create, destroy).
@pytest.mark.parametrize(("stage", "octet", "hosts"), [("enterprise", 43, 18)])
def test_a_fleet_stage_comes_up_reachable_and_goes_away_completely(
    stage: str, octet: int, hosts: int
) -> None:
    sandbox = Sandbox(stage=stage, name=f"pytest-{stage}", octet=octet)
    try:
        up = sandbox.up()
        assert up.returncode == 0, up.stdout[-4000:]
        assert len(sandbox.containers()) == hosts
        ping = sandbox.ansible("all", "-m", "ansible.builtin.ping", "-f", "25")
        assert ping.returncode == 0, ping.stdout[-4000:]
        assert ping.stdout.count("SUCCESS") == hosts
        rerun = sandbox.up()
        assert recap(rerun.stdout)["localhost"]["changed"] == 0, rerun.stdout[-3000:]
    finally:
        down = sandbox.down()
    assert down.returncode == 0, down.stdout[-3000:]
    assert sandbox.containers() == []
    leftovers = run(["pgrep", "-f", f"tragen-{sandbox.name}-"])
    assert leftovers.stdout == ""
    networks = run(["podman", "network", "ls", "--format", "{{.Name}}"]).stdout.split()
    assert set(networks) <= {"podman"}

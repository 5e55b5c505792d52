"""Rollouts on the live `medium` stage while a load generator counts every request.

The tests run in file order and build on each other (the stage goes from v1, the release
site.yml deployed under an id derived from its code and configuration, to v2, refuses v3, loses
a host on the way to v4, rolls back to v2 and v1, gets two configuration deploys, refuses an
invalid configuration, and, with total_loss tripped by a market crash, takes a changed
configuration from site.yml in batches). During each operation tools/loadgen.py sends about 30
requests a second (reads and writes) through the load balancer; every non-2xx answer and every
connection error counts as failed. The counts of each case are printed.

    .venv/bin/pytest tests/stage/test_rollouts.py -s
    TRAGEN_STAGE_SANDBOX=<name> TRAGEN_STAGE_OCTET=<n> ...   # against a medium sandbox already up
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.sandbox.sandbox import REPO, Sandbox, run
from tests.stage.load import RATE, assert_no_failed_request, load
from tests.stage.monitoring import CHANNELS, clear, reached, received
from tests.stage.stage import (
    APP_PORT,
    address,
    app_servers,
    container,
    get_json,
    lb_url,
    output,
    wait_for,
)

pytestmark = pytest.mark.sandbox

# The bad release of the second case: its database is unreachable, so /readyz never turns 200;
# verify gives up after 8 tries.
NEVER_READY = ["-e", "tragen_app_migrate=false", "-e", "tragen_app_database_port=1",
               "-e", "tragen_app_ready_retries=8"]


# The metric gate between batches, with measurements short enough for a test: 3 of 10 s each.
ANALYSED = ["-e", "tragen_deploy_analysis=true", "-e", "tragen_deploy_analysis_interval=10"]
# ... and held to the KPIs medium's system_kpis set, at their critical values.
KPIS = ["-e", '{"tragen_deploy_analysis_kpis": '
              '["api_response_ms", "error_rate_percentage", "trade_execution_ms"]}']


# --- reading the stage -----------------------------------------------------------------------

def version(sandbox: Sandbox, host: str) -> dict[str, Any]:
    return get_json(f"http://{address(sandbox, host)}:{APP_PORT}/version")


def releases(sandbox: Sandbox) -> dict[str, str]:
    return {host: str(version(sandbox, host)["release_id"]) for host in app_servers(sandbox)}


def host_state(sandbox: Sandbox, host: str) -> dict[str, str]:
    """The release links, the release directories and the service's start time of one host."""
    script = (
        "readlink /opt/tragen/current; readlink /opt/tragen/previous || true; "
        "ls -1 /opt/tragen/releases | tr '\\n' ' '; echo; "
        "systemctl show -p ActiveEnterTimestampMonotonic --value tragen"
    )
    result = run(["podman", "exec", container(sandbox, host), "sh", "-c", script])
    assert result.returncode == 0, result.stderr
    current, previous, listing, started = (result.stdout.splitlines() + ["", "", "", ""])[:4]
    return {"current": Path(current).name, "previous": Path(previous).name,
            "releases": listing.strip(), "started": started.strip()}


def stage_state(sandbox: Sandbox) -> dict[str, dict[str, str]]:
    return {host: host_state(sandbox, host) for host in app_servers(sandbox)}


def in_container(sandbox: Sandbox, host: str, *command: str) -> str:
    result = run(["podman", "exec", container(sandbox, host), *command])
    assert result.returncode == 0, result.stderr
    return result.stdout


def first_batch(sandbox: Sandbox) -> list[str]:
    # The medium stage rolls in batches of tragen_deploy_batch_size (2) in inventory order.
    return app_servers(sandbox)[:2]


def tragen_config(sandbox: Sandbox) -> dict[str, Any]:
    path = REPO / "inventories" / sandbox.stage / "group_vars" / "all" / "tragen.yml"
    config: dict[str, Any] = yaml.safe_load(path.read_text())["tragen_config"]
    return config


def config_file(tmp_path: Path, config: dict[str, Any]) -> str:
    path = tmp_path / "tragen_config.yml"
    path.write_text(yaml.safe_dump({"tragen_config": config}, sort_keys=False))
    return f"@{path}"


# --- waiting ---------------------------------------------------------------------------------

def wait_ready(sandbox: Sandbox, host: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    url = f"http://{address(sandbox, host)}:{APP_PORT}/readyz"
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310
                if response.status == 200:
                    return
        except (OSError, urllib.error.URLError):
            pass
        assert time.monotonic() < deadline, f"{host} did not become ready within {timeout} s"
        time.sleep(1)


# --- the cases, in order ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def v1(medium: Sandbox) -> str:
    """The release site.yml deployed: one id, derived from the code and the configuration."""
    live = set(releases(medium).values())
    assert len(live) == 1, live
    first = live.pop()
    assert re.fullmatch(r"r[0-9a-f]{10}-[0-9a-f]{8}", first), first
    return first


def test_rolling_update_v1_to_v2(
    medium: Sandbox, v1: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A good release as a canary at 25 % of the traffic, then with the metric gate between
    batches and medium's KPIs: it passes every analysis and reaches every server."""
    assert set(releases(medium).values()) == {v1}
    with load(medium, "rolling update v1 -> v2, canary 25 %, analysed", capsys) as tally:
        result = medium.playbook("playbooks/rolling_update.yml", "-e", "tragen_app_release_id=v2",
                                 *ANALYSED, *KPIS,
                                 "-e", '{"tragen_deploy_canary_steps": [25]}')
    assert result.returncode == 0, output(result)[-6000:]
    assert releases(medium) == {host: "v2" for host in app_servers(medium)}
    assert all(state["current"] == "v2" for state in stage_state(medium).values())
    assert "batch 2:" in result.stdout
    verdicts = re.findall(r"^analysis \d+: .*$", result.stdout, re.M)
    with capsys.disabled():
        print("\n" + "\n".join(verdicts))
    # Ansible's YAML output folds long messages: compare with the whitespace collapsed.
    plan = " ".join(result.stdout.split())
    assert "The first batch is a canary: 25 % of the traffic, each step analysed." in plan
    assert ("Each analysis also holds the batch to its KPIs: api_response_ms < 200, "
            "error_rate_percentage < 1, trade_execution_ms < 500.") in plan
    # The canary step and two batches, three measurements each, each with data, all gates met.
    assert len(verdicts) == 9 and all(": successful (" in v for v in verdicts), verdicts
    assert_no_failed_request(tally)


def test_release_never_ready_goes_back_in_the_first_batch(
    medium: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    before = stage_state(medium)
    with load(medium, "release v3 never ready", capsys) as tally:
        result = medium.playbook(
            "playbooks/rolling_update.yml", "-e", "tragen_app_release_id=v3", *NEVER_READY
        )
    text = output(result)
    assert result.returncode != 0, text[-6000:]
    assert "stopped in batch 1" in text, text[-6000:]
    after = stage_state(medium)
    assert releases(medium) == {host: "v2" for host in app_servers(medium)}
    for host in first_batch(medium):
        assert after[host]["current"] == "v2"
        # The failed release must not become what a later rollback goes back to.
        assert after[host]["previous"] == before[host]["previous"]
    for host in set(app_servers(medium)) - set(first_batch(medium)):
        # Staged beside the live release, nothing else: same link, same running service.
        assert after[host]["current"] == before[host]["current"]
        assert after[host]["started"] == before[host]["started"], host
    assert_no_failed_request(tally)


def test_a_release_failing_five_percent_of_api_calls_is_stopped_in_its_first_batch(
    medium: Sandbox, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Ready, and bad: the release's own configuration fails 5 % of API answers. As a canary
    at 10 % of the traffic (60 requests a second: 60 canary requests a measurement) its first
    step's analysis fails, the batch goes back to v2 and the rollout stops."""
    config = tragen_config(medium)
    config.setdefault("runtime", {}).setdefault("faults", {})["api_error_rate"] = 0.05
    before = stage_state(medium)
    with load(medium, "rolling update to v3-faulty, canary 10 % then 50 %", capsys,
              rate=2 * RATE) as tally:
        result = medium.playbook("playbooks/rolling_update.yml",
                                 "-e", "tragen_app_release_id=v3-faulty",
                                 "-e", config_file(tmp_path, config), *ANALYSED,
                                 "-e", '{"tragen_deploy_canary_steps": [10, 50]}')
    text = output(result)
    assert result.returncode != 0, text[-6000:]
    assert "stopped in batch 1" in text, text[-6000:]
    assert "canary step (percent): 10" in text, text[-6000:]
    assert "canary step (percent): 50" not in text, "the canary went past its first step"
    measured = re.search(r"analysis failed after (\d+) measurement\(s\)", text)
    assert measured, text[-6000:]
    with capsys.disabled():
        print("\n" + "\n".join(re.findall(r"^analysis \d+: .*$", result.stdout, re.M)))
    assert re.search(r"success rate 9\d\.\d\d % below 99\.00 %", text), text[-6000:]
    after = stage_state(medium)
    assert releases(medium) == {host: "v2" for host in app_servers(medium)}
    for host in set(app_servers(medium)) - set(first_batch(medium)):
        assert after[host]["started"] == before[host]["started"], f"{host} was touched"
    # What failed is the canary's injected 500s, nothing else: the batch left traffic before it
    # went back (a restart in traffic cuts requests: 502).
    assert 0 < tally.failed == tally.statuses["500"] < tally.total * 0.05, tally.summary()
    with load(medium, "after the stopped canary: all traffic on v2", capsys) as back:
        time.sleep(10)
    assert_no_failed_request(back)


def test_host_killed_during_the_rollout_stops_it(
    medium: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    victim = "app3"
    killed = threading.Event()
    stop = threading.Event()

    def kill_after_first_switch() -> None:
        while not stop.is_set():
            with contextlib.suppress(OSError, ValueError, KeyError):
                if version(medium, "app1")["release_id"] == "v4":
                    run(["podman", "kill", container(medium, victim)])
                    killed.set()
                    return
            stop.wait(0.3)

    watcher = threading.Thread(target=kill_after_first_switch, daemon=True)
    watcher.start()
    try:
        with load(medium, f"rolling update to v4, {victim} killed", capsys):
            result = medium.playbook(
                "playbooks/rolling_update.yml", "-e", "tragen_app_release_id=v4"
            )
    finally:
        stop.set()
        watcher.join(10)
    text = output(result)
    assert killed.is_set(), "app1 never ran v4: " + text[-4000:]
    assert result.returncode != 0, text[-6000:]
    # The summary names the lost host among the stopped batch's failures.
    assert re.search(rf"stopped in batch \d+ \([^)]*\b{victim}\b", text), text[-6000:]

    started = run(["podman", "start", container(medium, victim)])
    assert started.returncode == 0, started.stderr
    def booted() -> bool:
        state = run(["podman", "exec", container(medium, victim),
                     "systemctl", "is-system-running", "--wait"])
        # right after the start systemd's bus may not be up: "Failed to connect to bus"
        return state.stdout.strip() in {"running", "degraded"}

    assert wait_for(booted, timeout=60, interval=1), "the restarted host's systemd is not up"
    wait_ready(medium, victim)

    with load(medium, "rerun of the rolling update to v4", capsys) as tally:
        rerun = medium.playbook("playbooks/rolling_update.yml", "-e", "tragen_app_release_id=v4")
    assert rerun.returncode == 0, output(rerun)[-6000:]
    assert releases(medium) == {host: "v4" for host in app_servers(medium)}
    assert_no_failed_request(tally)


def test_rollback_to_previous_then_to_a_named_release(
    medium: Sandbox, v1: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with load(medium, "rollback v4 -> previous (v2)", capsys) as tally:
        result = medium.playbook("playbooks/rollback.yml")
    assert result.returncode == 0, output(result)[-6000:]
    assert releases(medium) == {host: "v2" for host in app_servers(medium)}
    assert_no_failed_request(tally)

    with load(medium, "rollback v2 -> named v1", capsys) as tally:
        result = medium.playbook("playbooks/rollback.yml", "-e", f"tragen_rollback_to={v1}")
    assert result.returncode == 0, output(result)[-6000:]
    assert releases(medium) == {host: v1 for host in app_servers(medium)}
    assert_no_failed_request(tally)

    before = stage_state(medium)
    refused = medium.playbook("playbooks/rollback.yml", "-e", "tragen_rollback_to=nope")
    assert refused.returncode != 0
    assert "Nothing to go back to" in output(refused), output(refused)[-4000:]
    assert stage_state(medium) == before


def test_deploy_config_changes_the_configuration_not_the_code(
    medium: Sandbox, v1: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    before = {host: version(medium, host) for host in app_servers(medium)}
    config = tragen_config(medium)
    old = config["production"]["concurrent_analyses"]
    config["production"]["concurrent_analyses"] = old // 2
    kept = 3
    with load(medium, "deploy_config production.concurrent_analyses", capsys) as tally:
        result = medium.playbook("playbooks/deploy_config.yml", "-e", config_file(tmp_path, config),
                                 "-e", f"tragen_app_keep_releases={kept}")
    assert result.returncode == 0, output(result)[-6000:]
    # v1, v2, v3, v4 and the configuration release were on every host; the finished deploy keeps
    # the newest three, and the live and previous releases (v1, the oldest) whatever their age.
    for host, state in stage_state(medium).items():
        left = state["releases"].split()
        assert state["current"] in left and state["previous"] == v1 and v1 in left, state
        assert len(left) <= kept + 1, f"{host} keeps {left}"
    for host in app_servers(medium):
        now = version(medium, host)
        assert now["release_id"].startswith(f"{v1}-cfg-"), now
        assert now["package_version"] == before[host]["package_version"]
        assert now["config_digest"] != before[host]["config_digest"]
        live = yaml.safe_load(in_container(medium, host, "cat", "/opt/tragen/current/config.yaml"))
        assert live["production"]["concurrent_analyses"] == old // 2
        backups = in_container(
            medium, host, "sh", "-c", "cat /var/lib/tragen/config-backups/*.yaml"
        )
        assert yaml.safe_load(backups)["production"]["concurrent_analyses"] == old
    assert len({version(medium, host)["release_id"] for host in app_servers(medium)}) == 1
    assert_no_failed_request(tally)


def test_deploy_config_that_fails_verification_is_restored(
    medium: Sandbox, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    before = releases(medium)
    config = tragen_config(medium)
    config["production"]["concurrent_analyses"] = 8
    with load(medium, "deploy_config that never gets ready", capsys) as tally:
        result = medium.playbook(
            "playbooks/deploy_config.yml", "-e", config_file(tmp_path, config), *NEVER_READY[2:]
        )
    text = output(result)
    assert result.returncode != 0, text[-6000:]
    assert "stopped in batch 1" in text, text[-6000:]
    assert releases(medium) == before
    for host in app_servers(medium):
        live = yaml.safe_load(in_container(medium, host, "cat", "/opt/tragen/current/config.yaml"))
        assert live["production"]["concurrent_analyses"] != 8
    assert_no_failed_request(tally)


def test_invalid_configuration_is_refused_before_any_host_changes(
    medium: Sandbox, tmp_path: Path
) -> None:
    before = stage_state(medium)
    config = tragen_config(medium)
    config["production"]["max_agents"] = -5
    config["load_balancing"]["strategy"] = "random_pick"
    result = medium.playbook(
        "playbooks/deploy.yml", "-e", "tragen_app_release_id=v9",
        "-e", config_file(tmp_path, config),
    )
    text = output(result)
    assert result.returncode != 0
    assert "is not deployable; no host was touched" in text, text[-4000:]
    assert "max_agents" in text and "strategy" in text, text[-4000:]
    assert stage_state(medium) == before


# --- safety on the live stage ----------------------------------------------------------------

def admin(sandbox: Sandbox, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """An admin call through the balancer, over TLS (its plain listener refuses them)."""
    import ssl

    token = (REPO / ".sandbox" / sandbox.name / "secrets" / "tragen_admin_token").read_text()
    request = urllib.request.Request(
        f"https://{address(sandbox, 'lb1')}{path}", data=json.dumps(body).encode(),
        method="POST", headers={"Content-Type": "application/json",
                                "Authorization": f"Bearer {token.strip()}",
                                "X-Tragen-Operator": "stage-test"})
    context = ssl._create_unverified_context()  # the sandbox's self-signed certificate
    try:
        with urllib.request.urlopen(request, timeout=10, context=context) as response:  # noqa: S310
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def risk(sandbox: Sandbox) -> dict[str, Any]:
    return get_json(f"{lb_url(sandbox)}/api/v1/risk")


def total_loss(sandbox: Sandbox) -> dict[str, Any]:
    return next(b for b in risk(sandbox)["breakers"] if b["name"] == "total_loss")


def worker_views(sandbox: Sandbox, host: str, tries: int = 16) -> dict[str, dict[str, Any]]:
    """The safety view of each worker of `host` that answered (the kernel picks the worker)."""
    views: dict[str, dict[str, Any]] = {}
    for _ in range(tries):
        body = get_json(f"http://{address(sandbox, host)}:{APP_PORT}/readyz")
        views[body["worker"]] = body["checks"]["safety"]
    return views


def halted_holding(sandbox: Sandbox, share: float, attempts: int = 3) -> dict[str, Any]:
    """The risk view of a fleet halted (an operator's halt-all) while its positions are worth
    at least half of `share` of its capital, halted once they were worth `share`. Scalping
    agents close within a round, so what the fleet held when the halt was sent may be gone when
    the workers read it (CI, 2026-12-07: 1 % of the capital before the halt, nothing 12 s
    after): then it resumes and tries again."""
    for _ in range(attempts):
        deadline = time.monotonic() + 120
        while (state := risk(sandbox))["exposure_at_cost"] < share * state["capital"]:
            assert time.monotonic() < deadline, f"the fleet holds almost nothing: {state}"
            time.sleep(2)
        status, body = admin(sandbox, "/api/v1/admin/halt-all", {"reason": "crash drill"})
        assert status == 200, body
        time.sleep(12)  # two rounds: no worker trades any more, the positions stay as they are
        state = risk(sandbox)
        if state["exposure_at_cost"] >= share / 2 * state["capital"]:
            return state
        print(f"the fleet closed its positions before the halt reached it: {state['pnl']=} "
              f"{state['exposure_at_cost']=}; resumed, trying again")
        assert admin(sandbox, "/api/v1/admin/resume-all", {})[0] == 200
    raise AssertionError(f"no halt caught the fleet holding {share:.0%} of its capital: {state}")


def blocked_everywhere(sandbox: Sandbox, breaker: str) -> bool:
    return all(breaker in view["blocking"]
               for host in app_servers(sandbox)
               for view in worker_views(sandbox, host).values())


def test_total_loss_trips_on_every_server_holds_through_site_yml_in_batches_until_reset(
    medium: Sandbox, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A configuration deploy puts the market in the crash scenario; the positions the fleet
    holds (frozen by a halt-all, so the crash meets them all) take the fleet's loss past a
    total_loss threshold set between the loss before and the loss the crash must cause."""
    url = f"{lb_url(medium)}/api/v1/admin/halt-all"
    refused = urllib.request.Request(url, data=b"{}", method="POST")
    with pytest.raises(urllib.error.HTTPError) as plain:
        urllib.request.urlopen(refused, timeout=5)  # noqa: S310
    assert plain.value.code == 403  # admin calls never cross the plain listener
    clear(medium)
    state = halted_holding(medium, share=0.01)
    capital, exposure = state["capital"], state["exposure_at_cost"]
    loss_before = -state["pnl"] / capital
    crash_loss = 0.30 * exposure / capital  # the crash takes 30 % off every price
    threshold = round(max(0.0005, loss_before + crash_loss / 2), 6)
    config = tragen_config(medium)
    starts_at = int(time.time()) + 200  # after the deploy: every server prices the same
    config.setdefault("runtime", {})["market"] = {"scenario": "crash",
                                                  "scenario_starts_at": starts_at}
    config["circuit_breakers"]["portfolio_breakers"]["total_loss"].update(
        {"threshold": threshold, "cooldown": 30, "auto_reset": False})
    # The emergency procedures out of the crash's reach (no agent loses 35 % in a 30 % crash):
    # with the stage's agent_shutdown_threshold of 3 % the agents hit hardest sell during the
    # fall, the fleet's loss stops short of the full crash, and the threshold set at half of it
    # was missed by exactly that (CI, 2026-12-02).
    config["portfolio_risk"]["emergency_procedures"].update(
        {"agent_shutdown_threshold": 0.35, "position_reduction_threshold": 0.4,
         "auto_halt_threshold": 0.5})
    with load(medium, "config deploy: crash scenario, total_loss trips", capsys) as tally:
        result = medium.playbook("playbooks/deploy_config.yml", "-e",
                                 config_file(tmp_path, config))
        assert result.returncode == 0, output(result)[-6000:]
        assert time.time() < starts_at, "the deploy outlasted the scenario's start"
        assert not total_loss(medium)["tripped"]
        tripped = None
        while tripped is None:
            assert time.time() < starts_at + 60, f"total_loss never tripped: {risk(medium)}"
            found = total_loss(medium)
            tripped = found if found["tripped"] else None
            time.sleep(0.5)
        # every worker of all four app servers within two rounds (5 s each)
        time.sleep(max(0.0, tripped["tripped_at"] + 10 - time.time()))
        assert blocked_everywhere(medium, "total_loss")
        # an emergency: every channel, the phone included (or in the next window's summary
        # when the stage's other alerts took a channel's max_alerts_per_window)
        paged = wait_for(lambda: all(reached(received(medium, c), "BreakerTripped")
                                     for c in CHANNELS), timeout=360, interval=1)
        assert paged, {c: [n["title"] for n in received(medium, c)] for c in CHANNELS}
    assert_no_failed_request(tally)
    assert starts_at <= tripped["tripped_at"] and tripped["value"] > threshold
    # The rollout the trip must hold through is site.yml's with a changed configuration: a new
    # release id, taken in the rolling update's batches, never every app server at once.
    before = releases(medium)
    config["production"]["concurrent_analyses"] -= 1
    with load(medium, "site.yml with a changed configuration while total_loss is tripped",
              capsys) as tally:
        result = medium.playbook("playbooks/site.yml", "-e", config_file(tmp_path, config))
    text = output(result)
    assert result.returncode == 0, text[-6000:]
    # The YAML callback folds long messages: words are compared with the line breaks taken out.
    words = " ".join(text.split())
    assert "through the rolling update" in words and "batch 2:" in text, text[-6000:]
    after = set(releases(medium).values())
    assert len(after) == 1 and after.isdisjoint(before.values()), (before, after)
    assert re.fullmatch(r"r[0-9a-f]{10}-[0-9a-f]{8}", after.pop())
    assert_no_failed_request(tally)
    assert total_loss(medium)["tripped"] and blocked_everywhere(medium, "total_loss")
    with load(medium, "admin reset of total_loss, resume-all", capsys) as tally:
        deadline = time.monotonic() + 60
        while (reset := admin(medium, "/api/v1/circuit-breakers/total_loss/reset", {}))[0] \
                == 409:  # the cooldown is 30 s from the trip
            assert time.monotonic() < deadline, reset
            time.sleep(2)
        assert reset[0] == 200 and reset[1]["tripped"] is False, reset
        time.sleep(12)  # still under the halt-all: nothing trades, the loss cannot grow
        assert not total_loss(medium)["tripped"]
        assert all("total_loss" not in view["blocking"] and view["halted"]
                   for host in app_servers(medium)
                   for view in worker_views(medium, host).values())
        assert admin(medium, "/api/v1/admin/resume-all", {})[0] == 200
        time.sleep(12)
        assert not any(view["halted"] for host in app_servers(medium)
                       for view in worker_views(medium, host).values())
    assert_no_failed_request(tally)

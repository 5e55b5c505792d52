"""The role's plan and summary task files run by Ansible, on local-connection hosts: the filters
are wired to the facts the playbooks hand on (serial, batches, the lock)."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import yaml

from tests.http_stub import StubServer

REPO = Path(__file__).resolve().parents[2]

GOOD_BATCH = {"number": 1, "operation": "rolling update", "target": "v2",
              "hosts": ["app1", "app2"], "seconds": 9.5, "restart_to_ready": 4.1,
              "result": "ok", "failures": {}, "back": {}}


def run(tmp_path: Path, app_servers: int, plays: list[dict[str, object]],
        *extra: str, host_vars: dict[str, dict[str, str]] | None = None, balancers: int = 0,
        monitors: dict[str, dict[str, object]] | None = None,
        controller_vars: dict[str, str] | None = None,
        ) -> subprocess.CompletedProcess[str]:
    hosts = {f"app{n}": {"ansible_connection": "local",
                         "ansible_python_interpreter": os.environ.get("PYTHON", "python3"),
                         **(host_vars or {}).get(f"app{n}", {})}
             for n in range(1, app_servers + 1)}
    lb = {f"lb{n}": {"ansible_connection": "local"} for n in range(1, balancers + 1)}
    inventory = {"all": {"children": {"app_servers": {"hosts": hosts}, "lb": {"hosts": lb},
                                      "monitoring": {"hosts": monitors or {}}},
                         "hosts": {"localhost": {"ansible_connection": "local",
                                                 **(controller_vars or {})}}}}
    (tmp_path / "hosts.yml").write_text(yaml.safe_dump(inventory))
    (tmp_path / "play.yml").write_text(yaml.safe_dump(plays, sort_keys=False))
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
           "ANSIBLE_ROLES_PATH": str(REPO / "roles"),
           "ANSIBLE_FILTER_PLUGINS": str(REPO / "filter_plugins"),
           "ANSIBLE_CACHE_PLUGIN": "memory", "ANSIBLE_FORCE_COLOR": "0"}
    return subprocess.run(
        ["ansible-playbook", "-i", str(tmp_path / "hosts.yml"), str(tmp_path / "play.yml"),
         *extra],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
    )


def role_tasks(tasks_from: str) -> dict[str, object]:
    return {"name": f"tragen_deploy {tasks_from}", "ansible.builtin.include_role":
            {"name": "tragen_deploy", "tasks_from": tasks_from}}


def plan_play() -> list[dict[str, object]]:
    return [
        {"name": "Plan", "hosts": "app_servers", "gather_facts": False,
         "tasks": [role_tasks("plan.yml")]},
        {"name": "Report", "hosts": "localhost", "gather_facts": False, "tasks": [
            {"name": "Serial", "ansible.builtin.debug": {
                "msg": "SERIAL={{ hostvars['localhost']['tragen_deploy_serial'] }}"}}]},
    ]


def test_the_plan_hands_its_batch_size_to_the_rollout_play(tmp_path: Path) -> None:
    result = run(tmp_path, 8, plan_play(), "-e", "tragen_deploy_batch_size=25%")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "8 app servers in batches of 2 (4 batches), at least 2 in service" in result.stdout
    assert "SERIAL=2" in result.stdout


def test_a_refused_plan_fails_with_its_reason(tmp_path: Path) -> None:
    result = run(tmp_path, 3, plan_play(), "-e", "tragen_deploy_batch_size=2")
    assert result.returncode != 0
    assert "A batch of 2 of 3 app servers would leave 1 in service" in result.stdout


def test_the_plan_names_the_canary_and_refuses_nonsense_steps(tmp_path: Path) -> None:
    result = run(tmp_path, 4, plan_play(), "-e", '{"tragen_deploy_canary_steps": [10, 25]}',
                 balancers=1)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "The first batch is a canary: 10 %, 25 % of the traffic, each step analysed." \
        in " ".join(result.stdout.split())
    refused = run(tmp_path, 4, plan_play(), "-e", '{"tragen_deploy_canary_steps": [25, 10]}',
                  balancers=1)
    assert refused.returncode != 0
    assert "tragen_deploy_canary_steps [25, 10] must grow: 10 follows 25." in refused.stdout


def summary_play(tmp_path: Path, batches: list[dict[str, object]],
                 finished: list[str]) -> list[dict[str, object]]:
    lock = tmp_path / "deploy.lock"
    lock.mkdir()
    facts = {"tragen_deploy_batches": batches, "tragen_deploy_finished_hosts": finished,
             "tragen_deploy_stopped": any(b["result"] != "ok" for b in batches)}
    return [{"name": "Summary", "hosts": "localhost", "gather_facts": False,
             "vars": {"tragen_deploy_operation": "rolling update",
                      "tragen_deploy_target_release": "v2",
                      "tragen_deploy_lock_dir": str(lock)},
             "tasks": [{"name": "Facts of the rollout",
                        "ansible.builtin.set_fact": json.loads(json.dumps(facts))},
                       role_tasks("summary.yml")]}]


def test_a_finished_rollout_prints_its_batches_and_releases_the_lock(tmp_path: Path) -> None:
    result = run(tmp_path, 2, summary_play(tmp_path, [GOOD_BATCH], ["app1", "app2"]))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "batch 1: app1, app2 - 9.5 s (restart to ready 4.1 s) - ok" in result.stdout
    assert not (tmp_path / "deploy.lock").exists()


def test_a_rolled_back_batch_fails_the_run_after_releasing_the_lock(tmp_path: Path) -> None:
    failed = {**GOOD_BATCH, "number": 2, "result": "rolled back",
              "failures": {"app2": "never ready"}, "back": {"app2": "back on v1"}}
    result = run(tmp_path, 4, summary_play(tmp_path, [GOOD_BATCH, failed], ["app1"]))
    assert result.returncode != 0
    assert "The rolling update stopped in batch 2 (app2): app2: never ready." in result.stdout
    assert "Not on v2: app2, app3, app4." in result.stdout
    assert not (tmp_path / "deploy.lock").exists()


def guarded_play(tmp_path: Path, steps: list[dict[str, str]]) -> list[dict[str, object]]:
    lock = tmp_path / "deploy.lock"
    return [{"name": "Preflight", "hosts": "app_servers", "gather_facts": False,
             "any_errors_fatal": True,
             "vars": {"tragen_deploy_lock_dir": str(lock),
                      "tragen_deploy_operation": "rolling update"},
             "tasks": [role_tasks("lock.yml"),
                       {"name": "Guarded steps", "ansible.builtin.include_role": {
                           "name": "tragen_deploy", "tasks_from": "guarded.yml"},
                        "vars": {"tragen_deploy_refusal": "The rollout was refused in preflight",
                                 "tragen_deploy_steps": steps}},
                       {"name": "After the steps", "ansible.builtin.debug": {
                           "msg": "LOCKED={{ '" + str(lock) + "' is directory }}"}}]}]


def test_a_failed_step_releases_the_lock_and_stops_with_the_refusal(tmp_path: Path) -> None:
    result = run(tmp_path, 3, guarded_play(tmp_path, [{"tasks_from": "plan.yml"}]),
                 "-e", "tragen_deploy_batch_size=2")
    assert result.returncode != 0
    assert "The rollout was refused in preflight on app1: A batch of 2 of 3 app servers" \
        in result.stdout, result.stdout[-3000:]
    assert "No host changed its live release." in result.stdout
    assert not (tmp_path / "deploy.lock").exists()


def test_steps_that_pass_keep_the_lock_for_the_rest_of_the_run(tmp_path: Path) -> None:
    result = run(tmp_path, 2, guarded_play(tmp_path, [{"tasks_from": "plan.yml"}]),
                 "-e", "tragen_deploy_batch_size=1")
    assert result.returncode == 0, result.stdout[-3000:]
    assert "LOCKED=True" in result.stdout
    assert (tmp_path / "deploy.lock" / "owner.json").exists()



def metrics_server(address: str, port: int, rate: float, error_share: float,
                   slow: bool = False) -> StubServer:
    """A stand-in app server's /metrics: API answers that grow at ``rate`` a second from
    start, ``error_share`` of them 500, each within 10 ms (or, ``slow``, 10 to 500 ms)."""
    started = time.monotonic()
    route = 'route="/api/v1/portfolio"'

    def body() -> str:
        answered = rate * (time.monotonic() - started)
        errors = answered * error_share
        return "\n".join([
            f'tragen_http_requests_total{{method="GET",{route},status="200"}} {answered - errors}',
            f'tragen_http_requests_total{{method="GET",{route},status="500"}} {errors}',
            f'tragen_api_latency_seconds_bucket{{le="0.01",{route}}} {0 if slow else answered}',
            f'tragen_api_latency_seconds_bucket{{le="0.5",{route}}} {answered}',
            f'tragen_api_latency_seconds_bucket{{le="+Inf",{route}}} {answered}', ""])

    return StubServer(address, port, body)


def analyse(tmp_path: Path, canary_errors: float, *extra: str,
            slow: bool = False) -> subprocess.CompletedProcess[str]:
    """analysis.yml in a serial play of three app servers (batches of two): app1 and app2
    are the first batch (the canary), app3 its baseline. Each answers on its own loopback
    address; the canaries fail ``canary_errors`` of their API answers; all of them are
    ``slow`` alike."""
    servers = [metrics_server("127.0.97.1", 0, 200, canary_errors, slow)]
    port = servers[0].port
    servers += [metrics_server("127.0.97.2", port, 200, canary_errors, slow),
                metrics_server("127.0.97.3", port, 200, 0, slow)]
    play = [{"name": "Roll", "hosts": "app_servers", "gather_facts": False, "serial": 2,
             "max_fail_percentage": 0,
             "vars": {"tragen_deploy_app_port": port, "tragen_deploy_analysis_count": 2,
                      "tragen_deploy_analysis_interval": 0.5,
                      "tragen_deploy_analysis_min_requests": 5},
             "tasks": [role_tasks("analysis.yml"),
                       {"name": "After", "ansible.builtin.debug": {
                           "msg": "PASSED {{ ansible_play_batch | join(',') }}"}}]}]
    addresses = {f"app{n}": {"tragen_private_address": f"127.0.97.{n}"} for n in (1, 2, 3)}
    try:
        return run(tmp_path, 3, play, *extra, host_vars=addresses)
    finally:
        for server in servers:
            server.close()


def test_a_healthy_batch_passes_its_analysis(tmp_path: Path) -> None:
    result = analyse(tmp_path, 0.0)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "analysis 2: successful" in result.stdout
    assert "PASSED app1,app2" in result.stdout


def test_a_batch_failing_five_percent_stops_at_its_first_measurement(tmp_path: Path) -> None:
    result = analyse(tmp_path, 0.05)
    assert result.returncode != 0
    assert "analysis failed after 1 measurement(s)" in result.stdout, result.stdout[-4000:]
    assert "success rate 95.00 % below 99.00 %" in result.stdout
    assert "PASSED" not in result.stdout


KPI_VARS = json.dumps({"tragen_deploy_analysis": True,
                       "tragen_deploy_analysis_kpis": ["api_response_ms"],
                       "tragen_deploy_analysis_system_kpis": {
                           "latency": {"api_response_ms": {"target": 50, "critical": 200}}}})


def test_a_batch_as_slow_as_its_baseline_is_stopped_by_a_chosen_kpi(tmp_path: Path) -> None:
    unchosen = analyse(tmp_path, 0.0, slow=True)
    assert unchosen.returncode == 0, unchosen.stdout[-4000:] + unchosen.stderr[-2000:]
    result = analyse(tmp_path, 0.0, "-e", KPI_VARS, slow=True)
    assert result.returncode != 0
    assert "analysis failed after 1 measurement(s)" in result.stdout, result.stdout[-4000:]
    assert ("api_response_ms 475.5 reached its critical value 200 "
            "(system_kpis.latency.api_response_ms)") in result.stdout
    assert "PASSED" not in result.stdout


def test_the_plan_names_the_chosen_kpis_and_refuses_unknown_ones(tmp_path: Path) -> None:
    result = run(tmp_path, 4, plan_play(), "-e", KPI_VARS)
    assert result.returncode == 0, result.stdout + result.stderr
    # Ansible's YAML output folds long messages: compare with the whitespace collapsed.
    assert "Each analysis also holds the batch to its KPIs: api_response_ms < 200." \
        in " ".join(result.stdout.split())
    refused = run(tmp_path, 4, plan_play(), "-e", KPI_VARS.replace("api_response_ms", "uptime"))
    assert refused.returncode != 0
    assert "'uptime' is not a KPI a canary can be held to" in refused.stdout


def test_an_unreachable_monitoring_host_neither_stops_nor_undoes_a_switch(tmp_path: Path) -> None:
    # Nothing listens on port 1 of the loopback: ssh is refused at once, the host unreachable.
    gone = {"ansible_connection": "ssh", "ansible_host": "127.0.0.1", "ansible_port": 1,
            "tragen_private_address": "127.0.0.1"}
    plays = [{"name": "Switch", "hosts": "app_servers", "gather_facts": False, "tasks": [
        {**role_tasks("blue_green_scrape.yml"), "vars": {"tragen_deploy_blue_green_to": "green"}},
        {"name": "The switch goes on", "ansible.builtin.debug": {"msg": "WENT ON"}}]}]
    result = run(tmp_path, 1, plays, host_vars={"app1": {"tragen_private_address": "127.0.0.2"}},
                 monitors={"mon1": gone}, controller_vars={"tragen_private_address": "127.0.0.3"})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "WENT ON" in result.stdout
    assert "app1 -> mon1" in result.stdout and "UNREACHABLE" in result.stdout, result.stdout

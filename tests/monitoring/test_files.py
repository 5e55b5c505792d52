"""What the monitoring host is configured with, from the medium stage's configuration and
inventory: prometheus.yml (checked by promtool), the notifier's settings, the web config."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.monitoring import promtool
from tragen_runtime.config import check_inventory
from tragen_runtime.monitoring import files, scrape

REPO = Path(__file__).parents[2]
MEDIUM = yaml.safe_load((REPO / "inventories/medium/group_vars/all/tragen.yml").read_text())[
    "tragen_config"]
GROUPS = {"app_servers": ["app1", "app2"], "db_primary": ["db1"], "db_replicas": ["db2"],
          "cache": ["cache1"], "lb": ["lb1"], "monitoring": ["mon1"]}
ADDRESSES = {name: f"127.0.3.{i}" for i, name in enumerate(
    ["app1", "app2", "db1", "db2", "cache1", "lb1", "mon1"], 11)}
PORTS = {"node": 9100, "tragen_app": 8000, "postgres": 9187, "redis": 9121, "nginx": 9113,
         "nginx_log": 3903, "prometheus": 9090, "alertmanager": 9093, "notifier": 9095}
ENDPOINTS = {c: f"http://127.0.3.17:9096/{c}" for c in ("email", "sms", "slack", "phone")}


def _files(tmp_path: Path, config: dict[str, Any] = MEDIUM) -> dict[str, Any]:
    for name in ("password", "ca.crt"):
        (tmp_path / name).write_text("x")
    return files.monitoring_files(
        config, groups=GROUPS, addresses=ADDRESSES, ports=PORTS, stage="medium",
        auth={"username": "tragen", "password_file": str(tmp_path / "password"),
              "ca_file": str(tmp_path / "ca.crt")},
        notifier={"listen": "127.0.3.17:9095", "endpoints": ENDPOINTS,
                  "state_file": "/var/lib/tragen-notifier/state.json"},
        app_targets_file=str(tmp_path / "tragen_app.json"))


def test_prometheus_yml_scrapes_every_host_by_its_groups_exporter(tmp_path: Path) -> None:
    generated = _files(tmp_path)
    config = generated["prometheus"]
    assert config["global"]["scrape_interval"] == "5s"
    assert config["global"]["external_labels"] == {"stage": "medium"}
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert sorted(jobs) == ["alertmanager", "nginx", "nginx_log", "node", "notifier", "postgres",
                            "prometheus", "redis", "tragen_app"]
    targets = {job: [(t["targets"][0], t["labels"]["host"], t["labels"]["group"])
                     for t in spec.get("static_configs", [])] for job, spec in jobs.items()}
    assert len(targets["node"]) == 7
    assert targets["postgres"] == [("127.0.3.13:9187", "db1", "db_primary"),
                                   ("127.0.3.14:9187", "db2", "db_replicas")]
    # the runtime's targets are a file that blue-green's switch rewrites
    assert jobs["tragen_app"]["file_sd_configs"] == [{"files": [str(tmp_path / "tragen_app.json")]}]
    assert jobs["prometheus"]["scheme"] == "https" and "scheme" not in jobs["node"]
    # promtool checks the whole file, the rule files it names included
    rules_dir = tmp_path / "rules"
    rules_dir.mkdir()
    for key, path in zip(("recording", "alerts"), generated["rule_files"], strict=True):
        (rules_dir / Path(path).name).write_text(yaml.safe_dump(generated[key]))
    config["rule_files"] = [str(rules_dir / Path(p).name) for p in generated["rule_files"]]
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    (tmp_path / "tragen_app.json").write_text(json.dumps(
        scrape.app_targets(scrape.hosts_by_group(GROUPS, ADDRESSES), 8000, "green")))
    promtool.run(promtool.tool("promtool"), "check", "config", str(tmp_path / "prometheus.yml"))


def test_the_runtime_is_scraped_where_the_balancers_send_traffic() -> None:
    hosts = scrape.hosts_by_group(GROUPS, ADDRESSES)
    single = scrape.app_targets(hosts, 8000)
    assert single == [{"targets": [f"127.0.3.{i}:8000"],
                       "labels": {"host": f"app{i - 10}", "group": "app_servers"}}
                      for i in (11, 12)]
    green = scrape.app_targets(hosts, 8000, "green")
    assert [t["targets"] for t in green] == [["127.0.3.11:8001"], ["127.0.3.12:8001"]]
    assert {t["labels"]["colour"] for t in green} == {"green"}
    assert scrape.app_targets(hosts, 8000, "blue")[0]["targets"] == ["127.0.3.11:8000"]
    with pytest.raises(ValueError, match="'red' is not a colour"):
        scrape.app_targets(hosts, 8000, "red")


def test_the_notifier_holds_the_configured_window_and_cap(tmp_path: Path) -> None:
    notifier = _files(tmp_path)["notifier"]
    assert (notifier["window_seconds"], notifier["max_per_window"]) == (300, 10)
    assert notifier["channels"] == {c: {"url": u} for c, u in ENDPOINTS.items()}
    assert _files(tmp_path)["schedule"] == {"scrape": 5, "window": "60s",
                                            "retention": "2592000s"}


def test_a_channel_without_a_webhook_is_missing() -> None:
    assert files.missing_channels(MEDIUM, {"email": "https://mail.example/hook",
                                           "sms": "CHANGE_ME"}) == ["sms", "slack", "phone"]


def test_the_gate_names_a_channel_left_as_a_placeholder() -> None:
    hostvars: dict[str, dict[str, Any]] = {
        h: {"tragen_private_address": a, "tragen_stage": "medium"} for h, a in ADDRESSES.items()}
    hostvars["mon1"]["tragen_monitoring_channels"] = {**ENDPOINTS, "phone": "CHANGE_ME"}
    problems = [p for p in check_inventory({"groups": GROUPS, "hostvars": hostvars}, MEDIUM)
                if "channels" in p.location]
    assert [(p.location, p.message) for p in problems] == [
        ("inventory.hosts.mon1.tragen_monitoring_channels.phone",
         "expected the channel's webhook URL (http or https), found 'CHANGE_ME'")]
    hostvars["mon1"]["tragen_sandbox"] = True  # the recorder stands in for every channel
    assert not [p for p in check_inventory({"groups": GROUPS, "hostvars": hostvars}, MEDIUM)
                if "channels" in p.location]


def _web_config_module() -> Any:
    path = REPO / "roles/tragen_monitoring/library/tragen_web_config.py"
    spec = importlib.util.spec_from_file_location("tragen_web_config", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_web_config_keeps_a_hash_that_still_matches() -> None:
    web = _web_config_module()
    made: list[str] = []

    def new_hash(password: str) -> str:
        made.append(password)
        return f"hash-{len(made)}"

    first = web.web_config(None, {"tragen": "secret-1"}, "/c.crt", "/c.key",
                           lambda pw, h: False, new_hash)
    assert first == {"tls_server_config": {"cert_file": "/c.crt", "key_file": "/c.key"},
                     "basic_auth_users": {"tragen": "hash-1"}}
    again = web.web_config(first, {"tragen": "secret-1"}, "/c.crt", "/c.key",
                           lambda pw, h: h == "hash-1", new_hash)
    assert again == first and made == ["secret-1"]  # a rerun writes nothing new
    changed = web.web_config(first, {"tragen": "secret-2"}, "/c.crt", "/c.key",
                             lambda pw, h: False, new_hash)
    assert changed["basic_auth_users"] == {"tragen": "hash-2"}


def test_without_a_monitoring_host_the_monitoring_keys_are_not_acted_on() -> None:
    from tragen_runtime.config import notices

    monitored = "$.monitoring.metrics_collection.frequency"
    kpi = "$.system_kpis.throughput.trades_per_second.target"
    with_host = {n.location for n in notices(MEDIUM, GROUPS)}
    assert monitored not in with_host and kpi not in with_host
    without = {n.location: n.message for n in notices(MEDIUM, {**GROUPS, "monitoring": []})}
    assert "the inventory has no monitoring host" in without[monitored]
    assert kpi in without
    # a file alone (tragen-config validate) knows no inventory: the keys are acted on
    assert monitored not in {n.location for n in notices(MEDIUM)}

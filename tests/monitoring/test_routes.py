"""Alertmanager's routes from the escalation levels, checked by amtool: each severity reaches
its level's channels at the notifier, an emergency is not paged again as critical."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.monitoring import promtool
from tragen_runtime.monitoring import routes

MEDIUM = yaml.safe_load(
    (Path(__file__).parents[2] / "inventories/medium/group_vars/all/tragen.yml").read_text()
)["tragen_config"]
NOTIFIER = "http://127.0.3.19:9095"


def _write(tmp_path: Path, config: dict[str, Any]) -> Path:
    path = tmp_path / "alertmanager.yml"
    path.write_text(yaml.safe_dump(routes.alertmanager_config(config, NOTIFIER)))
    promtool.run(promtool.tool("amtool"), "check-config", str(path))
    return path


def _route(path: Path, *labels: str) -> str:
    return promtool.run(promtool.tool("amtool"), "config", "routes", "test",
                        f"--config.file={path}", *labels).strip()


@pytest.mark.parametrize(("severity", "channels"), [
    ("warning", ["email"]), ("critical", ["email", "sms", "slack"]),
    ("emergency", ["email", "sms", "slack", "phone"])])
def test_each_severity_reaches_its_levels_channels(tmp_path: Path, severity: str,
                                                   channels: list[str]) -> None:
    path = _write(tmp_path, MEDIUM)
    receiver = _route(path, f"severity={severity}", "alertname=X")
    assert receiver == severity
    config = yaml.safe_load(path.read_text())
    hooks = next(r for r in config["receivers"] if r["name"] == receiver)["webhook_configs"]
    assert [h["url"] for h in hooks] == [f"{NOTIFIER}/notify/{c}" for c in channels]
    assert all(h["send_resolved"] for h in hooks)


def test_an_alert_of_no_known_severity_goes_to_the_most_urgent_level(tmp_path: Path) -> None:
    assert _route(_write(tmp_path, MEDIUM), "alertname=Unlabelled") == "emergency"


def test_the_aggregation_window_is_the_group_interval(tmp_path: Path) -> None:
    config = copy.deepcopy(MEDIUM)
    config["monitoring"]["alerting"]["alert_aggregation"]["window"] = 120
    route = yaml.safe_load(_write(tmp_path, config).read_text())["route"]
    assert route["group_interval"] == "120s"
    assert route["group_wait"] == "10s"


def test_levels_as_configured_replace_the_guides(tmp_path: Path) -> None:
    config = copy.deepcopy(MEDIUM)
    config["monitoring"]["alerting"]["escalation_levels"] = [
        {"threshold": "warning", "notify": ["slack"]},
        {"threshold": "critical", "notify": ["phone"]}]
    path = _write(tmp_path, config)
    assert _route(path, "severity=critical") == "critical"
    assert _route(path, "severity=emergency") == "critical"  # no level of its own: most urgent
    receivers = yaml.safe_load(path.read_text())["receivers"]
    assert [(r["name"], [h["url"].rsplit("/", 1)[1] for h in r["webhook_configs"]])
            for r in receivers] == [("warning", ["slack"]), ("critical", ["phone"])]


def test_without_alerting_the_guides_levels_apply() -> None:
    levels = routes.escalation_levels({})
    assert levels == [(level, channels) for level, channels in routes.DEFAULT_LEVELS]
    assert routes.aggregation({}) == (300, 10)


def test_an_emergency_inhibits_the_critical_of_its_concern_only() -> None:
    rules = routes.alertmanager_config(MEDIUM, NOTIFIER)["inhibit_rules"]
    emergency = next(r for r in rules if 'severity="emergency"' in r["source_matchers"])
    # labels missing on both sides count as equal: an emergency needs a concern to inhibit
    assert 'concern=~".+"' in emergency["source_matchers"]
    assert emergency["target_matchers"] == ['severity=~"critical|warning"']
    # a breaker's emergency silences the KPI of the same concern, never a database outage
    assert emergency["equal"] == ["stage", "concern"]

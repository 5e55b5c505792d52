"""Everything the monitoring host is configured with, from the configuration and the
inventory in one call (what the `tragen_monitoring` role writes, each file checked by
promtool or amtool before it replaces the old one)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .alerts import alert_groups
from .recording import recording_groups
from .routes import aggregation, alertmanager_config, escalation_levels
from .schedule import Schedule
from .scrape import Host, WebAuth, hosts_by_group, prometheus_config

RULES_DIR = "/etc/prometheus/rules"


def channels_used(config: Mapping[str, Any]) -> list[str]:
    """Every channel an escalation level notifies, in the order they first appear."""
    return list(dict.fromkeys(c for _, channels in escalation_levels(config) for c in channels))


def missing_channels(config: Mapping[str, Any], endpoints: Mapping[str, str]) -> list[str]:
    """The channels the levels notify that have no webhook URL (a placeholder is none)."""
    return [c for c in channels_used(config)
            if not str(endpoints.get(c) or "").startswith(("http://", "https://"))]


def monitoring_files(config: Mapping[str, Any], *, groups: Mapping[str, Sequence[str]],
                     addresses: Mapping[str, str], ports: Mapping[str, int], stage: str,
                     auth: Mapping[str, str], notifier: Mapping[str, Any],
                     app_targets_file: str) -> dict[str, Any]:
    """`notifier`: listen (host:port), endpoints (channel -> URL), state_file;
    `app_targets_file`: where prometheus.yml finds the runtime's targets (scrape.app_targets)."""
    hosts: list[Host] = hosts_by_group(groups, addresses)
    web = WebAuth(auth["username"], auth["password_file"], auth["ca_file"])
    rule_files = [f"{RULES_DIR}/tragen-recording.yml", f"{RULES_DIR}/tragen-alerts.yml"]
    window, cap = aggregation(config)
    schedule = Schedule.from_config(config)
    return {
        "schedule": {"scrape": schedule.scrape_seconds, "window": schedule.window,
                     "retention": schedule.retention},
        "recording": {"groups": recording_groups(config)},
        "alerts": {"groups": alert_groups(config)},
        "rule_files": rule_files,
        "prometheus": prometheus_config(config, hosts, ports, stage=stage, auth=web,
                                        rule_files=rule_files, app_targets_file=app_targets_file),
        "alertmanager": alertmanager_config(config, f"http://{notifier['listen']}"),
        "notifier": {
            "listen": notifier["listen"], "window_seconds": window, "max_per_window": cap,
            "state_file": notifier["state_file"], "delivery_timeout_seconds": 5,
            "channels": {c: {"url": notifier["endpoints"][c]} for c in channels_used(config)
                         if notifier["endpoints"].get(c)},
        },
    }

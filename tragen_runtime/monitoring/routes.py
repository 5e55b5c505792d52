"""Alertmanager's configuration from `monitoring.alerting`.

Each escalation level is a route on the `severity` label to a receiver of its own, whose
webhooks are the level's channels at the project's notifier (`/notify/<channel>`): the notifier
holds `max_alerts_per_window`, which Alertmanager has no setting for, and delivers to the
channel's endpoint. `alert_aggregation.window` is the group interval: a group's further alerts
wait for it, then go out together. An emergency inhibits the critical and warning alerts of
its concern; a critical alert inhibits the warning of the same name and instance.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .schedule import seconds

# The guide's levels, used when the configuration names none.
DEFAULT_LEVELS = (("warning", ("email",)), ("critical", ("email", "sms", "slack")),
                  ("emergency", ("email", "sms", "slack", "phone")))
GROUP_WAIT_SECONDS = 10
GROUP_BY = ["alertname", "severity", "kpi", "breaker", "instance"]


def escalation_levels(config: Mapping[str, Any]) -> list[tuple[str, tuple[str, ...]]]:
    alerting = (config.get("monitoring") or {}).get("alerting") or {}
    levels = alerting.get("escalation_levels")
    if not levels:
        return [(level, channels) for level, channels in DEFAULT_LEVELS]
    return [(str(level["threshold"]), tuple(str(c) for c in level["notify"]))
            for level in levels]


def aggregation(config: Mapping[str, Any]) -> tuple[int, int]:
    """(window seconds, max notifications per channel and window)."""
    alerting = (config.get("monitoring") or {}).get("alerting") or {}
    agg = alerting.get("alert_aggregation") or {}
    return int(agg.get("window", 300)), int(agg.get("max_alerts_per_window", 10))


def alertmanager_config(config: Mapping[str, Any], notifier_url: str) -> dict[str, Any]:
    """The whole alertmanager.yml; `notifier_url` is the notifier's base URL."""
    levels = escalation_levels(config)
    window, _ = aggregation(config)
    receivers = [{
        "name": level,
        "webhook_configs": [{"url": f"{notifier_url.rstrip('/')}/notify/{channel}",
                             "send_resolved": True, "max_alerts": 0} for channel in channels],
    } for level, channels in levels]
    return {
        "route": {
            # an alert of no known severity goes to the most urgent level: it must not be lost
            "receiver": levels[-1][0],
            "group_by": GROUP_BY,
            "group_wait": seconds(GROUP_WAIT_SECONDS),
            "group_interval": seconds(window),
            "repeat_interval": "4h",
            "routes": [{"matchers": [f'severity="{level}"'], "receiver": level}
                       for level, _ in levels],
        },
        "receivers": receivers,
        "inhibit_rules": [
            # an emergency without a concern (a fleet halt) silences nothing: a database
            # outage during it must still page
            {"source_matchers": ['severity="emergency"', 'concern=~".+"'],
             "target_matchers": ['severity=~"critical|warning"'],
             "equal": ["stage", "concern"]},
            {"source_matchers": ['severity="critical"'],
             "target_matchers": ['severity="warning"'],
             "equal": ["stage", "alertname", "instance"]},
        ],
    }

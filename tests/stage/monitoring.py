"""The stage's monitoring host as the tests meet it: Prometheus' API behind TLS and basic auth,
and the sandbox's recorder, which keeps what each channel received."""

from __future__ import annotations

import base64
import json
import ssl
import urllib.request
from typing import Any

from tests.sandbox.sandbox import REPO, Sandbox
from tests.stage.stage import addresses, groups

PROMETHEUS, RECORDER = 9090, 9096
CHANNELS = ("email", "sms", "slack", "phone")


def monitor(sandbox: Sandbox) -> str:
    return addresses(sandbox)[groups(sandbox)["monitoring"][0]]


def prometheus(sandbox: Sandbox, path: str) -> Any:
    password = (REPO / ".sandbox" / sandbox.name / "secrets" / "tragen_monitoring_password")
    token = base64.b64encode(f"tragen:{password.read_text().strip()}".encode()).decode()
    request = urllib.request.Request(f"https://{monitor(sandbox)}:{PROMETHEUS}{path}",
                                     headers={"Authorization": f"Basic {token}"})
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with urllib.request.urlopen(request, timeout=10, context=context) as answer:  # noqa: S310
        body = answer.read().decode()
    return json.loads(body) if path.startswith("/api/") else body


def received(sandbox: Sandbox, channel: str) -> list[dict[str, Any]]:
    url = f"http://{monitor(sandbox)}:{RECORDER}/{channel}"
    with urllib.request.urlopen(url, timeout=5) as answer:  # noqa: S310
        notes: list[dict[str, Any]] = json.loads(answer.read())
    return notes


def clear(sandbox: Sandbox) -> None:
    for channel in CHANNELS:
        request = urllib.request.Request(f"http://{monitor(sandbox)}:{RECORDER}/{channel}",
                                         method="DELETE")
        urllib.request.urlopen(request, timeout=5).close()  # noqa: S310


def firing(notes: list[dict[str, Any]], alert: str) -> list[dict[str, Any]]:
    return [n for n in notes if n.get("status") == "firing"
            and any(a["labels"].get("alertname") == alert for a in n.get("alerts", []))]


def reached(notes: list[dict[str, Any]], alert: str) -> list[dict[str, Any]]:
    """The notifications that told of `alert` firing: its own, or a summary that folded it
    (when the channel's max_alerts_per_window was taken)."""
    return firing(notes, alert) + [
        n for n in notes if n.get("kind") == "summary"
        and any(f.get("alertname") == alert for f in n.get("folded_alerts", []))]

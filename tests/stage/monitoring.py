"""The stage's monitoring host as the tests meet it: Prometheus' API behind TLS and basic auth,
and the sandbox's recorder, which keeps what each channel received."""

from __future__ import annotations

import base64
import json
import ssl
import urllib.request
from datetime import datetime
from typing import Any

from tests.sandbox.sandbox import REPO, Sandbox
from tests.stage.stage import addresses, groups

PROMETHEUS, ALERTMANAGER, RECORDER = 9090, 9093, 9096
CHANNELS = ("email", "sms", "slack", "phone")


def monitor(sandbox: Sandbox) -> str:
    return addresses(sandbox)[groups(sandbox)["monitoring"][0]]


def credentials(sandbox: Sandbox) -> tuple[str, str]:
    password = (REPO / ".sandbox" / sandbox.name / "secrets" / "tragen_monitoring_password")
    return "tragen", password.read_text().strip()


def _call(sandbox: Sandbox, port: int, path: str, body: Any = None) -> Any:
    """A call to Prometheus or Alertmanager on the monitoring host: TLS (self-signed, so not
    verified) and basic auth; the answer as JSON for the APIs, else as text."""
    user, password = credentials(sandbox)
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"https://{monitor(sandbox)}:{port}{path}", data=data,
                                     headers={"Authorization": f"Basic {token}",
                                              "Content-Type": "application/json"})
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with urllib.request.urlopen(request, timeout=10, context=context) as answer:  # noqa: S310
        text = answer.read().decode()
    return json.loads(text) if path.startswith("/api/") and text else text


def prometheus(sandbox: Sandbox, path: str) -> Any:
    return _call(sandbox, PROMETHEUS, path)


def post_alerts(sandbox: Sandbox, alerts: list[dict[str, Any]]) -> None:
    """Alerts sent to Alertmanager's own API, the way Prometheus sends them."""
    _call(sandbox, ALERTMANAGER, "/api/v2/alerts", alerts)


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


def told(notes: list[dict[str, Any]], alert: str, status: str) -> list[dict[str, Any]]:
    """The notifications that told of `alert` with `status` (firing or resolved): its own, or a
    summary that folded it (when the channel's max_alerts_per_window was taken)."""
    return [n for n in notes if n.get("kind") == "alert" and any(
        a["labels"].get("alertname") == alert and a.get("status", n.get("status")) == status
        for a in n.get("alerts", []))] + [
        n for n in notes if n.get("kind") == "summary" and any(
            f.get("alertname") == alert and f.get("status") == status
            for f in n.get("folded_alerts", []))]


def reached(notes: list[dict[str, Any]], alert: str) -> list[dict[str, Any]]:
    return told(notes, alert, "firing")


def per_window(notes: list[dict[str, Any]], window: int) -> dict[int, int]:
    """How many notifications a channel received in each of the notifier's windows (aligned on
    multiples of the window in UTC, as the notifier counts them)."""
    counts: dict[int, int] = {}
    for note in notes:
        start = int(datetime.fromisoformat(note["received_at"]).timestamp() // window) * window
        counts[start] = counts.get(start, 0) + 1
    return counts

"""The alert notifier the monitoring role ships (files/tragen_notifier.py): its config checks,
the per-channel window cap, its state across a restart, and both subcommands over HTTP.

The cap is tested as pure functions with the time passed in; the servers run in threads on
127.0.0.1 with free ports and an injected clock, so no test waits for a window to pass."""

from __future__ import annotations

import importlib.util
import json
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "roles/tragen_monitoring/files/tragen_notifier.py"


def _load_script() -> ModuleType:
    """On the monitoring host the notifier is a script, not a package member: load it by path."""
    spec = importlib.util.spec_from_file_location("tragen_notifier", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


if TYPE_CHECKING:
    # mypy takes the types from the script itself when it is on mypy's command line.
    import tragen_notifier as tn
else:
    tn = _load_script()

T0 = 1_700_000_100.0
"""2023-11-14T22:15:00Z, where a 300 s window starts (5_666_667 * 300)."""


class Clock:
    """The notifier's clock in tests: it moves when a test says so."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Outbox:
    """A Sender that keeps what it is given, and fails while `failing` is set."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.failing = False

    def __call__(self, url: str, payload: dict[str, Any], timeout: float) -> None:
        if self.failing:
            raise tn.DeliveryError("HTTP 503")
        self.sent.append(payload)


def payload(name: str = "PostgresPrimaryDown", status: str = "firing",
            severity: str = "critical", alerts: int = 1) -> dict[str, Any]:
    """An Alertmanager 0.25 webhook payload (version 4)."""
    return {
        "version": "4",
        "status": status,
        "receiver": severity,
        "groupLabels": {"alertname": name},
        "commonLabels": {"alertname": name, "severity": severity},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.example:9093",
        "groupKey": f'{{}}:{{alertname="{name}"}}',
        "truncatedAlerts": 0,
        "alerts": [{
            "status": status,
            "labels": {"alertname": name, "severity": severity, "instance": f"db{i}:9187"},
            "annotations": {"summary": f"db{i} does not answer"},
            "startsAt": "2024-05-01T12:00:00Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "fingerprint": f"{i:016x}",
        } for i in range(1, alerts + 1)],
    }


def body(**kwargs: Any) -> bytes:
    return json.dumps(payload(**kwargs)).encode()


def notification(**kwargs: Any) -> tn.Notification:
    return tn.parse_payload(body(**kwargs))


def config_dict(tmp_path: Path, channels: dict[str, str], **overrides: Any) -> dict[str, Any]:
    return {
        "listen": "127.0.0.1:9095",
        "window_seconds": 300,
        "max_per_window": 10,
        "state_file": str(tmp_path / "state" / "state.json"),
        "channels": {name: {"url": url} for name, url in channels.items()},
        **overrides,
    }


def make_config(tmp_path: Path, channels: dict[str, str] | None = None,
                **overrides: Any) -> tn.Config:
    urls = channels or {"email": "http://127.0.0.1:9/email", "sms": "http://127.0.0.1:9/sms"}
    return tn.parse_config(config_dict(tmp_path, urls, **overrides))


# --- config --------------------------------------------------------------------------------

def test_every_config_problem_is_reported_with_its_key(tmp_path: Path) -> None:
    raw = config_dict(tmp_path, {"email": "x", "SMS": "http://h/sms"}, listen="127.0.3.9",
                      window_seconds=0, max_per_window=True, state_file="state.json",
                      delivery_timeout_seconds=-1, max_alerts_per_window=10)
    raw["channels"]["slack"] = {"uri": "http://h/slack"}
    with pytest.raises(tn.ConfigError) as caught:
        tn.parse_config(raw)
    assert caught.value.problems == [
        "$.max_alerts_per_window: unknown key (known: channels, delivery_timeout_seconds, "
        "listen, max_per_window, state_file, window_seconds)",
        "$.listen: expected HOST:PORT, found '127.0.3.9'",
        "$.window_seconds: expected a whole number >= 1, found 0",
        "$.max_per_window: expected a whole number >= 1, found True",
        "$.state_file: expected an absolute path, found 'state.json'",
        "$.delivery_timeout_seconds: expected a number of seconds > 0, found -1",
        "$.channels.email.url: expected an http(s) URL, found 'x'",
        "$.channels.SMS: a channel name is lowercase letters, digits, '-' and '_'",
        "$.channels.slack.uri: unknown key (known: url)",
        "$.channels.slack.url: required key missing",
    ]


def test_required_keys_are_named_when_missing() -> None:
    with pytest.raises(tn.ConfigError) as caught:
        tn.parse_config({"channels": {}})
    assert caught.value.problems == [
        f"$.{key}: required key missing"
        for key in ("listen", "max_per_window", "state_file", "window_seconds")
    ] + ['$.channels: expected an object {"<channel>": {"url": ...}}, found {}']


def test_a_good_config_parses_and_the_delivery_timeout_defaults_to_5_s(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    assert config.listen == ("127.0.0.1", 9095)
    assert config.channels == {"email": "http://127.0.0.1:9/email", "sms": "http://127.0.0.1:9/sms"}
    assert config.state_file == tmp_path / "state" / "state.json"
    assert config.delivery_timeout_seconds == 5.0


def test_serve_with_a_bad_config_exits_2_with_one_line_per_problem(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config_dict(tmp_path, {"email": "x"}, window_seconds="300")))
    assert tn.main(["serve", "--config", str(path)]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"{path}: $.window_seconds: expected a whole number >= 1, found '300'",
        f"{path}: $.channels.email.url: expected an http(s) URL, found 'x'",
    ]
    path.write_text("{")
    assert tn.main(["serve", "--config", str(path)]) == 2
    assert capsys.readouterr().err.startswith(f"{path}: not valid JSON: ")


# --- the window cap ------------------------------------------------------------------------

def test_windows_are_aligned_on_multiples_of_their_length() -> None:
    cap = tn.WindowCap(window_seconds=300, max_per_window=1)
    assert cap.window_start(T0) == cap.window_start(T0 + 299.999) == T0
    assert cap.window_start(T0 + 300) == T0 + 300
    state: tn.State = {}
    assert cap.admit(state, "email", T0 + 299).deliver
    assert not cap.admit(state, "email", T0 + 299.5).deliver
    # The next window begins at the boundary, not 300 s after the first notification.
    assert cap.admit(state, "email", T0 + 300).deliver
    assert cap.admit(state, "sms", T0 + 299.5).deliver, "each channel has its own cap"


def test_30_notifications_in_a_window_deliver_10_and_fold_20_into_one_summary() -> None:
    cap = tn.WindowCap(window_seconds=300, max_per_window=10)
    state: tn.State = {}
    delivered = 0
    for i in range(30):
        decision = cap.admit(state, "email", T0 + i * 9.9)
        if decision.deliver:
            delivered += 1
        else:
            assert decision.delivered == 10
            cap.fold(state, "email", decision.window_start, notification())
    assert delivered == 10
    assert cap.due_summary(state, "email", T0 + 299.9) is None, "due when the next window begins"
    summary = cap.due_summary(state, "email", T0 + 300)
    assert summary is not None
    assert summary.notifications == 20
    assert summary.alerts == (tn.FoldedAlert("PostgresPrimaryDown", "firing", 20),)
    rendered = tn.render_summary(summary, cap)
    assert rendered["kind"] == "summary" and rendered["folded"] == 20
    assert rendered["folded_alerts"] == [
        {"alertname": "PostgresPrimaryDown", "status": "firing", "count": 20}]
    assert rendered["title"] == (
        "[CRITICAL] 20 folded notifications: PostgresPrimaryDown firing (20)")

    cap.summary_delivered(state, summary, T0 + 300)
    assert cap.due_summary(state, "email", T0 + 900) is None, "one summary, sent once"
    admitted = [cap.admit(state, "email", T0 + 301).deliver for _ in range(10)]
    assert admitted == [True] * 9 + [False], "the summary took the new window's first slot"


def test_a_failed_delivery_gives_its_slot_back() -> None:
    cap = tn.WindowCap(window_seconds=300, max_per_window=1)
    state: tn.State = {}
    decision = cap.admit(state, "email", T0)
    cap.release(state, "email", decision.window_start)
    assert cap.admit(state, "email", T0 + 1).deliver


def test_a_late_summary_reports_every_window_it_covers() -> None:
    cap = tn.WindowCap(window_seconds=300, max_per_window=1)
    state: tn.State = {}
    folds = [(T0, notification(severity="warning")),
             (T0 + 300, notification(name="DiskFull", status="resolved", severity="emergency"))]
    for now, held_back in folds:
        assert cap.admit(state, "email", now).deliver
        decision = cap.admit(state, "email", now)
        cap.fold(state, "email", decision.window_start, held_back)
    # The first window's summary was never delivered: the next one reports both windows.
    summary = cap.due_summary(state, "email", T0 + 600)
    assert summary is not None
    assert (summary.since, summary.until, summary.notifications) == (T0, T0 + 600, 2)
    assert (summary.severity, summary.status) == ("emergency", "firing")
    assert [a.alertname for a in summary.alerts] == ["DiskFull", "PostgresPrimaryDown"]


def test_a_delivered_alert_reads_as_one_title_and_a_line_per_alert() -> None:
    rendered = tn.render_alert("email", notification(alerts=2))
    assert rendered["title"] == "[CRITICAL] PostgresPrimaryDown firing (2 alerts)"
    assert rendered["text"].splitlines() == [
        "- PostgresPrimaryDown on db1:9187 firing since 2024-05-01T12:00:00Z: db1 does not answer",
        "- PostgresPrimaryDown on db2:9187 firing since 2024-05-01T12:00:00Z: db2 does not answer",
        "Alertmanager: http://alertmanager.example:9093",
    ]
    assert rendered["alerts"] == payload(alerts=2)["alerts"]


# --- the notifier's state across restarts ---------------------------------------------------

def test_a_restarted_notifier_keeps_the_count_and_the_pending_summary(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    clock, outbox = Clock(), Outbox()
    first = tn.Notifier(config, clock=clock, send=outbox)
    assert [first.notify("email", body()).status for _ in range(12)] == [200] * 12
    assert len(outbox.sent) == 10

    second = tn.Notifier(config, clock=clock, send=outbox)  # knows only the state file
    assert second.notify("email", body()).body == "folded into the next window's summary\n"
    assert len(outbox.sent) == 10
    clock.now = T0 + 300
    second.flush_due()
    assert outbox.sent[-1]["kind"] == "summary" and outbox.sent[-1]["folded"] == 3

    tn.Notifier(config, clock=clock, send=outbox).flush_due()
    assert len(outbox.sent) == 11, "a delivered summary is not sent again after a restart"
    assert not config.state_file.with_name("state.json.partial").exists()


def test_an_unreadable_state_file_is_moved_aside(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    config.state_file.parent.mkdir()
    config.state_file.write_text("{")
    assert tn.Notifier(config, clock=Clock(), send=Outbox()).state == {}
    assert config.state_file.with_name("state.json.bad").read_text() == "{"


def test_failed_deliveries_do_not_count_and_a_failed_summary_is_retried(tmp_path: Path) -> None:
    clock, outbox = Clock(), Outbox()
    notifier = tn.Notifier(make_config(tmp_path, max_per_window=1), clock=clock, send=outbox)
    outbox.failing = True
    assert notifier.notify("email", body()).status == 502
    outbox.failing = False
    assert notifier.notify("email", body()).body == "delivered\n"
    assert notifier.notify("email", body()).body == "folded into the next window's summary\n"

    clock.now, outbox.failing = T0 + 300, True
    notifier.flush_due()
    metrics = notifier.metrics()
    assert 'tragen_notifier_notifications_total{channel="email",kind="alert",outcome="failed"} 1' \
        in metrics
    assert 'tragen_notifier_notifications_total{channel="email",kind="summary",outcome="failed"} 1'\
        in metrics
    assert 'tragen_notifier_pending_summaries{channel="email"} 1' in metrics
    outbox.failing = False
    notifier.flush_due()
    assert [sent["kind"] for sent in outbox.sent] == ["alert", "summary"]
    assert 'tragen_notifier_pending_summaries{channel="email"} 0' in notifier.metrics()


# --- serve and record over HTTP ------------------------------------------------------------

@contextmanager
def serving(app: tn.App) -> Iterator[str]:
    server = tn.make_server(("127.0.0.1", 0), app)
    # A short poll interval: shutdown() waits for serve_forever's next look at its flag.
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), name="test-http")
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join()
        server.server_close()


def call(method: str, url: str, data: bytes | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, data=data, method=method)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read().decode()


def wait_for(condition: Callable[[], bool], seconds: float = 3.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


@dataclass
class Stack:
    notifier: str
    recorder: str
    clock: Clock

    def received(self, channel: str) -> list[dict[str, Any]]:
        status, text = call("GET", f"{self.recorder}/{channel}")
        assert status == 200
        entries: list[dict[str, Any]] = json.loads(text)
        return entries


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    """A recorder that fails sms, and a notifier (cap 3) whose flusher looks every 20 ms."""
    clock = Clock()
    with serving(tn.Recorder(tmp_path / "recorded", fail_channels=["sms"]).route) as recorder:
        channels = {"email": f"{recorder}/email", "sms": f"{recorder}/sms"}
        notifier = tn.Notifier(make_config(tmp_path, channels, max_per_window=3), clock=clock)
        stop = threading.Event()
        flusher = threading.Thread(target=notifier.flush_until, args=(stop, 0.02))
        flusher.start()
        try:
            with serving(notifier.route) as url:
                yield Stack(url, recorder, clock)
        finally:
            stop.set()
            flusher.join()


def test_a_notification_reaches_its_channel(stack: Stack) -> None:
    assert call("POST", f"{stack.notifier}/notify/email", body()) == (200, "delivered\n")
    [entry] = stack.received("email")
    assert entry["channel"] == "email" and entry["kind"] == "alert"
    assert (entry["status"], entry["severity"]) == ("firing", "critical")
    assert entry["title"] == "[CRITICAL] PostgresPrimaryDown firing (1 alert)"
    assert "db1:9187 firing since 2024-05-01T12:00:00Z: db1 does not answer" in entry["text"]
    assert entry["alerts"] == payload()["alerts"]
    assert "received_at" in entry
    assert call("DELETE", f"{stack.recorder}/email") == (200, "cleared\n")
    assert stack.received("email") == []


def test_unknown_channels_and_malformed_payloads_are_refused(stack: Stack) -> None:
    status, text = call("POST", f"{stack.notifier}/notify/pager", body())
    assert (status, text) == (404, "unknown channel 'pager' (configured: email, sms)\n")
    status, text = call("POST", f"{stack.notifier}/notify/email", b"{not json")
    assert status == 400 and text.startswith("malformed JSON: ")
    status, text = call("POST", f"{stack.notifier}/notify/email", b'{"status": "firing"}')
    assert (status, text) == (400, "$.alerts: expected a non-empty list of alerts, found None\n")
    assert call("GET", f"{stack.notifier}/notify/email")[0] == 404
    assert stack.received("email") == []


def test_a_failing_channel_is_answered_502_for_alertmanager_to_retry(stack: Stack) -> None:
    status, text = call("POST", f"{stack.notifier}/notify/sms", body())
    assert (status, text) == (502, "sms: delivery failed: HTTP 503\n")
    metrics = call("GET", f"{stack.notifier}/metrics")[1]
    assert 'tragen_notifier_notifications_total{channel="sms",kind="alert",outcome="failed"} 1' \
        in metrics
    assert 'tragen_notifier_notifications_total{channel="sms",kind="alert",outcome="delivered"} 0'\
        in metrics


def test_the_cap_folds_and_the_next_window_brings_one_summary(stack: Stack) -> None:
    replies = [call("POST", f"{stack.notifier}/notify/email", body())[1] for _ in range(5)]
    assert replies == ["delivered\n"] * 3 + ["folded into the next window's summary\n"] * 2
    assert len(stack.received("email")) == 3
    stack.clock.now = T0 + 300  # the flusher sends the summary without another alert
    wait_for(lambda: len(stack.received("email")) == 4)
    summary = stack.received("email")[-1]
    assert (summary["kind"], summary["folded"]) == ("summary", 2)
    assert summary["folded_alerts"] == [
        {"alertname": "PostgresPrimaryDown", "status": "firing", "count": 2}]
    metrics = call("GET", f"{stack.notifier}/metrics")[1]
    assert 'tragen_notifier_folded_total{channel="email"} 2' in metrics
    assert 'tragen_notifier_pending_summaries{channel="email"} 0' in metrics
    assert ('tragen_notifier_notifications_total{channel="email",kind="summary",'
            'outcome="delivered"} 1') in metrics


def test_both_sides_answer_healthz(stack: Stack) -> None:
    assert call("GET", f"{stack.notifier}/healthz") == (200, "ok\n")
    assert call("GET", f"{stack.recorder}/healthz") == (200, "ok\n")
    assert call("GET", f"{stack.recorder}/../state")[0] == 404


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_serve_stops_on_sigterm_and_saves_its_state(tmp_path: Path) -> None:
    with serving(tn.Recorder(tmp_path / "recorded").route) as recorder:
        port = free_port()
        config = config_dict(tmp_path, {"email": f"{recorder}/email"}, listen=f"127.0.0.1:{port}")
        (tmp_path / "config.json").write_text(json.dumps(config))
        command = [sys.executable, str(SCRIPT), "serve", "--config", str(tmp_path / "config.json")]
        process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
        try:
            wait_for(lambda: _answers(f"http://127.0.0.1:{port}/healthz"), seconds=5)
            assert call("POST", f"http://127.0.0.1:{port}/notify/email", body())[0] == 200
            process.send_signal(signal.SIGTERM)
            _, log = process.communicate(timeout=5)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    assert process.returncode == 0, log
    assert "email: delivered alert PostgresPrimaryDown firing" in log.splitlines()
    saved = json.loads(Path(config["state_file"]).read_text())
    assert saved["channels"]["email"]["delivered"] == 1


def _answers(url: str) -> bool:
    try:
        return call("GET", url)[0] == 200
    except OSError:
        return False

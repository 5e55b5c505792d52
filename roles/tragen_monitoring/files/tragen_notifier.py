#!/usr/bin/env python3
"""Tragen alert notifier: Alertmanager webhooks in, capped notifications per channel out.

One file, standard library only: it runs with Debian 12's /usr/bin/python3 on the monitoring
host. Two subcommands:

serve --config CONFIG.json
    Alertmanager (0.25, webhook payload version 4) routes each severity to one receiver per
    escalation level, with one webhook per channel: POST /notify/<channel>. One POST is one
    notification; the notifier delivers it as JSON to the channel's endpoint (a webhook URL
    from the inventory). Alertmanager has no per-window limit on notifications, so the
    notifier enforces one, per channel:

    * windows are fixed and aligned on multiples of window_seconds of UTC wall-clock time
      (with 300: 12:00:00-12:05:00, 12:05:00-12:10:00, ...), so the limit is predictable and
      a restart does not move it;
    * within a window at most max_per_window notifications are delivered; the ones beyond are
      folded: their alert names, statuses and counts are kept and Alertmanager gets 200;
    * when the next window begins the channel gets ONE summary of what was folded. It is the
      new window's first delivery and counts against its cap; it is never folded itself. A
      summary that cannot be delivered stays pending and is retried every second (folds of
      later windows join it).

    A notification whose delivery fails (connection error, non-2xx) is answered 502 so that
    Alertmanager retries it, and does not count against the cap. Window counts and folded
    alerts are written to state_file after each change (atomically) and read at start: a
    restart neither loses a folded alert nor resets a window. GET /healthz answers "ok",
    GET /metrics the Prometheus text format. SIGTERM stops serving, saves the state and exits
    0. A bad config exits 2 with one line per problem, naming the key.

record --listen HOST:PORT --dir DIR [--fail-channel NAME ...]
    A stand-in channel endpoint for sandboxes and tests. POST /<channel> appends the JSON body
    plus "received_at" as one line to DIR/<channel>.jsonl; GET /<channel> answers the JSON list
    of what the channel received; DELETE /<channel> clears it; GET /healthz answers "ok".
    --fail-channel NAME (repeatable) answers 503 to POSTs for NAME, to exercise retries.
"""

import argparse
import contextlib
import http.client
import json
import logging
import os
import re
import signal
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

log = logging.getLogger("tragen_notifier")

T = TypeVar("T")

SEVERITIES = ("info", "warning", "critical", "emergency")
"""Least to most severe; a summary carries the most severe severity it folded."""

CHANNEL_NAME = re.compile(r"[a-z][a-z0-9_-]*")
"""Channel names are URL path segments and metric label values: nothing to escape in either."""

MAX_BODY = 16 * 1024 * 1024
"""Larger requests are refused (413) before they are read into memory."""

STATE_VERSION = 1
DEFAULT_DELIVERY_TIMEOUT = 5.0
TEXT = "text/plain; charset=utf-8"
JSON = "application/json"
METRICS = "text/plain; version=0.0.4; charset=utf-8"


# --- configuration -------------------------------------------------------------------------

CONFIG_KEYS = frozenset(
    {"listen", "window_seconds", "max_per_window", "state_file", "channels",
     "delivery_timeout_seconds"})
OPTIONAL_CONFIG_KEYS = frozenset({"delivery_timeout_seconds"})


class ConfigError(Exception):
    """A config that cannot be served. Each problem is one line naming its key (`$.a.b: ...`),
    so that one look at the journal shows everything to fix in the inventory."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Config:
    listen: tuple[str, int]
    window_seconds: int
    max_per_window: int
    state_file: Path
    channels: dict[str, str]
    """Channel name -> the URL its notifications are POSTed to."""
    delivery_timeout_seconds: float = DEFAULT_DELIVERY_TIMEOUT


def parse_listen(value: object) -> tuple[str, int]:
    """HOST:PORT, as the config's `listen` and record's --listen spell it."""
    if isinstance(value, str):
        host, _, port = value.rpartition(":")
        if host and port.isdigit() and 0 < int(port) < 65536:
            return host, int(port)
    raise ValueError(f"expected HOST:PORT, found {value!r}")


def positive_int(value: object) -> int:
    # bool is an int to Python, but `true` is no window length.
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value
    raise ValueError(f"expected a whole number >= 1, found {value!r}")


def positive_seconds(value: object) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    raise ValueError(f"expected a number of seconds > 0, found {value!r}")


def absolute_path(value: object) -> Path:
    """The state file must not depend on the service's working directory."""
    if isinstance(value, str) and Path(value).is_absolute():
        return Path(value)
    raise ValueError(f"expected an absolute path, found {value!r}")


def http_url(value: object) -> str:
    if isinstance(value, str):
        with contextlib.suppress(ValueError):  # urlsplit rejects e.g. an unclosed "[" host
            parts = urlsplit(value)
            if parts.scheme in ("http", "https") and parts.hostname:
                return value
    raise ValueError(f"expected an http(s) URL, found {value!r}")


def _key_problems(raw: dict[str, Any], known: frozenset[str], optional: frozenset[str],
                  path: str) -> list[str]:
    """Unknown keys are reported too: a misspelt key would otherwise be silently ignored."""
    unknown = [f"{path}.{key}: unknown key (known: {', '.join(sorted(known))})"
               for key in sorted(raw.keys() - known)]
    missing = [f"{path}.{key}: required key missing"
               for key in sorted(known - optional - raw.keys())]
    return unknown + missing


def _checked(problems: list[str], path: str, check: Callable[[object], T],
             value: object) -> T | None:
    """check(value), or None with the problem recorded, so that checking goes on."""
    try:
        return check(value)
    except ValueError as error:
        problems.append(f"{path}: {error}")
        return None


def _parse_channels(value: object, problems: list[str]) -> dict[str, str] | None:
    if not isinstance(value, dict) or not value:
        problems.append(f'$.channels: expected an object {{"<channel>": {{"url": ...}}}}, '
                        f"found {value!r}")
        return None
    channels = {}
    for name, entry in value.items():
        if not CHANNEL_NAME.fullmatch(name):
            problems.append(f"$.channels.{name}: a channel name is lowercase letters, digits, "
                            "'-' and '_'")
        elif (url := _channel_url(f"$.channels.{name}", entry, problems)) is not None:
            channels[name] = url
    return channels


def _channel_url(path: str, entry: object, problems: list[str]) -> str | None:
    if not isinstance(entry, dict):
        problems.append(f'{path}: expected an object {{"url": ...}}, found {entry!r}')
        return None
    problems.extend(_key_problems(entry, frozenset({"url"}), frozenset(), path))
    return _checked(problems, f"{path}.url", http_url, entry["url"]) if "url" in entry else None


def parse_config(raw: object) -> Config:
    """The Config of a parsed config.json; ConfigError lists every problem, not just the first."""
    if not isinstance(raw, dict):
        raise ConfigError([f"$: expected an object, found {type(raw).__name__}"])
    problems = _key_problems(raw, CONFIG_KEYS, OPTIONAL_CONFIG_KEYS, "$")

    def take(key: str, check: Callable[[object], T]) -> T | None:
        return _checked(problems, f"$.{key}", check, raw[key]) if key in raw else None

    listen = take("listen", parse_listen)
    window_seconds = take("window_seconds", positive_int)
    max_per_window = take("max_per_window", positive_int)
    state_file = take("state_file", absolute_path)
    timeout = take("delivery_timeout_seconds", positive_seconds)
    channels = _parse_channels(raw["channels"], problems) if "channels" in raw else None
    if problems:
        raise ConfigError(problems)
    # Without a problem recorded, every required value was taken.
    assert listen is not None and window_seconds is not None and max_per_window is not None
    assert state_file is not None and channels is not None
    return Config(listen=listen, window_seconds=window_seconds, max_per_window=max_per_window,
                  state_file=state_file, channels=channels,
                  delivery_timeout_seconds=DEFAULT_DELIVERY_TIMEOUT if timeout is None else timeout)


def load_config(path: Path) -> Config:
    """Reads and checks config.json; every problem line starts with the file's path."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigError([f"{path}: cannot read: {error.strerror or error}"]) from None
    except ValueError as error:
        raise ConfigError([f"{path}: not valid JSON: {error}"]) from None
    try:
        return parse_config(raw)
    except ConfigError as error:
        raise ConfigError([f"{path}: {problem}" for problem in error.problems]) from None


# --- Alertmanager payloads and what the channels receive -----------------------------------

class PayloadError(ValueError):
    """A request the notifier cannot render; answered 400 with this reason (no retry: a
    retried malformed payload stays malformed)."""


@dataclass(frozen=True)
class Notification:
    """One Alertmanager webhook call, as much of it as rendering and folding need."""

    status: str
    severity: str
    alerts: list[dict[str, Any]]
    common_labels: dict[str, Any]
    external_url: str

    def alertnames(self) -> list[str]:
        return list(dict.fromkeys(_alertname(alert) for alert in self.alerts))

    def describe(self) -> str:
        """`PostgresPrimaryDown firing`: the words of titles and log lines."""
        names = self.common_labels.get("alertname") or _listing(self.alertnames())
        return f"{names} {self.status}"

    def folded_keys(self) -> list[tuple[str, str]]:
        """(alertname, status) of each alert: what a summary counts."""
        return [(_alertname(alert), str(alert.get("status", self.status))) for alert in self.alerts]


def parse_payload(body: bytes) -> Notification:
    """Checks the parts of a version 4 webhook payload that rendering relies on."""
    try:
        raw = json.loads(body)
    except ValueError as error:  # JSONDecodeError, or bytes that are no Unicode text
        raise PayloadError(f"malformed JSON: {error}") from None
    if not isinstance(raw, dict):
        raise PayloadError("expected a JSON object (an Alertmanager webhook payload)")
    status = raw.get("status")
    if status not in ("firing", "resolved"):
        raise PayloadError(f"$.status: expected 'firing' or 'resolved', found {status!r}")
    alerts = raw.get("alerts")
    if not isinstance(alerts, list) or not alerts:
        raise PayloadError(f"$.alerts: expected a non-empty list of alerts, found {alerts!r}")
    for index, alert in enumerate(alerts):
        if not isinstance(alert, dict) or not isinstance(alert.get("labels"), dict):
            raise PayloadError(f"$.alerts[{index}].labels: expected an object")
        if not isinstance(alert.get("annotations", {}), dict):
            raise PayloadError(f"$.alerts[{index}].annotations: expected an object")
    common = raw.get("commonLabels", {})
    if not isinstance(common, dict):
        raise PayloadError("$.commonLabels: expected an object")
    return Notification(status=status, severity=str(common.get("severity", "unknown")),
                        alerts=alerts, common_labels=common,
                        external_url=str(raw.get("externalURL", "")))


def _alertname(alert: dict[str, Any]) -> str:
    return str(alert["labels"].get("alertname", "unnamed"))


def _listing(names: list[str], limit: int = 3) -> str:
    """Keeps a title on one line however many alerts a group holds."""
    shown = ", ".join(names[:limit])
    return shown if len(names) <= limit else f"{shown} +{len(names) - limit} more"


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _utc(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def alert_line(alert: dict[str, Any], status: str) -> str:
    """`- PostgresPrimaryDown on db1:9187 firing since 2024-05-01T12:00:00Z: <summary>`."""
    labels, notes = alert["labels"], alert.get("annotations", {})
    where = f" on {labels['instance']}" if "instance" in labels else ""
    if alert.get("status", status) == "resolved":
        when = f"resolved at {alert.get('endsAt', '?')}"
    else:
        when = f"firing since {alert.get('startsAt', '?')}"
    what = notes.get("summary") or notes.get("description")
    return f"- {_alertname(alert)}{where} {when}" + (f": {what}" if what else "")


def render_alert(channel: str, notification: Notification) -> dict[str, Any]:
    """The JSON a channel endpoint receives for a delivered notification."""
    lines = [alert_line(alert, notification.status) for alert in notification.alerts]
    if notification.external_url:
        lines.append(f"Alertmanager: {notification.external_url}")
    count = _plural(len(notification.alerts), "alert")
    return {
        "channel": channel,
        "kind": "alert",
        "status": notification.status,
        "severity": notification.severity,
        "title": f"[{notification.severity.upper()}] {notification.describe()} ({count})",
        "text": "\n".join(lines),
        "alerts": notification.alerts,
    }


# --- the window cap: pure functions of (state, channel, now) ------------------------------

def _rank(severity: str) -> int:
    return SEVERITIES.index(severity) if severity in SEVERITIES else -1


@dataclass
class FoldBucket:
    """The notifications one channel folded in one window; their summary is due when the
    window ends."""

    window_start: int
    severity: str
    notifications: int = 0
    alerts: Counter[tuple[str, str]] = field(default_factory=Counter)
    """(alertname, status) -> how many such alerts the folded notifications held."""


@dataclass
class ChannelState:
    """What the cap keeps of one channel: the deliveries of its current window, and the folds
    no summary has reported yet."""

    window_start: int = 0
    delivered: int = 0
    folded: list[FoldBucket] = field(default_factory=list)


State = dict[str, ChannelState]


@dataclass(frozen=True)
class Decision:
    deliver: bool
    window_start: int
    delivered: int
    """Deliveries counted in the window, this notification's included when it is delivered."""


@dataclass(frozen=True)
class FoldedAlert:
    alertname: str
    status: str
    count: int


@dataclass(frozen=True)
class Summary:
    """The one notification that reports a channel's folds once their windows have ended."""

    channel: str
    windows: tuple[int, ...]
    since: int
    until: int
    notifications: int
    severity: str
    alerts: tuple[FoldedAlert, ...]
    """Most frequent first."""

    @property
    def status(self) -> str:
        return "firing" if any(alert.status == "firing" for alert in self.alerts) else "resolved"


@dataclass(frozen=True)
class WindowCap:
    """The per-channel cap. Time comes in as `now` and the state is an argument, so the cap's
    behaviour is testable without a clock, a server or a file."""

    window_seconds: int
    max_per_window: int

    def window_start(self, now: float) -> int:
        """Windows are aligned on the epoch, so every process and restart agrees on them."""
        return int(now // self.window_seconds) * self.window_seconds

    def _current(self, state: State, channel: str, now: float) -> ChannelState:
        """The channel's state, its count moved on to now's window. A clock stepped back keeps
        the later window: a count never starts over early."""
        current = state.setdefault(channel, ChannelState())
        window = self.window_start(now)
        if window > current.window_start:
            current.window_start, current.delivered = window, 0
        return current

    def admit(self, state: State, channel: str, now: float) -> Decision:
        """Deliver while now's window has room, or fold. Delivering reserves the slot before the
        delivery is tried, so that concurrent requests cannot overrun the cap; `release` gives
        it back when the delivery fails."""
        current = self._current(state, channel, now)
        deliver = current.delivered < self.max_per_window
        if deliver:
            current.delivered += 1
        return Decision(deliver, current.window_start, current.delivered)

    def release(self, state: State, channel: str, window_start: int) -> None:
        """Only delivered notifications count: a failed one frees its slot (if its window is
        still the current one)."""
        current = state.get(channel)
        if current and current.window_start == window_start and current.delivered > 0:
            current.delivered -= 1

    def fold(self, state: State, channel: str, window_start: int,
             notification: Notification) -> None:
        """Records a notification the cap held back, for the summary due when its window ends."""
        folded = state.setdefault(channel, ChannelState()).folded
        bucket = next((b for b in folded if b.window_start == window_start), None)
        if bucket is None:
            bucket = FoldBucket(window_start, notification.severity)
            folded.append(bucket)
        bucket.notifications += 1
        bucket.severity = max(bucket.severity, notification.severity, key=_rank)
        bucket.alerts.update(notification.folded_keys())

    def due_summary(self, state: State, channel: str, now: float) -> Summary | None:
        """The summary owed to the channel at now: the folds of every window that has ended, as
        one notification (several windows when an earlier summary could not be delivered)."""
        current = self.window_start(now)
        due = [b for b in state.get(channel, ChannelState()).folded if b.window_start < current]
        if not due:
            return None
        counts: Counter[tuple[str, str]] = Counter()
        for bucket in due:
            counts.update(bucket.alerts)
        ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
        return Summary(
            channel=channel,
            windows=tuple(b.window_start for b in due),
            since=min(b.window_start for b in due),
            until=max(b.window_start for b in due) + self.window_seconds,
            notifications=sum(b.notifications for b in due),
            severity=max((b.severity for b in due), key=_rank),
            alerts=tuple(FoldedAlert(name, status, count) for (name, status), count in ranked),
        )

    def summary_delivered(self, state: State, summary: Summary, now: float) -> None:
        """Forgets the folds the summary reported and counts it in now's window. It is that
        window's first delivery unless its own delivery had to be retried; a summary is never
        folded, even into a full window."""
        current = self._current(state, summary.channel, now)
        current.folded = [b for b in current.folded if b.window_start not in summary.windows]
        current.delivered += 1


def render_summary(summary: Summary, cap: WindowCap) -> dict[str, Any]:
    """The JSON a channel endpoint receives for a summary."""
    heads = _listing([f"{a.alertname} {a.status} ({a.count})" for a in summary.alerts])
    lines = [f"{summary.channel} takes at most {cap.max_per_window} notifications per "
             f"{cap.window_seconds} s; held back between {_utc(summary.since)} and "
             f"{_utc(summary.until)}:"]
    lines += [f"- {a.alertname} {a.status}: {_plural(a.count, 'alert')}" for a in summary.alerts]
    return {
        "channel": summary.channel,
        "kind": "summary",
        "status": summary.status,
        "severity": summary.severity,
        "title": f"[{summary.severity.upper()}] "
                 f"{_plural(summary.notifications, 'folded notification')}: {heads}",
        "text": "\n".join(lines),
        "alerts": [],
        "folded": summary.notifications,
        "folded_alerts": [{"alertname": a.alertname, "status": a.status, "count": a.count}
                          for a in summary.alerts],
    }


# --- the state file ------------------------------------------------------------------------

def state_to_json(state: State) -> dict[str, Any]:
    return {"version": STATE_VERSION, "channels": {
        name: {
            "window_start": current.window_start,
            "delivered": current.delivered,
            "folded": [{
                "window_start": bucket.window_start,
                "severity": bucket.severity,
                "notifications": bucket.notifications,
                "alerts": [{"alertname": alertname, "status": status, "count": count}
                           for (alertname, status), count in sorted(bucket.alerts.items())],
            } for bucket in current.folded],
        } for name, current in sorted(state.items())}}


def state_from_json(raw: Any) -> State:
    """Raises ValueError, KeyError, TypeError or AttributeError for anything save_state does
    not write."""
    if raw["version"] != STATE_VERSION:
        raise ValueError(f"unknown state version {raw['version']!r}")
    return {name: ChannelState(window_start=int(current["window_start"]),
                               delivered=int(current["delivered"]),
                               folded=[_bucket_from_json(bucket) for bucket in current["folded"]])
            for name, current in raw["channels"].items()}


def _bucket_from_json(raw: Any) -> FoldBucket:
    alerts = Counter({(str(a["alertname"]), str(a["status"])): int(a["count"])
                      for a in raw["alerts"]})
    return FoldBucket(window_start=int(raw["window_start"]), severity=str(raw["severity"]),
                      notifications=int(raw["notifications"]), alerts=alerts)


def save_state(path: Path, state: State) -> None:
    """Writes the state atomically: after a crash the file is the old state or the new one,
    never a mix (temporary file, fsync, rename, fsync of the directory for the rename)."""
    partial = path.with_name(path.name + ".partial")
    with open(partial, "w", encoding="utf-8") as file:
        json.dump(state_to_json(state), file, indent=1)
        file.flush()
        os.fsync(file.fileno())
    os.replace(partial, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def load_state(path: Path, channels: Iterable[str]) -> State:
    """The saved state of the configured channels. An unreadable file is moved aside rather
    than refused: a notifier that does not start delivers nothing at all."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    try:
        state = state_from_json(json.loads(text))
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        aside = path.with_name(path.name + ".bad")
        os.replace(path, aside)
        log.error("state: %s is unreadable (%s); moved to %s, starting with empty windows",
                  path, error, aside)
        return {}
    for name in sorted(state.keys() - set(channels)):
        dropped = sum(bucket.notifications for bucket in state.pop(name).folded)
        log.warning("state: channel %s is no longer configured; %d folded notifications dropped",
                    name, dropped)
    return state


# --- delivery and the serve side -----------------------------------------------------------

class DeliveryError(Exception):
    """A channel endpoint that did not take a notification; the message says why."""


Sender = Callable[[str, dict[str, Any], float], None]
"""(url, payload, timeout) -> None, raising DeliveryError: post_json, or a test's fake."""


def post_json(url: str, payload: dict[str, Any], timeout: float) -> None:
    """POSTs payload as JSON; anything but a 2xx answer raises DeliveryError."""
    request = urllib.request.Request(url, data=json.dumps(payload).encode(), method="POST",
                                     headers={"Content-Type": JSON})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status: int = response.status
    except urllib.error.HTTPError as error:
        error.close()
        raise DeliveryError(f"HTTP {error.code}") from None
    except (OSError, http.client.HTTPException) as error:
        raise DeliveryError(str(error) or type(error).__name__) from None
    if not 200 <= status < 300:
        raise DeliveryError(f"HTTP {status}")


@dataclass(frozen=True)
class Reply:
    status: int
    body: str
    content_type: str = TEXT


App = Callable[[str, str, bytes], Reply]
"""(method, path, body) -> Reply: the HTTP layer stays out of the notifier and the recorder."""


def render_metrics(channels: Iterable[str], sent: Counter[tuple[str, str, str]],
                   folded: Counter[str], pending: dict[str, int]) -> str:
    """Prometheus text format, every series present from the start (zeros included), so that
    rate() and absent() work before the first alert."""
    names = sorted(channels)
    lines = [
        "# HELP tragen_notifier_notifications_total Deliveries tried by channel, kind, outcome.",
        "# TYPE tragen_notifier_notifications_total counter",
    ]
    lines += [f'tragen_notifier_notifications_total{{channel="{name}",kind="{kind}",'
              f'outcome="{outcome}"}} {sent[name, kind, outcome]}'
              for name in names for kind in ("alert", "summary")
              for outcome in ("delivered", "failed")]
    lines += [
        "# HELP tragen_notifier_folded_total Notifications held back by the window cap.",
        "# TYPE tragen_notifier_folded_total counter",
    ]
    lines += [f'tragen_notifier_folded_total{{channel="{name}"}} {folded[name]}' for name in names]
    lines += [
        "# HELP tragen_notifier_pending_summaries Windows whose folds no summary has reported yet.",
        "# TYPE tragen_notifier_pending_summaries gauge",
    ]
    lines += [f'tragen_notifier_pending_summaries{{channel="{name}"}} {pending.get(name, 0)}'
              for name in names]
    return "\n".join(lines) + "\n"


class Notifier:
    """The serve side: Alertmanager notifications in, capped deliveries out, state on disk.

    Each channel delivers one notification at a time (a lock per channel): the flusher thread
    and a request can then never both send the same due summary, and a due summary goes out
    before the new window's alerts. Channels do not wait for each other. The state lock guards
    the state, the metrics counters and the state file."""

    def __init__(self, config: Config, *, clock: Callable[[], float] = time.time,
                 send: Sender = post_json) -> None:
        self.config = config
        self.cap = WindowCap(config.window_seconds, config.max_per_window)
        self.clock = clock
        self.send = send
        config.state_file.parent.mkdir(parents=True, exist_ok=True)
        self.state = load_state(config.state_file, config.channels)
        self._state_lock = threading.Lock()
        self._channel_locks = {name: threading.Lock() for name in config.channels}
        self._sent: Counter[tuple[str, str, str]] = Counter()
        self._folded: Counter[str] = Counter()
        self._summary_failures: dict[str, str] = {}

    def route(self, method: str, path: str, body: bytes) -> Reply:
        if method == "GET" and path == "/healthz":
            return Reply(200, "ok\n")
        if method == "GET" and path == "/metrics":
            return Reply(200, self.metrics(), METRICS)
        if method == "POST" and path.startswith("/notify/"):
            return self.notify(path.removeprefix("/notify/"), body)
        return Reply(404, f"no route for {method} {path}\n")

    def notify(self, channel: str, body: bytes) -> Reply:
        """One Alertmanager webhook call for one channel: deliver it, or fold it (200 both);
        502 when the delivery failed, so that Alertmanager retries."""
        if channel not in self.config.channels:
            known = ", ".join(sorted(self.config.channels))
            return Reply(404, f"unknown channel {channel!r} (configured: {known})\n")
        try:
            notification = parse_payload(body)
        except PayloadError as error:
            return Reply(400, f"{error}\n")
        with self._channel_locks[channel]:
            self._send_summary_if_due(channel)
            decision = self._admit(channel, notification)
            if not decision.deliver:
                return Reply(200, "folded into the next window's summary\n")
            return self._deliver(channel, notification, decision)

    def flush_due(self) -> None:
        """Sends every channel's due summary, if any."""
        for channel, lock in self._channel_locks.items():
            with lock:
                self._send_summary_if_due(channel)

    def flush_until(self, stop: threading.Event, interval: float = 1.0) -> None:
        """The flusher thread: summaries go out when a window begins, even if no alert comes."""
        while not stop.wait(interval):
            try:
                self.flush_due()
            except Exception:  # a full disk or a bug must not stop all later summaries
                log.exception("flusher: sending due summaries failed")

    def save(self) -> None:
        with self._state_lock:
            save_state(self.config.state_file, self.state)

    def metrics(self) -> str:
        with self._state_lock:
            pending = {name: len(current.folded) for name, current in self.state.items()}
            return render_metrics(self.config.channels, self._sent, self._folded, pending)

    def _admit(self, channel: str, notification: Notification) -> Decision:
        with self._state_lock:
            decision = self.cap.admit(self.state, channel, self.clock())
            if not decision.deliver:
                self.cap.fold(self.state, channel, decision.window_start, notification)
                self._folded[channel] += 1
            save_state(self.config.state_file, self.state)
        if not decision.deliver:
            log.info("%s: folded (%d/%d this window) alert %s; summary due at %s", channel,
                     decision.delivered, self.cap.max_per_window, notification.describe(),
                     _utc(decision.window_start + self.cap.window_seconds))
        return decision

    def _deliver(self, channel: str, notification: Notification, decision: Decision) -> Reply:
        try:
            self.send(self.config.channels[channel], render_alert(channel, notification),
                      self.config.delivery_timeout_seconds)
        except DeliveryError as error:
            with self._state_lock:
                self.cap.release(self.state, channel, decision.window_start)
                self._sent[channel, "alert", "failed"] += 1
                save_state(self.config.state_file, self.state)
            log.warning("%s: delivery of alert %s failed: %s (answered 502: Alertmanager "
                        "retries)", channel, notification.describe(), error)
            return Reply(502, f"{channel}: delivery failed: {error}\n")
        with self._state_lock:
            self._sent[channel, "alert", "delivered"] += 1
        log.info("%s: delivered alert %s", channel, notification.describe())
        return Reply(200, "delivered\n")

    def _send_summary_if_due(self, channel: str) -> None:
        """Called with the channel's lock held."""
        with self._state_lock:
            summary = self.cap.due_summary(self.state, channel, self.clock())
        if summary is None:
            return
        try:
            self.send(self.config.channels[channel], render_summary(summary, self.cap),
                      self.config.delivery_timeout_seconds)
        except DeliveryError as error:
            with self._state_lock:
                self._sent[channel, "summary", "failed"] += 1
            self._log_summary_failure(summary, str(error))
            return
        with self._state_lock:
            self.cap.summary_delivered(self.state, summary, self.clock())
            self._sent[channel, "summary", "delivered"] += 1
            save_state(self.config.state_file, self.state)
        self._summary_failures.pop(channel, None)
        log.info("%s: summary of %d folded notifications delivered", channel,
                 summary.notifications)

    def _log_summary_failure(self, summary: Summary, reason: str) -> None:
        """A failing summary is retried every second: its failure is logged when the reason
        changes, not at every retry."""
        if self._summary_failures.get(summary.channel) != reason:
            self._summary_failures[summary.channel] = reason
            log.warning("%s: summary of %d folded notifications failed: %s (retried every "
                        "second)", summary.channel, summary.notifications, reason)


# --- the record side -----------------------------------------------------------------------

class Recorder:
    """A channel endpoint that keeps what it receives, one JSON line per notification."""

    def __init__(self, directory: Path, fail_channels: Iterable[str] = ()) -> None:
        self.directory = directory
        self.fail_channels = frozenset(fail_channels)
        self._lock = threading.Lock()
        directory.mkdir(parents=True, exist_ok=True)

    def route(self, method: str, path: str, body: bytes) -> Reply:
        if method == "GET" and path == "/healthz":
            return Reply(200, "ok\n")
        channel = path.removeprefix("/")
        if not CHANNEL_NAME.fullmatch(channel):  # also keeps paths out of other directories
            return Reply(404, f"no channel at {path}\n")
        if method == "POST":
            return self.record(channel, body)
        if method == "GET":
            return Reply(200, json.dumps(self.received(channel)), JSON)
        self.clear(channel)  # DELETE, the one other method make_server dispatches
        return Reply(200, "cleared\n")

    def record(self, channel: str, body: bytes) -> Reply:
        if channel in self.fail_channels:
            return Reply(503, f"{channel}: failing on purpose (--fail-channel)\n")
        try:
            entry = json.loads(body)
        except ValueError as error:
            return Reply(400, f"malformed JSON: {error}\n")
        if not isinstance(entry, dict):
            return Reply(400, "expected a JSON object\n")
        entry["received_at"] = datetime.now(UTC).isoformat(timespec="milliseconds")
        with self._lock, open(self._file(channel), "a", encoding="utf-8") as file:
            file.write(json.dumps(entry, sort_keys=True) + "\n")
        return Reply(200, "recorded\n")

    def received(self, channel: str) -> list[Any]:
        with self._lock:
            try:
                lines = self._file(channel).read_text(encoding="utf-8").splitlines()
            except FileNotFoundError:
                return []
        return [json.loads(line) for line in lines]

    def clear(self, channel: str) -> None:
        with self._lock:
            self._file(channel).unlink(missing_ok=True)

    def _file(self, channel: str) -> Path:
        return self.directory / f"{channel}.jsonl"


# --- HTTP and process plumbing -------------------------------------------------------------

def make_server(address: tuple[str, int], app: App) -> ThreadingHTTPServer:
    """A threading HTTP server that hands GET, POST and DELETE requests to app."""

    class Handler(BaseHTTPRequestHandler):
        server_version = "tragen-notifier"

        def do_GET(self) -> None:
            self._answer(self._route())

        do_POST = do_DELETE = do_GET

        def _route(self) -> Reply:
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                return Reply(400, "bad Content-Length\n")
            if length > MAX_BODY:
                return Reply(413, f"request body over {MAX_BODY} bytes\n")
            body = self.rfile.read(length) if length > 0 else b""
            return app(self.command, urlsplit(self.path).path, body)

        def _answer(self, reply: Reply) -> None:
            data = reply.body.encode()
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            """No access lines: the journal gets one line per decision instead."""

    return ThreadingHTTPServer(address, Handler)


def run_until_signal(server: ThreadingHTTPServer,
                     background: Callable[[threading.Event], None] | None = None) -> None:
    """Serves (and runs background(stop) in a thread) until SIGTERM or SIGINT.

    The signals are blocked in every thread and taken with sigwait by the main thread, so no
    signal handler runs in the middle of a lock; shutdown() then stops serve_forever from
    outside its thread, as it must."""
    signals = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, signals)  # before the threads: they inherit it
    stop = threading.Event()
    threads = [threading.Thread(target=server.serve_forever, name="http")]
    if background is not None:
        threads.append(threading.Thread(target=background, args=(stop,), name="background"))
    for thread in threads:
        thread.start()
    received = signal.sigwait(signals)
    log.info("%s: stopping", signal.Signals(received).name)
    stop.set()
    server.shutdown()
    for thread in threads:
        thread.join()
    server.server_close()


def serve(config_path: Path) -> int:
    try:
        config = load_config(config_path)
    except ConfigError as error:
        for problem in error.problems:
            print(problem, file=sys.stderr)
        return 2
    notifier = Notifier(config)
    try:
        server = make_server(config.listen, notifier.route)
    except OSError as error:
        log.error("cannot listen on %s:%d: %s", *config.listen, error.strerror or error)
        return 1
    log.info("serving on %s:%d; channels %s, at most %d notifications each per %d s window",
             *config.listen, ", ".join(sorted(config.channels)), config.max_per_window,
             config.window_seconds)
    run_until_signal(server, notifier.flush_until)
    notifier.save()
    log.info("stopped; state saved to %s", config.state_file)
    return 0


def record(listen: tuple[str, int], directory: Path, fail_channels: list[str]) -> int:
    try:
        server = make_server(listen, Recorder(directory, fail_channels).route)
    except OSError as error:
        log.error("cannot listen on %s:%d: %s", *listen, error.strerror or error)
        return 1
    log.info("recording on %s:%d into %s; failing: %s", *listen, directory,
             ", ".join(fail_channels) or "none")
    run_until_signal(server)
    return 0


def _listen_argument(value: str) -> tuple[str, int]:
    try:
        return parse_listen(value)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tragen_notifier.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    serve_parser = commands.add_parser("serve", help="receive Alertmanager webhooks")
    serve_parser.add_argument("--config", type=Path, required=True, metavar="CONFIG.json")
    record_parser = commands.add_parser("record", help="a channel endpoint that records")
    record_parser.add_argument("--listen", type=_listen_argument, required=True,
                               metavar="HOST:PORT")
    record_parser.add_argument("--dir", type=Path, required=True, dest="directory", metavar="DIR")
    record_parser.add_argument("--fail-channel", action="append", default=[], metavar="NAME",
                               help="answer 503 to this channel's POSTs (repeatable)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    if args.command == "serve":
        return serve(args.config)
    return record(args.listen, args.directory, args.fail_channel)


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python
"""Make a staged release live on an app server and wait until it serves: one task.

Moving the links, restarting the service, polling /readyz and reading /version as separate
tasks cost a round trip each, and the poll's granularity (a retry delay of seconds) added to
every batch of a rollout. Here the host does it alone and answers once.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: tragen_app_switch
short_description: Make a staged release live, restart the runtime, wait until it is ready
description:
  - Refuses a release that is not staged (its C(config.yaml), C(venv/bin/gunicorn) and
    C(REVISION) under O(root)/releases/O(release)) before anything changes.
  - Points the C(previous) link at O(previous) (by default the release that was live, when it
    differs), then the C(current) link at the release, each replaced atomically.
  - Restarts the service when C(current) moved or O(restart) is true (after
    C(systemctl daemon-reload) when O(daemon_reload)); otherwise starts it if it is not running.
    Enables it at boot.
  - Polls O(ready_url) until it answers 200 (at most O(ready_timeout) seconds), then checks that
    O(version_url) names the release. A release that is not ready fails the task with the
    runtime's reasons and the end of its journal; the links stay on the new release, so the
    caller decides where to go back (by calling this module with the earlier release).
options:
  root: {description: The app's root (releases/, current, previous)., type: path, required: true}
  release: {description: The release to make live., type: str, required: true}
  link:
    description: The link under O(root) that the service runs (C(colours/green) for a colour).
    type: str
    default: current
  previous_link:
    description: The link under O(root) that keeps the earlier release; empty for none (a colour).
    type: str
    default: previous
  previous:
    description:
      - What C(previous) names afterwards. Omitted, the release that was live before (when it
        differs from O(release)). An empty string removes the link.
    type: str
  service: {description: The systemd unit., type: str, required: true}
  restart: {description: Restart even when C(current) does not move., type: bool, default: false}
  daemon_reload: {description: Reload systemd's units first., type: bool, default: false}
  ready_url: {description: GET answers 200 when the runtime is ready., type: str, required: true}
  version_url: {description: GET answers the runtime's release_id., type: str, required: true}
  ready_timeout: {description: Seconds to wait for ready., type: float, default: 90}
  poll_interval: {description: Seconds between polls of O(ready_url)., type: float, default: 0.2}
"""

RETURN = r"""
live_before: {description: The release C(current) named before., type: str, returned: always}
previous:
  description: The release C(previous) names now ("" for none).
  type: str
  returned: always
restart_seconds:
  description: From the restart until ready (0 when the service was not restarted).
  type: float
  returned: success
version: {description: What /version answered., type: dict, returned: success}
"""

STAGED_FILES = ("config.yaml", "venv/bin/gunicorn", "REVISION")

Runner = Callable[[Sequence[str]], tuple[int, str, str]]
# GET url -> (status, body); status 0 when nothing answered.
Getter = Callable[[str], tuple[int, bytes]]


@dataclass
class Outcome:
    changed: bool = False
    live_before: str = ""
    previous: str = ""
    restart_seconds: float = 0.0
    version: dict[str, Any] = field(default_factory=dict)
    error: str = ""


@dataclass(frozen=True)
class Host:
    """What the switch does on the host; tests give their own."""

    run: Runner
    get: Getter
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep


def link_target(path: str) -> str:
    """The release a link names (its target's last part), "" when there is no link."""
    try:
        return os.path.basename(os.readlink(path).rstrip("/"))
    except OSError:
        return ""


def point(link: str, target: str) -> None:
    """``link`` -> ``target``, replaced atomically: no moment without a link."""
    temporary = f"{link}.tragen-new"
    if os.path.lexists(temporary):
        os.unlink(temporary)
    os.symlink(target, temporary)
    os.replace(temporary, link)


def http_get(url: str, timeout: float = 3.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:  # noqa: S310 (host's own URL)
            return int(answer.status), bytes(answer.read())
    except urllib.error.HTTPError as error:
        return int(error.code), bytes(error.read())
    except (OSError, ValueError):
        return 0, b""


def _json(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _wait_ready(host: Host, url: str, timeout: float, interval: float) -> tuple[bool, bytes]:
    deadline = host.clock() + timeout
    status, body = host.get(url)
    while status != 200 and host.clock() < deadline:
        host.sleep(interval)
        status, body = host.get(url)
    return status == 200, body


def _not_ready(host: Host, service: str, release: str, timeout: float, body: bytes) -> str:
    reasons = "; ".join(str(reason) for reason in _json(body).get("reasons", []))
    _, journal, _ = host.run(
        ["journalctl", "--unit", service, "--lines", "25", "--no-pager", "--output", "short-iso"]
    )
    return (
        f"release {release} was not ready after {timeout:g} s. "
        f"/readyz: {reasons or 'no answer'}\n"
        f"Last lines of `journalctl -u {service}`:\n{journal.rstrip()}"
    )


def _systemctl(host: Host, *args: str) -> str:
    code, out, err = host.run(["systemctl", *args])
    return "" if code == 0 else f"systemctl {' '.join(args)} failed: {(err or out).strip()}"


def switch(
    *,
    root: str,
    release: str,
    previous: str | None,
    service: str,
    link: str = "current",
    previous_link_name: str = "previous",
    restart: bool,
    daemon_reload: bool,
    ready_url: str,
    version_url: str,
    ready_timeout: float,
    poll_interval: float,
    host: Host,
    check_mode: bool = False,
) -> Outcome:
    release_dir = os.path.join(root, "releases", release)
    current_link = os.path.join(root, link)
    previous_link = os.path.join(root, previous_link_name) if previous_link_name else ""
    live_before = link_target(current_link)
    previous_before = link_target(previous_link) if previous_link else ""
    outcome = Outcome(live_before=live_before, previous=previous_before)
    missing = [name for name in STAGED_FILES if not os.path.exists(os.path.join(release_dir, name))]
    if not release or missing:
        outcome.error = (
            f"release {release or '(none given)'} is not staged in {release_dir} "
            f"(missing {', '.join(missing) or 'a release id'}): run stage.yml first."
        )
        return outcome

    if not previous_link:
        previous = ""
    elif previous is None:
        previous = live_before if live_before not in ("", release) else previous_before
    moves = live_before != release
    outcome.previous = previous
    outcome.changed = moves or restart or previous != previous_before
    if check_mode:
        return outcome

    if previous != previous_before:
        if previous:
            point(previous_link, os.path.join(root, "releases", previous))
        elif os.path.lexists(previous_link):
            os.unlink(previous_link)
    if moves:
        os.makedirs(os.path.dirname(current_link), exist_ok=True)
        point(current_link, release_dir)
    steps: list[tuple[str, ...]] = [("daemon-reload",)] if daemon_reload else []
    code, state, _ = host.run(["systemctl", "is-enabled", service])
    if code != 0 or state.strip() != "enabled":
        steps.append(("enable", "--quiet", service))
        outcome.changed = True
    restarts = moves or restart
    if not restarts and host.run(["systemctl", "is-active", "--quiet", service])[0] != 0:
        steps.append(("start", service))
        outcome.changed = True
    for step in steps:
        if error := _systemctl(host, *step):
            outcome.error = error
            return outcome

    started = host.clock()
    if restarts and (error := _systemctl(host, "restart", service)):
        outcome.error = error
        return outcome
    ready, body = _wait_ready(host, ready_url, ready_timeout, poll_interval)
    if not ready:
        outcome.error = _not_ready(host, service, release, ready_timeout, body)
        return outcome
    if restarts:
        outcome.restart_seconds = round(host.clock() - started, 2)

    status, body = host.get(version_url)
    outcome.version = _json(body)
    running = outcome.version.get("release_id", "?")
    if status != 200 or running != release:
        outcome.error = f"runs release {running} after the switch, expected {release}."
    return outcome


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "root": {"type": "path", "required": True},
            "release": {"type": "str", "required": True},
            "previous": {"type": "str"},
            "link": {"type": "str", "default": "current"},
            "previous_link": {"type": "str", "default": "previous"},
            "service": {"type": "str", "required": True},
            "restart": {"type": "bool", "default": False},
            "daemon_reload": {"type": "bool", "default": False},
            "ready_url": {"type": "str", "required": True},
            "version_url": {"type": "str", "required": True},
            "ready_timeout": {"type": "float", "default": 90.0},
            "poll_interval": {"type": "float", "default": 0.2},
        },
        supports_check_mode=True,
    )

    def run(command: Sequence[str]) -> tuple[int, str, str]:
        code, out, err = module.run_command(list(command))
        return code, out, err

    params = module.params
    outcome = switch(
        root=params["root"],
        release=params["release"],
        previous=params["previous"],
        service=params["service"],
        link=params["link"],
        previous_link_name=params["previous_link"],
        restart=params["restart"],
        daemon_reload=params["daemon_reload"],
        ready_url=params["ready_url"],
        version_url=params["version_url"],
        ready_timeout=params["ready_timeout"],
        poll_interval=params["poll_interval"],
        host=Host(run=run, get=http_get),
        check_mode=module.check_mode,
    )
    result = {
        "changed": outcome.changed,
        "live_before": outcome.live_before,
        "previous": outcome.previous,
        "restart_seconds": outcome.restart_seconds,
        "version": outcome.version,
    }
    if outcome.error:
        module.fail_json(msg=outcome.error, **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()

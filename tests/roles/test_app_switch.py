"""tragen_app's one-task switch (library/tragen_app_switch.py): links, restart, ready, version."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.roles.role_files import load_role_file

SWITCH = load_role_file("tragen_app/library/tragen_app_switch.py")
READY, VERSION = "http://127.0.9.1:8000/readyz", "http://127.0.9.1:8000/version"


class FakeHost:
    """systemctl and journalctl recorded; the runtime becomes ready after ``ready_after``
    polls of /readyz and then names ``running`` (the release ``current`` points at when None)."""

    def __init__(self, root: Path, ready_after: int = 2, running: str | None = None,
                 enabled: bool = True) -> None:
        self.root, self.ready_after, self.running = root, ready_after, running
        self.enabled = enabled
        self.ran: list[list[str]] = []
        self.polls = 0
        self.now = 0.0

    def run(self, command: Sequence[str]) -> tuple[int, str, str]:
        self.ran.append(list(command))
        if command[:2] == ["systemctl", "is-enabled"]:
            return (0, "enabled\n", "") if self.enabled else (1, "disabled\n", "")
        if command[0] == "journalctl":
            return 0, "gunicorn: worker failed to boot\n", ""
        return 0, "", ""

    def get(self, url: str) -> tuple[int, bytes]:
        if url == READY:
            self.polls += 1
            if self.polls > self.ready_after:
                return 200, b'{"ready": true}'
            return 503, json.dumps({"ready": False, "reasons": ["database: refused"]}).encode()
        release = self.running or os.path.basename(os.readlink(self.root / "current"))
        return 200, json.dumps({"release_id": release}).encode()

    def sleep(self, seconds: float) -> None:
        self.now += seconds

    def host(self) -> Any:
        return SWITCH.Host(run=self.run, get=self.get, clock=lambda: self.now, sleep=self.sleep)

    def systemctl(self) -> list[list[str]]:
        return [c[1:] for c in self.ran if c[0] == "systemctl" and c[1] not in ("is-enabled",
                                                                                 "is-active")]


def stage(root: Path, *releases: str) -> None:
    for release in releases:
        base = root / "releases" / release
        (base / "venv" / "bin").mkdir(parents=True)
        for name in ("config.yaml", "venv/bin/gunicorn", "REVISION"):
            (base / name).write_text(release)


def live(root: Path, release: str, previous: str | None = None) -> None:
    os.symlink(root / "releases" / release, root / "current")
    if previous:
        os.symlink(root / "releases" / previous, root / "previous")


def switch(root: Path, fake: FakeHost, release: str, **more: Any) -> Any:
    args: dict[str, Any] = {
        "root": str(root), "release": release, "previous": None, "service": "tragen",
        "restart": False, "daemon_reload": False, "ready_url": READY, "version_url": VERSION,
        "ready_timeout": 10.0, "poll_interval": 0.5, "host": fake.host(), **more,
    }
    return SWITCH.switch(**args)


@pytest.fixture
def module() -> ModuleType:
    return SWITCH


def target(link: Path) -> str:
    return os.path.basename(os.readlink(link))


def test_a_new_release_goes_live_with_the_old_one_as_previous(tmp_path: Path) -> None:
    stage(tmp_path, "v1", "v2")
    live(tmp_path, "v1")
    fake = FakeHost(tmp_path)
    outcome = switch(tmp_path, fake, "v2")
    assert outcome.error == ""
    assert outcome.changed and outcome.live_before == "v1" and outcome.previous == "v1"
    assert (target(tmp_path / "current"), target(tmp_path / "previous")) == ("v2", "v1")
    assert fake.systemctl() == [["restart", "tragen"]]
    assert outcome.restart_seconds == 1.0  # two polls of 0.5 s
    assert outcome.version == {"release_id": "v2"}


def test_the_live_release_again_changes_nothing_and_restarts_nothing(tmp_path: Path) -> None:
    stage(tmp_path, "v1", "v2")
    live(tmp_path, "v2", previous="v1")
    fake = FakeHost(tmp_path, ready_after=0)
    outcome = switch(tmp_path, fake, "v2")
    assert (outcome.error, outcome.changed, outcome.restart_seconds) == ("", False, 0.0)
    assert fake.systemctl() == []
    assert target(tmp_path / "previous") == "v1"


def test_a_changed_unit_restarts_after_a_daemon_reload(tmp_path: Path) -> None:
    stage(tmp_path, "v1")
    live(tmp_path, "v1")
    fake = FakeHost(tmp_path, ready_after=0)
    outcome = switch(tmp_path, fake, "v1", restart=True, daemon_reload=True)
    assert outcome.changed
    assert fake.systemctl() == [["daemon-reload"], ["restart", "tragen"]]


def test_the_first_release_enables_the_service(tmp_path: Path) -> None:
    stage(tmp_path, "v1")
    fake = FakeHost(tmp_path, ready_after=0, enabled=False)
    outcome = switch(tmp_path, fake, "v1", daemon_reload=True)
    assert outcome.error == "" and outcome.previous == ""
    assert not (tmp_path / "previous").exists()
    assert fake.systemctl() == [["daemon-reload"], ["enable", "--quiet", "tragen"],
                                ["restart", "tragen"]]


def test_going_back_puts_both_links_where_they_were(tmp_path: Path) -> None:
    stage(tmp_path, "v0", "v1", "v2")
    live(tmp_path, "v2", previous="v1")  # a batch switched v1 -> v2 and v2 failed
    outcome = switch(tmp_path, FakeHost(tmp_path), "v1", previous="v0")
    assert outcome.error == ""
    assert (target(tmp_path / "current"), target(tmp_path / "previous")) == ("v1", "v0")


def test_going_back_to_a_host_that_had_no_previous_removes_the_link(tmp_path: Path) -> None:
    stage(tmp_path, "v1", "v2")
    live(tmp_path, "v2", previous="v1")
    switch(tmp_path, FakeHost(tmp_path), "v1", previous="")
    assert not os.path.lexists(tmp_path / "previous")


def test_a_release_that_is_not_staged_is_refused_before_anything_changes(tmp_path: Path) -> None:
    stage(tmp_path, "v1")
    live(tmp_path, "v1")
    (tmp_path / "releases" / "v2").mkdir()
    fake = FakeHost(tmp_path)
    outcome = switch(tmp_path, fake, "v2")
    assert "release v2 is not staged" in outcome.error
    assert "config.yaml, venv/bin/gunicorn, REVISION" in outcome.error
    assert target(tmp_path / "current") == "v1" and fake.ran == []


def test_a_release_never_ready_fails_with_the_runtimes_reasons_and_journal(
    tmp_path: Path,
) -> None:
    stage(tmp_path, "v1", "v2")
    live(tmp_path, "v1")
    fake = FakeHost(tmp_path, ready_after=10**6)
    outcome = switch(tmp_path, fake, "v2", ready_timeout=5.0)
    assert outcome.error.startswith(
        "release v2 was not ready after 5 s. /readyz: database: refused"
    )
    assert "worker failed to boot" in outcome.error
    # The links stay on the new release: the caller goes back with another switch.
    assert target(tmp_path / "current") == "v2"
    assert fake.polls == 11  # at once, then every 0.5 s for 5 s


def test_a_host_that_runs_another_release_fails(tmp_path: Path) -> None:
    stage(tmp_path, "v1", "v2")
    live(tmp_path, "v1")
    outcome = switch(tmp_path, FakeHost(tmp_path, running="v1"), "v2")
    assert outcome.error == "runs release v1 after the switch, expected v2."


def test_check_mode_reports_the_change_and_makes_none(tmp_path: Path) -> None:
    stage(tmp_path, "v1", "v2")
    live(tmp_path, "v1")
    fake = FakeHost(tmp_path)
    outcome = switch(tmp_path, fake, "v2", check_mode=True)
    assert outcome.changed and target(tmp_path / "current") == "v1" and fake.ran == []


def test_a_stale_temporary_link_does_not_stop_the_switch(tmp_path: Path) -> None:
    stage(tmp_path, "v1", "v2")
    live(tmp_path, "v1")
    os.symlink("/nowhere", tmp_path / "current.tragen-new")
    assert switch(tmp_path, FakeHost(tmp_path), "v2").error == ""
    assert target(tmp_path / "current") == "v2"


def test_a_colour_moves_its_own_link_and_leaves_current_and_previous_alone(
        tmp_path: Path) -> None:
    stage(tmp_path, "r1", "r2")
    live(tmp_path, "r1", previous="r0")
    fake = FakeHost(tmp_path, running="r2")
    outcome = switch(tmp_path, fake, "r2", link="colours/green", previous_link_name="",
                     service="tragen@green")
    assert not outcome.error and outcome.changed and outcome.previous == ""
    assert os.readlink(tmp_path / "colours" / "green") == str(tmp_path / "releases" / "r2")
    assert os.path.basename(os.readlink(tmp_path / "current")) == "r1"
    assert os.path.basename(os.readlink(tmp_path / "previous")) == "r0"
    assert ["restart", "tragen@green"] in fake.systemctl()

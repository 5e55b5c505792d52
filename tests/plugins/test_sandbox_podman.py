"""The sandbox connection (connection_plugins/sandbox_podman.py), loaded as Ansible loads it.

Its real use is every molecule scenario and the stage tests; these tests pin down what makes it
fast (one `podman exec --interactive` per module, no mount unless a file moves) without podman.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from ansible.playbook.play_context import PlayContext
from ansible.plugins.loader import connection_loader

REPO = Path(__file__).resolve().parents[2]


class FakePodman:
    """Records the podman command lines and answers like podman would."""

    def __init__(self, mount_point: Path) -> None:
        self.calls: list[list[str]] = []
        self.stdin: list[bytes | None] = []
        self.mount_point = mount_point

    def __call__(self, argv: list[bytes], **_: Any) -> FakePodman:
        self.calls.append([arg.decode() for arg in argv])
        return self

    def communicate(self, input: bytes | None = None) -> tuple[bytes, bytes]:  # noqa: A002
        self.stdin.append(input)
        self.returncode = 0
        if self.calls[-1][1] == "mount":
            return str(self.mount_point).encode() + b"\n", b""
        return b"ran\n", b""


@pytest.fixture
def podman(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> FakePodman:
    root = tmp_path / "rootfs"
    (root / "tmp").mkdir(parents=True)
    fake = FakePodman(root)
    monkeypatch.setattr(subprocess, "Popen", fake)
    return fake


def connection(user: str | None = None) -> Any:
    connection_loader.add_directory(str(REPO / "connection_plugins"))
    context = PlayContext()
    context.remote_addr = "tragen-test-app1"
    context.remote_user = user
    plugin = connection_loader.get("sandbox_podman", context, None)
    assert plugin is not None, "connection_plugins/sandbox_podman.py did not load"
    plugin.set_options(var_options={"ansible_podman_executable": "/usr/bin/podman"})
    return plugin


def test_pipelining_is_on_by_default() -> None:
    assert connection().is_pipelining_enabled()


def test_a_piped_module_is_one_interactive_exec_and_no_mount(podman: FakePodman) -> None:
    rc, out, _ = connection().exec_command("/usr/bin/python3", in_data=b"module source")
    assert (rc, out) == (0, b"ran\n")
    assert podman.calls == [
        ["/usr/bin/podman", "exec", "--interactive", "tragen-test-app1", "/usr/bin/python3"]
    ]
    assert podman.stdin == [b"module source"]


def test_a_plain_command_does_not_hold_stdin_open(podman: FakePodman) -> None:
    connection(user="postgres").exec_command("echo ~")
    assert podman.calls == [
        ["/usr/bin/podman", "exec", "--user", "postgres", "tragen-test-app1", "echo", "~"]
    ]


def test_files_go_through_the_mounted_file_system_as_root(
    podman: FakePodman, tmp_path: Path
) -> None:
    source = tmp_path / "unit.service"
    source.write_text("[Unit]\n")
    plugin = connection(user="root")
    plugin.put_file(str(source), "/tmp/unit.service")
    plugin.put_file(str(source), "/tmp/again.service")
    # One mount for the connection, no `podman cp` and no `chown` exec.
    assert [call[1] for call in podman.calls] == ["mount"]
    assert (podman.mount_point / "tmp" / "unit.service").read_text() == "[Unit]\n"

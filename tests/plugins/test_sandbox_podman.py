"""The sandbox connection (connection_plugins/sandbox_podman.py), loaded as Ansible loads it.

Its real use is every molecule scenario and the stage tests; these tests pin down what makes it
fast and correct without podman: one `podman inspect` per connection, then `nsenter` into the
container's namespaces with the container's environment, files through /proc/<pid>/root, and a
container that is not running reported as an unreachable host. This test process stands in for
the container's init, so /proc/<pid> is real.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from ansible.errors import AnsibleConnectionFailure
from ansible.playbook.play_context import PlayContext
from ansible.plugins.loader import connection_loader

REPO = Path(__file__).resolve().parents[2]
CONTAINER = "tragen-test-app1"


class FakeProcesses:
    """Records the command lines the plugin starts; podman inspect answers with `pid`."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.calls: list[list[str]] = []
        self.stdin: list[bytes | None] = []
        self.env: list[dict[str, str] | None] = []

    def __call__(self, argv: list[bytes], env: dict[str, str] | None = None, **_: Any) -> Any:
        self.calls.append([arg.decode() for arg in argv])
        self.env.append(env)
        return self

    def communicate(self, input: bytes | None = None) -> tuple[bytes, bytes]:  # noqa: A002
        self.stdin.append(input)
        self.returncode = 0
        if self.calls[-1][1] == "inspect":
            return f"{self.pid}\n".encode(), b""
        return b"ran\n", b""


@pytest.fixture
def processes(monkeypatch: pytest.MonkeyPatch) -> FakeProcesses:
    fake = FakeProcesses(os.getpid())
    monkeypatch.setattr(subprocess, "Popen", fake)
    return fake


def connection(user: str | None = None) -> Any:
    connection_loader.add_directory(str(REPO / "connection_plugins"))
    context = PlayContext()
    context.remote_addr = CONTAINER
    context.remote_user = user
    plugin = connection_loader.get("sandbox_podman", context, None)
    assert plugin is not None, "connection_plugins/sandbox_podman.py did not load"
    plugin.set_options(var_options={"ansible_podman_executable": "/usr/bin/podman"})
    return plugin


INSPECT = ["/usr/bin/podman", "inspect", "--format", "{{.State.Pid}}", CONTAINER]


def test_pipelining_is_on_by_default() -> None:
    assert connection().is_pipelining_enabled()


def test_a_piped_module_runs_in_the_containers_namespaces(processes: FakeProcesses) -> None:
    plugin = connection(user="root")
    rc, out, _ = plugin.exec_command("/usr/bin/python3", in_data=b"module source")
    plugin.exec_command("echo ~")
    assert (rc, out) == (0, b"ran\n")
    nsenter = ["nsenter", "--target", str(processes.pid), "--all", "--"]
    assert processes.calls == [INSPECT, [*nsenter, "/usr/bin/python3"], [*nsenter, "echo", "~"]]
    assert processes.stdin[1] == b"module source"
    # The environment the container's init started with, not the controller's current one
    # (pytest sets PYTEST_CURRENT_TEST after this process started).
    initial = Path(f"/proc/{processes.pid}/environ").read_bytes().split(b"\0")
    assert processes.env[1] == dict(item.decode().split("=", 1) for item in initial if b"=" in item)
    assert "PYTEST_CURRENT_TEST" not in processes.env[1]


def test_another_user_goes_through_podman_exec(processes: FakeProcesses) -> None:
    connection(user="postgres").exec_command("echo ~")
    assert processes.calls[-1] == [
        "/usr/bin/podman",
        "exec",
        "--user",
        "postgres",
        CONTAINER,
        "echo",
        "~",
    ]


def test_files_go_through_the_containers_root(processes: FakeProcesses, tmp_path: Path) -> None:
    source = tmp_path / "unit.service"
    source.write_text("[Unit]\n")
    plugin = connection()
    plugin.put_file(str(source), str(tmp_path / "placed.service"))
    plugin.fetch_file(str(tmp_path / "placed.service"), str(tmp_path / "fetched.service"))
    assert processes.calls == [INSPECT]
    assert (tmp_path / "fetched.service").read_text() == "[Unit]\n"


def test_a_stopped_container_is_an_unreachable_host(processes: FakeProcesses) -> None:
    processes.pid = 0
    with pytest.raises(AnsibleConnectionFailure, match=f"sandbox host {CONTAINER} is not running"):
        connection().exec_command("true")

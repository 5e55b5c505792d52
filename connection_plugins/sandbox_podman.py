# The sandbox's connection: a podman container's namespaces, entered with nsenter, with
# pipelining.
#
# The collection's containers.podman.podman runs about five `podman exec` calls per task
# (temporary directory, copy, chmod, run, clean up). Each costs about 0.2 s of CPU (the podman
# binary, conmon, runc exec), several times what the module itself costs, and a stage of nine
# hosts on two cores spent most of its time there. This plugin asks podman only where the
# container's init process is (`podman inspect`, a few milliseconds), then runs each command
# inside the container's namespaces with `nsenter`, with the container's own environment, and
# moves files through /proc/<pid>/root. Pipelining feeds modules to the container's Python on
# stdin, so a task is one process. A named non-root remote user falls back to `podman exec`.
from __future__ import annotations

DOCUMENTATION = """
    name: sandbox_podman
    short_description: Run tasks in a sandbox host's podman container, fast
    description:
      - Runs commands inside a running podman container, like C(containers.podman.podman),
        but enters the container's namespaces with C(nsenter) instead of C(podman exec), and
        pipes modules to the container's Python.
      - Needs root on the controller (rootful podman, as the sandbox uses).
    options:
      remote_addr:
        description: The name or ID of the container.
        default: inventory_hostname
        vars:
          - name: ansible_host
          - name: inventory_hostname
          - name: ansible_podman_host
      remote_user:
        description:
          - User to run commands as inside the container. Root (or none) enters with nsenter;
            another user goes through C(podman exec --user).
        ini:
          - section: defaults
            key: remote_user
        env:
          - name: ANSIBLE_REMOTE_USER
        vars:
          - name: ansible_user
      pipelining:
        description:
          - Pipe modules to the container's Python instead of copying them in. On by default,
            because that is what this plugin is for.
        type: boolean
        default: true
        ini:
          - section: connection
            key: pipelining
        env:
          - name: ANSIBLE_PIPELINING
        vars:
          - name: ansible_pipelining
      podman_extra_args:
        description: Extra arguments to pass to the podman command line.
        default: ''
        vars:
          - name: ansible_podman_extra_args
        env:
          - name: ANSIBLE_PODMAN_EXTRA_ARGS
      podman_executable:
        description: Executable for podman command.
        default: podman
        vars:
          - name: ansible_podman_executable
        env:
          - name: ANSIBLE_PODMAN_EXECUTABLE
"""

import os
import shlex
import shutil
import subprocess
from typing import Any

from ansible.errors import AnsibleConnectionFailure
from ansible.module_utils.common.text.converters import to_bytes, to_native
from ansible.plugins.connection import ensure_connect
from ansible_collections.containers.podman.plugins.connection.podman import (
    Connection as PodmanConnection,
)


# The collection's plugin is untyped: mypy sees its class and ensure_connect as Any.
class Connection(PodmanConnection):  # type: ignore[misc]
    transport = "sandbox_podman"
    has_pipelining = True
    user: str | None
    _connected: bool

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Sandbox inventories name root (production's `deploy` does not exist in the container).
        if self.user == "root":
            self.user = None
        self._pid = 0
        self._environment: dict[str, str] = {}

    def _connect(self) -> Connection:
        if self._connected:
            return self
        rc, out, err = self._podman(["inspect", "--format", "{{.State.Pid}}"])
        try:
            pid = int(out.strip()) if rc == 0 else 0
        except ValueError:
            pid = 0
        if pid <= 0:
            raise AnsibleConnectionFailure(
                f"sandbox host {self._container_id} is not running"
                f" ({to_native(err).strip() or 'podman reports no process'})"
            )
        self._pid = pid
        self._environment = self._init_environment()
        self._connected = True
        return self

    def _init_environment(self) -> dict[str, str]:
        """The container's environment as its init has it, not the controller's."""
        with open(f"/proc/{self._pid}/environ", "rb") as environ:
            pairs = [item.split(b"=", 1) for item in environ.read().split(b"\0") if b"=" in item]
        return {to_native(key): to_native(value) for key, value in pairs}

    def _root(self, path: str) -> bytes:
        return f"/proc/{self._pid}/root".encode() + os.fsencode(path)

    @ensure_connect  # type: ignore[untyped-decorator]
    def exec_command(
        self, cmd: str, in_data: bytes | None = None, sudoable: bool = False
    ) -> tuple[int, bytes, bytes]:
        if self.user:
            result: tuple[int, bytes, bytes] = super().exec_command(
                cmd, in_data=in_data, sudoable=sudoable
            )
            return result
        super(PodmanConnection, self).exec_command(cmd, in_data=in_data, sudoable=sudoable)
        argv = ["nsenter", "--target", str(self._pid), "--all", "--", *shlex.split(cmd)]
        process = subprocess.Popen(
            [to_bytes(arg, errors="surrogate_or_strict") for arg in argv],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=self._environment,
            cwd="/",
        )
        stdout, stderr = process.communicate(in_data)
        return process.returncode, stdout, stderr

    @ensure_connect  # type: ignore[untyped-decorator]
    def put_file(self, in_path: str, out_path: str) -> None:
        if self.user:
            # The collection's plugin copies with `podman cp` and chowns for a named user.
            super().put_file(in_path, out_path)
            return
        super(PodmanConnection, self).put_file(in_path, out_path)
        shutil.copyfile(to_bytes(in_path, errors="surrogate_or_strict"), self._root(out_path))

    @ensure_connect  # type: ignore[untyped-decorator]
    def fetch_file(self, in_path: str, out_path: str) -> None:
        super(PodmanConnection, self).fetch_file(in_path, out_path)
        shutil.copyfile(self._root(in_path), to_bytes(out_path, errors="surrogate_or_strict"))

    def close(self, *args: Any) -> None:
        super().close()
        self._pid = 0

# The sandbox's connection: containers.podman.podman with pipelining.
#
# The collection's plugin runs about five `podman exec` calls per task (temporary directory,
# copy, chmod, run, clean up), each costing a Go binary start and a runc exec: about a second per
# task per host, which made a whole stage take longer than CI allows. Pipelining feeds the module
# to the remote Python on stdin, so a task is one `podman exec --interactive`. The collection
# turns pipelining off only because its `podman exec` does not attach stdin; this plugin does.
from __future__ import annotations

DOCUMENTATION = """
    name: sandbox_podman
    short_description: Run tasks in a sandbox host's podman container, with pipelining
    description:
      - The C(containers.podman.podman) connection, except that modules are piped to the
        container's Python over one C(podman exec --interactive) instead of copied in first.
      - Files (M(ansible.builtin.copy), M(ansible.builtin.template)) still go through the
        container's mounted file system or C(podman cp), as in the collection's plugin.
    options:
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
      remote_addr:
        description: The name or ID of the container.
        default: inventory_hostname
        vars:
          - name: ansible_host
          - name: inventory_hostname
          - name: ansible_podman_host
      remote_user:
        description: User to run commands as inside the container.
        ini:
          - section: defaults
            key: remote_user
        env:
          - name: ANSIBLE_REMOTE_USER
        vars:
          - name: ansible_user
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

import shlex
from typing import Any

from ansible.module_utils.common.text.converters import to_native
from ansible.plugins.connection import ensure_connect
from ansible_collections.containers.podman.plugins.connection.podman import (
    Connection as PodmanConnection,
)


class Connection(PodmanConnection):
    transport = "sandbox_podman"
    has_pipelining = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Sandbox inventories name root (production's `deploy` would not exist in the container).
        # The collection then copies files with `podman cp` plus a `chown` exec; root needs
        # neither, so files go through the mounted file system like an unnamed user's.
        if self.user == "root":
            self.user = None

    def _connect(self) -> Connection:
        # The collection mounts the container's file system on every connect, one more podman
        # call per task. Only file transfers need the mount, so they make it when they need it.
        self._connected = True
        return self

    def _mount(self) -> None:
        if self._mount_point is None:
            PodmanConnection._connect(self)

    @ensure_connect
    def exec_command(
        self, cmd: str, in_data: bytes | None = None, sudoable: bool = False
    ) -> tuple[int, bytes, bytes]:
        super(PodmanConnection, self).exec_command(cmd, in_data=in_data, sudoable=sudoable)
        exec_args = ["exec", "--interactive"] if in_data is not None else ["exec"]
        if self.user:
            exec_args.extend(("--user", self.user))
        return self._podman(exec_args, shlex.split(to_native(cmd)), in_data)

    def put_file(self, in_path: str, out_path: str) -> None:
        self._mount()
        super().put_file(in_path, out_path)

    def fetch_file(self, in_path: str, out_path: str) -> None:
        self._mount()
        super().fetch_file(in_path, out_path)

    def close(self, *args: Any) -> None:
        super().close()
        self._mount_point = None

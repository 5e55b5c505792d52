#!/usr/bin/python
"""Write nginx configuration files, test them, keep the last good ones, reload: one task.

A drain or restore of a rolling update changes one upstream file between batches; as separate
tasks (template, nginx -t, remove backups, record the drained set, reload) that cost five
round trips to the load balancer per change, more than the change itself.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: tragen_nginx_apply
short_description: Write nginx configuration files, test the whole configuration, reload
description:
  - Writes each file whose content differs (root-owned, mode 0644, replaced atomically).
  - When any file changed, runs the test command (C(nginx -t)) on the whole configuration. When
    the test fails, the previous files are put back (new files removed) and the task fails, so
    nginx keeps running on the configuration it had.
  - Records O(drained) in O(state_path) as JSON, then reloads nginx gracefully when a file
    changed (C(systemctl reload-or-restart nginx), which also starts a stopped nginx).
options:
  files:
    description: The files to write, path to content.
    type: dict
    required: true
  state_path:
    description: Where the set of drained app servers is kept; not written when omitted.
    type: path
  drained:
    description: The drained app servers to record in O(state_path).
    type: list
    elements: str
    default: []
"""

RETURN = r"""
written:
  description: The files that changed.
  type: list
  returned: always
"""


class Outcome(NamedTuple):
    changed: bool
    written: list[str]
    error: str = ""


Runner = Callable[[Sequence[str]], tuple[int, str, str]]

TEST_COMMAND = ("nginx", "-t")
RELOAD_COMMAND = ("systemctl", "reload-or-restart", "nginx")


def read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def write(path: str, content: bytes) -> None:
    """Replace ``path`` atomically with ``content`` (root:root 0644 when run as root)."""
    directory = os.path.dirname(path) or "."
    descriptor, temporary = tempfile.mkstemp(prefix=".tragen-", dir=directory)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(content)
        os.chmod(temporary, 0o644)
        if os.geteuid() == 0:
            os.chown(temporary, 0, 0)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def put_back(previous: dict[str, bytes | None]) -> None:
    for path, content in previous.items():
        if content is None:
            os.unlink(path)
        else:
            write(path, content)


def apply(
    files: dict[str, str],
    state_path: str | None,
    drained: Sequence[str],
    test_command: Sequence[str],
    reload_command: Sequence[str],
    run: Runner,
    check_mode: bool = False,
) -> Outcome:
    wanted = {path: content.encode() for path, content in files.items()}
    current = {path: read(path) for path in wanted}
    changed = [path for path, content in wanted.items() if current[path] != content]
    state = (json.dumps(sorted(drained), indent=2) + "\n").encode()
    state_changed = state_path is not None and read(state_path) != state
    if check_mode or not (changed or state_changed):
        return Outcome(bool(changed or state_changed), changed)

    previous = {path: current[path] for path in changed}
    for path in changed:
        write(path, wanted[path])
    if changed:
        code, out, err = run(test_command)
        if code != 0:
            put_back(previous)
            return Outcome(
                False,
                [],
                f"{' '.join(test_command)} refused the new configuration; the previous files are "
                f"back in place and nginx runs unchanged. {(err or out).strip()}",
            )
    if state_changed and state_path is not None:
        write(state_path, state)
    if changed:
        code, out, err = run(reload_command)
        if code != 0:
            return Outcome(
                True,
                changed,
                f"the configuration passed {' '.join(test_command)} but "
                f"{' '.join(reload_command)} failed: {(err or out).strip()}",
            )
    return Outcome(True, changed)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "files": {"type": "dict", "required": True},
            "state_path": {"type": "path"},
            "drained": {"type": "list", "elements": "str", "default": []},
        },
        supports_check_mode=True,
    )
    files: dict[str, Any] = module.params["files"]
    for path, content in files.items():
        if not os.path.isabs(path) or not isinstance(content, str):
            module.fail_json(msg=f"files maps absolute paths to text, found {path!r}")

    def run(command: Sequence[str]) -> tuple[int, str, str]:
        code, out, err = module.run_command(list(command))
        return code, out, err

    outcome = apply(
        files,
        module.params["state_path"],
        module.params["drained"],
        TEST_COMMAND,
        RELOAD_COMMAND,
        run,
        module.check_mode,
    )
    if outcome.error:
        module.fail_json(msg=outcome.error, changed=outcome.changed, written=outcome.written)
    module.exit_json(changed=outcome.changed, written=outcome.written)


if __name__ == "__main__":
    main()

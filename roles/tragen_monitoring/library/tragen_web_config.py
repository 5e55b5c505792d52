#!/usr/bin/python
"""Write the TLS and basic-auth file of Prometheus or Alertmanager (their --web.config.file).

The file holds bcrypt hashes. A new hash has a new salt, so a template would change the file
on every run; this module keeps the hash on disk while it still matches the password and
writes the file only when something else changed, so a rerun changes nothing.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Mapping
from typing import Any

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: tragen_web_config
short_description: The web configuration file of Prometheus or Alertmanager, idempotently
description:
  - Writes O(path) (JSON, which both read as YAML) with O(cert_file), O(key_file) and a bcrypt
    hash per user of O(users). A hash on disk that still matches its password is kept.
  - Needs python3-bcrypt on the host.
options:
  path: {description: The file to write., type: path, required: true}
  users: {description: User name to password., type: dict, required: true, no_log: true}
  cert_file: {description: The TLS certificate (chain)., type: path, required: true}
  key_file: {description: The TLS private key., type: path, required: true}
  group: {description: Group that may read the file (the service's)., type: str, required: true}
"""

Checker = Callable[[str, str], bool]
Hasher = Callable[[str], str]


def web_config(previous: Mapping[str, Any] | None, users: Mapping[str, str], cert_file: str,
               key_file: str, matches: Checker, new_hash: Hasher) -> dict[str, Any]:
    """The configuration to write: each user's previous hash when it matches the password."""
    old = dict((previous or {}).get("basic_auth_users") or {})
    hashes = {name: old[name] if name in old and matches(password, old[name])
              else new_hash(password) for name, password in sorted(users.items())}
    return {"tls_server_config": {"cert_file": cert_file, "key_file": key_file},
            "basic_auth_users": hashes}


def _read(path: str) -> dict[str, Any] | None:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _write(path: str, content: str, gid: int) -> None:
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tragen-")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(content)
        f.flush()
        os.fsync(f.fileno())
    os.chown(tmp, 0, gid)
    os.chmod(tmp, 0o640)
    os.replace(tmp, path)


def main() -> None:
    module = AnsibleModule(
        argument_spec={"path": {"type": "path", "required": True},
                       "users": {"type": "dict", "required": True, "no_log": True},
                       "cert_file": {"type": "path", "required": True},
                       "key_file": {"type": "path", "required": True},
                       "group": {"type": "str", "required": True}},
        supports_check_mode=True)
    try:
        import bcrypt
    except ImportError:
        module.fail_json(msg="python3-bcrypt is missing on the host: install it first")
    import grp

    p = module.params
    previous = _read(p["path"])
    wanted = web_config(
        previous, {str(k): str(v) for k, v in p["users"].items()}, p["cert_file"],
        p["key_file"],
        lambda pw, h: bcrypt.checkpw(pw.encode(), h.encode()),
        lambda pw: bcrypt.hashpw(pw.encode(), bcrypt.gensalt(rounds=10)).decode())
    gid = grp.getgrnam(p["group"]).gr_gid
    try:
        st = os.stat(p["path"])
        owned = st.st_gid == gid and st.st_mode & 0o777 == 0o640
    except OSError:
        owned = False
    changed = previous != wanted or not owned
    if changed and not module.check_mode:
        _write(p["path"], json.dumps(wanted, indent=2, sort_keys=True) + "\n", gid)
    module.exit_json(changed=changed)


if __name__ == "__main__":
    main()

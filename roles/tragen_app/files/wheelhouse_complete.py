#!/usr/bin/env python3
"""Complete a wheelhouse for the hosts' interpreters.

`pip wheel` resolves environment markers for the interpreter that runs it (the controller's),
so a dependency like `async-timeout; python_full_version < "3.11.3"` is left out when the
controller runs 3.11.7 and the hosts run 3.11.2. This walks the requirements of the wheelhouse
from the root distribution, evaluates every marker with each host's marker environment, and
downloads (binary only, no dependencies) whatever is missing, until nothing is.

It then packs the wheelhouse into WHEELHOUSE.tar, the one file the hosts receive (a directory
copy costs Ansible a round trip per file), with the `.complete` marker last so that a host
never holds a marker without the wheels before it.

usage: wheelhouse_complete.py WHEELHOUSE ROOT_DIST ENVS_JSON
Prints JSON {"added": [file names], "archived": true when the archive was (re)written}.
"""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys
import tarfile
import zipfile

try:
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name
except ImportError:  # pragma: no cover - pip always vendors packaging
    from pip._vendor.packaging.requirements import Requirement  # type: ignore[assignment]
    from pip._vendor.packaging.utils import canonicalize_name  # type: ignore[assignment]


def read_metadata(wheel: pathlib.Path) -> tuple[str, list[str]]:
    with zipfile.ZipFile(wheel) as archive:
        member = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        text = archive.read(member).decode("utf-8")
    headers = [line.split(":", 1) for line in text.split("\n\n", 1)[0].splitlines() if ":" in line]
    name = next(value.strip() for key, value in headers if key == "Name")
    requires = [value.strip() for key, value in headers if key == "Requires-Dist"]
    return canonicalize_name(name), requires


def index(wheelhouse: pathlib.Path) -> dict[str, pathlib.Path]:
    return {read_metadata(w)[0]: w for w in sorted(wheelhouse.glob("*.whl"))}


def download(wheelhouse: pathlib.Path, requirement: Requirement, env: dict[str, str]) -> None:
    machine = env.get("platform_machine", "x86_64")
    spec = f"{requirement.name}{requirement.specifier}"
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
         "--no-deps", "--only-binary=:all:", "--dest", str(wheelhouse),
         "--python-version", env["python_full_version"], "--implementation", "cp",
         "--platform", f"manylinux2014_{machine}", "--platform", f"manylinux_2_17_{machine}",
         "--platform", f"linux_{machine}", spec],
        check=True,
    )


def complete(wheelhouse: pathlib.Path, root: str, envs: list[dict[str, str]]) -> list[str]:
    before = {w.name for w in wheelhouse.glob("*.whl")}
    for env in envs:
        todo: list[tuple[Requirement, frozenset[str]]] = [(Requirement(root), frozenset())]
        seen: set[tuple[str, frozenset[str]]] = set()
        while todo:
            requirement, extras = todo.pop()
            key = (canonicalize_name(requirement.name), extras)
            if key in seen:
                continue
            seen.add(key)
            wheels = index(wheelhouse)
            if key[0] not in wheels:
                download(wheelhouse, requirement, env)
                wheels = index(wheelhouse)
            for text in read_metadata(wheels[key[0]])[1]:
                dep = Requirement(text)
                wanted = [""] + sorted(extras)
                if dep.marker and not any(dep.marker.evaluate({**env, "extra": e}) for e in wanted):
                    continue
                todo.append((dep, frozenset(dep.extras)))
    return sorted({w.name for w in wheelhouse.glob("*.whl")} - before)


def archive(wheelhouse: pathlib.Path) -> bool:
    """Writes WHEELHOUSE.tar unless it already holds exactly the wheelhouse's files."""
    target = wheelhouse.with_name(wheelhouse.name + ".tar")
    members = sorted(p.name for p in wheelhouse.iterdir() if p.is_file() and p.name != ".complete")
    members.append(".complete")
    if target.exists():
        with tarfile.open(target) as existing:
            if existing.getnames() == members:
                return False
    partial = target.with_name(target.name + ".partial")
    with tarfile.open(partial, "w") as tar:
        for name in members:
            tar.add(wheelhouse / name, arcname=name)
    partial.replace(target)
    return True


def main(argv: list[str]) -> int:
    if len(argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    wheelhouse = pathlib.Path(argv[1])
    added = complete(wheelhouse, argv[2], json.loads(argv[3]))
    print(json.dumps({"added": added, "archived": archive(wheelhouse)}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

"""Release ids that are a function of what is deployed: the code and the configuration.

    release_id(source_digest(repo), config_digest(documents))   -> 'r1a2b3c4d5e-9f8e7d6c'

A release id taken from the clock made every run of the playbooks stage a new release and
restart every app server, even with nothing changed. Derived from content instead, the same
code and the same configuration give the same id, so a rerun finds that release already live
and changes nothing; any change of either (a file of the package, pyproject.toml, a key of a
host's rendered configuration) gives a new id and so a new release. The two parts are kept
apart in the id so an operator sees which of them changed between two releases.

The source digest covers what goes into the wheel: pyproject.toml and every file under
``tragen_runtime/`` (the ``schemas`` symlink is followed, since the JSON Schemas ship as package
data through it), by relative path and content only, never mtimes or permissions, so every
checkout of one commit gives one digest. Caches and editor or OS leftovers are left out.

Runs on the controller with the standard library alone:

    python -m tragen_runtime.release digest SOURCE_DIR
"""

from __future__ import annotations

import argparse
import fnmatch
import hashlib
import json
import os
import re
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

PACKAGE = "tragen_runtime"
PROJECT_FILE = "pyproject.toml"
# Directories and files that are never part of a release, wherever they appear.
JUNK_DIRS = frozenset({"__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache", ".git",
                       ".hg", ".svn", ".idea", ".vscode", ".ipynb_checkpoints"})
JUNK_FILES = ("*.pyc", "*.pyo", "*~", ".*.sw?", ".#*", "#*#", ".DS_Store", "._*",
              "Thumbs.db", "desktop.ini")
HEX = re.compile(r"[0-9a-f]+")


class SourceError(ValueError):
    """The directory is not a source tree of the package."""


def _junk(name: str) -> bool:
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in JUNK_FILES)


def _files(directory: Path, relative: str, ancestors: frozenset[str]) -> Iterator[tuple[str, Path]]:
    """(relative posix path, file) of every file below `directory`, symlinks followed."""
    real = os.path.realpath(directory)
    if real in ancestors:  # a link back up would make the walk endless
        raise SourceError(f"{directory}: symlink loop")
    ancestors = ancestors | {real}
    for entry in os.scandir(directory):
        path = f"{relative}/{entry.name}"
        if entry.is_dir():
            if entry.name not in JUNK_DIRS:
                yield from _files(Path(entry.path), path, ancestors)
        elif entry.is_file() and not _junk(entry.name):
            yield path, Path(entry.path)
        # anything else (a dangling link, a socket) has no content to ship


def source_digest(source_dir: Path) -> str:
    """Hex sha256 of pyproject.toml and the package's files, by relative path and content."""
    project = source_dir / PROJECT_FILE
    if not project.is_file():
        raise SourceError(f"{source_dir}: no {PROJECT_FILE}; give the repository's root")
    package = source_dir / PACKAGE
    if not package.is_dir():
        raise SourceError(f"{source_dir}: no {PACKAGE}/ package directory")
    files = sorted([(PROJECT_FILE, project), *_files(package, PACKAGE, frozenset())])
    # A manifest of `sha256  path` lines (sha256sum's format), so a digest that differs
    # between two machines can be taken apart file by file.
    manifest = hashlib.sha256()
    for path, file in files:
        if "\n" in path:  # would make two manifests read alike
            raise SourceError(f"{file}: a file name with a line break")
        content = hashlib.sha256(file.read_bytes()).hexdigest()
        manifest.update(f"{content}  {path}\n".encode("utf-8", "surrogateescape"))
    return manifest.hexdigest()


def _stage_wide(document: Mapping[str, object]) -> dict[str, object]:
    """A copy without what differs by host or is derived from the digest: `runtime.release_id`
    (the id comes from this digest) and `runtime.http.bind` (each host's own address; a
    release is one for the whole stage, and a run limited to some hosts must find the same id)."""
    copy = dict(document)
    runtime = copy.get("runtime")
    if isinstance(runtime, Mapping):
        stage_wide = {key: value for key, value in runtime.items() if key != "release_id"}
        http = stage_wide.get("http")
        if isinstance(http, Mapping):
            stage_wide["http"] = {key: value for key, value in http.items() if key != "bind"}
        copy["runtime"] = stage_wide
    return copy


def _canonical(value: object) -> str:
    # No default=str: an object without a JSON form would hash by its repr, which can differ
    # between runs (addresses); it is refused (TypeError) instead.
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def config_digest(documents: Sequence[Mapping[str, object]]) -> str:
    """Hex sha256 of the canonical JSON list of the hosts' rendered configurations.

    The list is sorted by each document's canonical JSON: the order Ansible happens to visit
    the hosts in must not change the id."""
    rendered = sorted(_canonical(_stage_wide(document)) for document in documents)
    return hashlib.sha256(f"[{','.join(rendered)}]".encode()).hexdigest()


def release_id(source: str, config: str) -> str:
    """`r<10 hex of the source digest>-<8 hex of the config digest>`."""
    for name, digest, size in (("source", source, 10), ("config", config, 8)):
        if len(digest) < size or not HEX.fullmatch(digest):
            raise ValueError(f"{name} digest must be at least {size} lowercase hex digits, "
                             f"found {digest!r}")
    return f"r{source[:10]}-{config[:8]}"


def built_from(marker: str) -> str:
    """The source digest a wheelhouse marker (`.complete`) records, "" when it names none: a
    wheelhouse not built yet, or a configuration release's, which holds the live release's
    wheels on purpose."""
    found = re.search(r"source=([0-9a-f]+)", marker)
    return found.group(1) if found else ""


def wheelhouse_refusal(release: str, marker: str, source_now: str, wheelhouse: str,
                       app_root: str) -> str:
    """Why a hand-named release id may not reuse its wheelhouse ("" when it may): a release id
    names one build, and a wheelhouse built from other sources would install old wheels as if
    they were the new code."""
    built = built_from(marker)
    if not built or built == source_now:
        return ""
    return (f"Release {release} was built from other sources (source digest {built[:12]}, the "
            f"source is now {source_now[:12]}): a release id names one build. Deploy the new "
            "code under a new id (or none, to derive one), or remove "
            f"{wheelhouse} and {app_root}/releases/{release} on every app server where it is "
            "not live, to build it again.")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tragen_runtime.release",
                                     description="Digests the release id is made of.")
    commands = parser.add_subparsers(dest="command", required=True)
    digest = commands.add_parser("digest", help="print the source digest of a source tree")
    digest.add_argument("source_dir", metavar="SOURCE_DIR", type=Path,
                        help="the repository's root (where pyproject.toml is)")
    args = parser.parse_args(argv)
    try:
        print(source_digest(args.source_dir))
    except (SourceError, OSError) as error:
        parser.error(str(error))  # exit status 2, like any other wrong argument
    return 0


if __name__ == "__main__":
    sys.exit(main())

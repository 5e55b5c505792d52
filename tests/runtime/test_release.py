"""tragen_runtime.release: release ids derived from the code and the configuration."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tragen_runtime import release
from tragen_runtime.release import config_digest, release_id, source_digest

REPO = Path(__file__).resolve().parents[2]
ID = re.compile(r"^r[0-9a-f]{10}-[0-9a-f]{8}$")


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A small source tree shaped like the repository (schemas through a symlink)."""
    root = tmp_path / "src"
    (root / "tragen_runtime" / "config").mkdir(parents=True)
    (root / "schemas").mkdir()
    (root / "pyproject.toml").write_text('[project]\nname = "tragen-runtime"\n')
    (root / "tragen_runtime" / "__init__.py").write_text('"""Runtime."""\n')
    (root / "tragen_runtime" / "py.typed").write_text("")
    (root / "tragen_runtime" / "config" / "rules.py").write_text("RULES = []\n")
    (root / "schemas" / "api.schema.json").write_text('{"type": "object"}\n')
    (root / "tragen_runtime" / "schemas").symlink_to("../schemas")
    (root / "README.md").write_text("docs are not in the digest\n")
    return root


def test_same_tree_same_digest_and_a_copy_elsewhere_too(tree: Path, tmp_path: Path) -> None:
    digest = source_digest(tree)
    assert re.fullmatch(r"[0-9a-f]{64}", digest)
    assert source_digest(tree) == digest
    copy = tmp_path / "elsewhere" / "checkout"
    shutil.copytree(tree, copy, symlinks=True)
    assert source_digest(copy) == digest


@pytest.mark.parametrize("change", [
    "changed file", "added file", "renamed file", "removed file", "pyproject", "schema",
    "added package data", "file moved to another directory",
])
def test_any_change_of_what_ships_changes_the_digest(tree: Path, change: str) -> None:
    before = source_digest(tree)
    pkg = tree / "tragen_runtime"
    if change == "changed file":
        (pkg / "config" / "rules.py").write_text("RULES = [1]\n")
    elif change == "added file":
        (pkg / "config" / "more.py").write_text("")
    elif change == "renamed file":
        (pkg / "config" / "rules.py").rename(pkg / "config" / "rule.py")
    elif change == "removed file":
        (pkg / "py.typed").unlink()
    elif change == "pyproject":
        (tree / "pyproject.toml").write_text('[project]\nname = "tragen-runtime"\n\n')
    elif change == "schema":  # reached through the tragen_runtime/schemas symlink
        (tree / "schemas" / "api.schema.json").write_text('{"type": "array"}\n')
    elif change == "added package data":
        (pkg / "config" / "template.j2").write_text("{{ x }}\n")
    else:
        (pkg / "config" / "rules.py").rename(pkg / "rules.py")
    assert source_digest(tree) != before


def test_caches_and_editor_leftovers_are_ignored(tree: Path) -> None:
    before = source_digest(tree)
    pkg = tree / "tragen_runtime"
    (pkg / "__pycache__").mkdir()
    (pkg / "__pycache__" / "__init__.cpython-311.pyc").write_bytes(b"\x00compiled")
    (pkg / "config" / "rules.pyc").write_bytes(b"\x00")
    (pkg / "config" / "rules.pyo").write_bytes(b"\x00")
    (pkg / "config" / ".rules.py.swp").write_bytes(b"\x00")
    (pkg / "config" / "rules.py~").write_text("old")
    (pkg / ".DS_Store").write_bytes(b"\x00")
    (pkg / ".mypy_cache").mkdir()
    (pkg / ".mypy_cache" / "x.json").write_text("{}")
    (pkg / "config" / ".#rules.py").symlink_to("user@host.1234")  # Emacs lock: dangling
    (tree / "README.md").write_text("changed, not shipped in the package\n")
    (tree / "build").mkdir()
    (tree / "build" / "lib.py").write_text("")
    assert source_digest(tree) == before


def test_mtimes_and_permissions_are_ignored(tree: Path) -> None:
    before = source_digest(tree)
    rules = tree / "tragen_runtime" / "config" / "rules.py"
    os.utime(rules, (1_000_000_000, 1_000_000_000))
    rules.chmod(0o600)
    (tree / "pyproject.toml").chmod(0o755)
    assert source_digest(tree) == before


def test_not_a_source_tree_is_refused(tmp_path: Path) -> None:
    with pytest.raises(release.SourceError, match="no pyproject.toml"):
        source_digest(tmp_path)
    (tmp_path / "pyproject.toml").write_text("")
    with pytest.raises(release.SourceError, match="no tragen_runtime/"):
        source_digest(tmp_path)


def test_a_symlink_loop_is_refused(tree: Path) -> None:
    (tree / "tragen_runtime" / "config" / "loop").symlink_to("..")
    with pytest.raises(release.SourceError, match="symlink loop"):
        source_digest(tree)


def test_the_repository_itself_has_a_digest() -> None:
    assert re.fullmatch(r"[0-9a-f]{64}", source_digest(REPO))


DOC_A: dict[str, Any] = {"production": {"max_agents": 5},
                         "runtime": {"release_id": "r1", "http": {"bind": "a"}}}
DOC_B: dict[str, Any] = {"runtime": {"http": {"bind": "b"}, "release_id": "r1"},
                         "production": {"max_agents": 5}}


def test_config_digest_ignores_host_order_and_key_order() -> None:
    assert config_digest([DOC_A, DOC_B]) == config_digest([DOC_B, DOC_A])
    reordered = {"runtime": {"http": {"bind": "a"}, "release_id": "r1"},
                 "production": {"max_agents": 5}}
    assert config_digest([reordered, DOC_B]) == config_digest([DOC_A, DOC_B])


def test_config_digest_ignores_the_release_id_itself() -> None:
    other_id = {**DOC_A, "runtime": {**DOC_A["runtime"], "release_id": "r2"}}
    no_id = {**DOC_A, "runtime": {"http": {"bind": "a"}}}
    assert config_digest([DOC_A]) == config_digest([other_id]) == config_digest([no_id])
    assert DOC_A["runtime"]["release_id"] == "r1"  # the caller's document is left alone
    # only runtime.release_id: a key of that name elsewhere is configuration
    assert config_digest([{**DOC_A, "release_id": "x"}]) != config_digest([DOC_A])


def test_config_digest_ignores_each_hosts_own_address() -> None:
    assert config_digest([DOC_A]) == config_digest([DOC_B])
    assert DOC_A["runtime"]["http"] == {"bind": "a"}  # the caller's document is left alone
    assert config_digest([{**DOC_A, "runtime": {"http": {"bind": "a", "port": 1}}}]) != (
        config_digest([DOC_A]))


def test_config_digest_changes_with_any_value_or_host() -> None:
    digest = config_digest([DOC_A, DOC_B])
    changed = {**DOC_A, "production": {"max_agents": 6}}
    assert config_digest([changed, DOC_B]) != digest
    assert config_digest([DOC_A]) != digest
    assert config_digest([DOC_A, DOC_B, DOC_B]) != digest
    assert config_digest([{"production": {"max_agents": "5"}}]) != config_digest(
        [{"production": {"max_agents": 5}}])


def test_config_digest_is_canonical_json_of_the_sorted_documents() -> None:
    import hashlib
    import json

    def canonical(value: object) -> str:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    docs: list[dict[str, object]] = [{"ü": 1, "a": [1, 2]}, {"b": None}]
    expected = canonical(sorted(docs, key=canonical))
    assert config_digest(docs) == hashlib.sha256(expected.encode()).hexdigest()


def test_config_digest_refuses_values_without_json_form() -> None:
    with pytest.raises(TypeError):
        config_digest([{"x": object()}])


def test_release_id_format() -> None:
    source, config = "1a2b3c4d5e" + "0" * 54, "9f8e7d6c" + "1" * 56
    assert release_id(source, config) == "r1a2b3c4d5e-9f8e7d6c"
    assert ID.match(release_id(source_digest(REPO), config_digest([DOC_A])))
    for bad_source, bad_config in (("1a2b", config), (source, "XYZ" * 10),
                                   (source.upper(), config)):
        with pytest.raises(ValueError, match="digest must be at least"):
            release_id(bad_source, bad_config)


def test_same_code_and_configuration_give_the_same_release_id(tree: Path) -> None:
    first = release_id(source_digest(tree), config_digest([DOC_A, DOC_B]))
    assert first == release_id(source_digest(tree), config_digest([DOC_B, DOC_A]))
    (tree / "tragen_runtime" / "config" / "rules.py").write_text("RULES = [2]\n")
    second = release_id(source_digest(tree), config_digest([DOC_A, DOC_B]))
    assert second != first and second.split("-")[1] == first.split("-")[1]


def test_cli_prints_the_source_digest(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert release.main(["digest", str(tree)]) == 0
    assert capsys.readouterr().out == source_digest(tree) + "\n"


def test_cli_without_pyproject_exits_2(tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        release.main(["digest", str(tmp_path)])
    assert exit_info.value.code == 2
    assert f"{tmp_path}: no pyproject.toml" in capsys.readouterr().err


def test_cli_as_a_module_with_the_plain_interpreter(tree: Path) -> None:
    """How the role runs it on the controller: `python -m` from the source tree, the
    package not installed, no third-party module needed (-S: no site-packages)."""
    run = subprocess.run([sys.executable, "-S", "-m", "tragen_runtime.release", "digest",
                          str(tree)], cwd=REPO, capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr
    assert run.stdout == source_digest(tree) + "\n"
    missing = subprocess.run([sys.executable, "-S", "-m", "tragen_runtime.release", "digest",
                              str(tree / "schemas")], cwd=REPO, capture_output=True, text=True,
                             check=False)
    assert missing.returncode == 2 and "no pyproject.toml" in missing.stderr

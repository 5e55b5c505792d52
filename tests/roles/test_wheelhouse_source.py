"""tragen_app's wheelhouse_source.yml, run by Ansible on the controller: a release id whose
wheelhouse was built from another source is refused, with what to do."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.deploy.test_task_files import run

NOW = "a1" * 32


def check(tmp_path: Path, marker: str | None) -> tuple[bool, str]:
    wheelhouse = tmp_path / "wheelhouse"
    if marker is not None:
        (wheelhouse / "v2").mkdir(parents=True)
        (wheelhouse / "v2" / ".complete").write_text(marker)
    play = [{"name": "Check", "hosts": "localhost", "gather_facts": False, "tasks": [
        {"name": "The source digest", "ansible.builtin.set_fact":
            {"tragen_app__source_digest": NOW}},
        {"name": "Check the wheelhouse", "ansible.builtin.include_role":
            {"name": "tragen_app", "tasks_from": "wheelhouse_source.yml"},
         "vars": {"tragen_app_release_id": "v2",
                  "tragen_app_wheelhouse_root": str(wheelhouse)}}]}]
    result = run(tmp_path, 0, play)
    return result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("marker", [None, f"v2 source={NOW}\n", "v2 (the code of r1-2)\n"],
                         ids=["not built yet", "built from this source", "a configuration release"])
def test_a_wheelhouse_of_this_source_or_of_none_passes(tmp_path: Path, marker: str | None) -> None:
    passed, output = check(tmp_path, marker)
    assert passed, output


def test_a_release_id_built_from_another_source_is_refused(tmp_path: Path) -> None:
    passed, output = check(tmp_path, "v2 source=" + "b2" * 32 + "\n")
    assert not passed
    assert "Release v2 was built from other sources (source digest b2b2b2b2b2b2, the source is " \
           "now a1a1a1a1a1a1)" in output
    assert "releases/v2 on every app server where it is not live" in output

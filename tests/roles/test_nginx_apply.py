"""tragen_nginx's one-task configuration change (library/tragen_nginx_apply.py): write, test,
put the previous files back on a refused test, record the drained set, reload."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

import pytest

from tests.roles.role_files import load_role_file

NGINX_APPLY = load_role_file("tragen_nginx/library/tragen_nginx_apply.py")
TEST = list(NGINX_APPLY.TEST_COMMAND)
RELOAD = list(NGINX_APPLY.RELOAD_COMMAND)


@pytest.fixture(scope="module")
def nginx_apply() -> ModuleType:
    return NGINX_APPLY


class Commands:
    """Records the commands run; the test command answers with ``test_code``."""

    def __init__(self, test_code: int = 0) -> None:
        self.test_code = test_code
        self.ran: list[list[str]] = []

    def __call__(self, command: Sequence[str]) -> tuple[int, str, str]:
        self.ran.append(list(command))
        if list(command) == TEST and self.test_code:
            return self.test_code, "", 'nginx: [emerg] unknown directive "srever"'
        return 0, "", ""


def test_changed_files_are_written_tested_recorded_and_reloaded(
    nginx_apply: ModuleType, tmp_path: Path
) -> None:
    upstream, site, state = tmp_path / "upstream.conf", tmp_path / "site.conf", tmp_path / "d.json"
    site.write_text("server {}\n")
    commands = Commands()
    outcome = nginx_apply.apply(
        {str(upstream): "upstream a {}\n", str(site): "server {}\n"},
        str(state),
        ["app2", "app1"],
        TEST,
        RELOAD,
        commands,
    )
    assert outcome.changed and outcome.written == [str(upstream)] and not outcome.error
    assert upstream.read_text() == "upstream a {}\n"
    assert json.loads(state.read_text()) == ["app1", "app2"]
    assert commands.ran == [TEST, RELOAD]
    assert oct(upstream.stat().st_mode & 0o777) == "0o644"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.json", "site.conf", "upstream.conf"]


def test_nothing_to_change_runs_nothing(nginx_apply: ModuleType, tmp_path: Path) -> None:
    upstream, state = tmp_path / "upstream.conf", tmp_path / "d.json"
    upstream.write_text("upstream a {}\n")
    state.write_text("[]\n")
    commands = Commands()
    outcome = nginx_apply.apply(
        {str(upstream): "upstream a {}\n"}, str(state), [], TEST, RELOAD, commands
    )
    assert not outcome.changed and commands.ran == []


def test_a_new_drained_set_alone_is_recorded_without_a_reload(
    nginx_apply: ModuleType, tmp_path: Path
) -> None:
    upstream, state = tmp_path / "upstream.conf", tmp_path / "d.json"
    upstream.write_text("upstream a {}\n")
    commands = Commands()
    outcome = nginx_apply.apply(
        {str(upstream): "upstream a {}\n"}, str(state), ["app3"], TEST, RELOAD, commands
    )
    assert outcome.changed and outcome.written == []
    assert json.loads(state.read_text()) == ["app3"] and commands.ran == []


def test_a_refused_configuration_puts_the_previous_files_back(
    nginx_apply: ModuleType, tmp_path: Path
) -> None:
    upstream, fresh, state = tmp_path / "upstream.conf", tmp_path / "new.conf", tmp_path / "d.json"
    upstream.write_text("upstream a { server 127.0.9.1:8000; }\n")
    state.write_text('[\n  "app1"\n]\n')
    commands = Commands(test_code=1)
    outcome = nginx_apply.apply(
        {str(upstream): "upstream a { srever x; }\n", str(fresh): "broken\n"},
        str(state),
        [],
        TEST,
        RELOAD,
        commands,
    )
    assert not outcome.changed and "srever" in outcome.error and "back in place" in outcome.error
    assert upstream.read_text() == "upstream a { server 127.0.9.1:8000; }\n"
    assert not fresh.exists()
    assert json.loads(state.read_text()) == ["app1"], "the drained set of the refused change"
    assert commands.ran == [TEST], "nginx is not reloaded onto a refused configuration"


def test_check_mode_reports_without_writing(nginx_apply: ModuleType, tmp_path: Path) -> None:
    upstream = tmp_path / "upstream.conf"
    commands = Commands()
    outcome = nginx_apply.apply(
        {str(upstream): "x\n"}, None, [], TEST, RELOAD, commands, check_mode=True
    )
    assert outcome.changed and not upstream.exists() and commands.ran == []


def test_a_failed_reload_is_reported(nginx_apply: ModuleType, tmp_path: Path) -> None:
    upstream = tmp_path / "upstream.conf"

    def reload_fails(command: Sequence[str]) -> tuple[int, str, str]:
        return (1, "", "Job for nginx.service failed") if list(command) == RELOAD else (0, "", "")

    outcome = nginx_apply.apply({str(upstream): "x\n"}, None, [], TEST, RELOAD, reload_fails)
    assert outcome.changed and "Job for nginx.service failed" in outcome.error

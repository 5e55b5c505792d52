"""Paging and count arguments of the list endpoints: refused with 400 outside their range.

Every list endpoint that takes such an argument is in PAGING; the runtime's other list
endpoints (/api/v1/agents, /api/v1/circuit-breakers) take none."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.runtime.test_engine_api import _call, _drive, _settings
from tragen_runtime import api
from tragen_runtime.runtime import Runtime
from tragen_runtime.storage import repository as repo
from tragen_runtime.storage.migrations import migrate
from tragen_runtime.wsgi import Application


class Paging:
    """One argument of one list endpoint, its range and what it is when absent."""

    def __init__(self, path: str, name: str, low: int, high: int, default: int) -> None:
        self.path, self.name = path, name
        self.low, self.high, self.default = low, high, default

    def __repr__(self) -> str:
        return f"{self.path}?{self.name}"


PAGING = [
    Paging("/api/v1/trades", "limit", 1, 1000, 100),
    Paging("/api/v1/trades", "after_id", 0, api.MAX_ROW_ID, 0),
]


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Application,
                                                                          list[dict[str, Any]]]]:
    """The WSGI app and the arguments each repository read received (the real read runs, so
    the bounds also reach SQLite)."""
    rt = Runtime(_settings(tmp_path))
    migrate(rt.db)
    seen: list[dict[str, Any]] = []
    real = repo.list_trades

    def spy(db: Any, limit: int, agent_id: str | None = None,
            after_id: int = 0) -> list[dict[str, Any]]:
        seen.append({"limit": limit, "after_id": after_id})
        return real(db, limit, agent_id, after_id)

    monkeypatch.setattr(repo, "list_trades", spy)
    try:
        yield Application(lambda: rt), seen
    finally:
        rt.shutdown(timeout=5)


def _bad_values(arg: Paging) -> list[str]:
    """-1, 0, 1001 and "abc" where they are out of range, and the neighbours of the range."""
    candidates = {"-1", "0", "1001", "abc", str(arg.low - 1), str(arg.high + 1)}
    return sorted(v for v in candidates
                  if not (v.lstrip("-").isdigit() and arg.low <= int(v) <= arg.high))


@pytest.mark.parametrize("arg", PAGING, ids=repr)
def test_out_of_range_or_not_a_number_is_400_naming_argument_and_range(
        app: tuple[Application, list[dict[str, Any]]], arg: Paging) -> None:
    application, seen = app
    for value in _bad_values(arg):
        status, body = _call(application, "GET", f"{arg.path}?{arg.name}={value}")
        assert status == 400, value
        shown = value if value.lstrip("-").isdigit() else repr(value)
        assert body["error"] == (f"{arg.name} must be a whole number from {arg.low} to "
                                 f"{arg.high}, found {shown}")
    assert seen == []  # refused before the database is read


@pytest.mark.parametrize("arg", PAGING, ids=repr)
@pytest.mark.parametrize("value", ["1.5", "+5", " 5", "1_0", "\u0665", "9" * 5000])
def test_only_plain_ascii_digits_are_whole_numbers(
        app: tuple[Application, list[dict[str, Any]]], arg: Paging, value: str) -> None:
    from urllib.parse import quote

    status, body = _call(app[0], "GET", f"{arg.path}?{arg.name}={quote(value)}")
    assert status == 400 and body["error"].startswith(f"{arg.name} must be a whole number")
    assert len(body["error"]) < 120  # a huge argument is not echoed in full


@pytest.mark.parametrize("arg", PAGING, ids=repr)
def test_bounds_are_accepted(app: tuple[Application, list[dict[str, Any]]],
                             arg: Paging) -> None:
    application, seen = app
    for value in (arg.low, arg.high):
        status, body = _call(application, "GET", f"{arg.path}?{arg.name}={value}")
        assert status == 200 and isinstance(body["trades"], list)
        assert seen.pop()[arg.name] == value


@pytest.mark.parametrize("arg", PAGING, ids=repr)
@pytest.mark.parametrize("query", ["", "?agent_id=a1", "?{name}="])
def test_missing_argument_is_the_default(app: tuple[Application, list[dict[str, Any]]],
                                         arg: Paging, query: str) -> None:
    application, seen = app
    status, _ = _call(application, "GET", arg.path + query.format(name=arg.name))
    assert status == 200
    assert seen == [{"limit": 100, "after_id": 0}]
    assert seen[0][arg.name] == arg.default


def test_limit_caps_the_rows(tmp_path: Path) -> None:
    rt = Runtime(_settings(tmp_path))
    migrate(rt.db)
    try:
        start = 10_000
        while len(repo.list_trades(rt.db, 3)) < 3 and start < 14_000:
            _drive(rt, range(start, start + 200), start=1_800_000_000.0 + start)
            start += 200
        application = Application(lambda: rt)
        status, body = _call(application, "GET", "/api/v1/trades?limit=1")
        assert status == 200 and len(body["trades"]) == 1
        newest = body["trades"][0]["trade_id"]
        status, body = _call(application, "GET", f"/api/v1/trades?after_id={newest}")
        assert status == 200 and body["trades"] == []
        status, body = _call(application, "GET", "/api/v1/trades?limit=1000")
        assert status == 200 and len(body["trades"]) >= 3
    finally:
        rt.shutdown(timeout=5)

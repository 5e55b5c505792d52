"""Blue-green colours: only the live colour's workers take agent leases; the idle colour is
ready and runs no agent; a switch hands every agent over through the leases."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tragen_runtime.colours import ColourState, check_colour, colour_state
from tragen_runtime.configsource import ConfigError
from tragen_runtime.runtime import Runtime
from tragen_runtime.settings import settings_from_config
from tragen_runtime.storage.migrations import migrate

AGENTS = 6
START = 1_800_000_000.0


def test_a_worker_without_a_colour_is_always_live() -> None:
    assert colour_state(None, None) == ColourState(None)
    assert ColourState(None).takes_leases


def test_the_live_colour_file_decides(tmp_path: Path) -> None:
    live = tmp_path / "live-colour"
    live.write_text("green\n")
    assert colour_state("green", str(live)).takes_leases
    blue = colour_state("blue", str(live))
    assert not blue.takes_leases and blue.problem is None
    assert blue.as_dict() == {"this": "blue", "live": "green", "takes_leases": False}


def test_before_the_first_switch_no_colour_takes_leases_and_neither_is_unready(
        tmp_path: Path) -> None:
    state = colour_state("green", str(tmp_path / "live-colour"))  # no file yet
    assert not state.takes_leases and state.problem is None
    assert state.as_dict() == {"this": "green", "live": None, "takes_leases": False}


@pytest.mark.parametrize(("content", "problem"), [
    (None, "cannot read the live colour from"),
    ("purple", "says 'purple'; expected one of blue, green"),
])
def test_an_unknown_live_colour_takes_no_leases_and_says_why(
        tmp_path: Path, content: str | None, problem: str) -> None:
    live = tmp_path / "live-colour"
    if content is None:
        live.mkdir()  # unreadable as a file
    else:
        live.write_text(content)
    state = colour_state("blue", str(live))
    assert not state.takes_leases
    assert problem in (state.problem or "")
    assert "TRAGEN_LIVE_COLOUR_FILE is not" in (colour_state("blue", None).problem or "")


def test_a_colour_that_is_not_one_is_refused() -> None:
    assert check_colour("blue") is None and check_colour(None) is None
    assert "TRAGEN_COLOUR is 'red'" in (check_colour("red") or "")
    with pytest.raises(ConfigError, match="TRAGEN_COLOUR is 'red'"):
        settings_from_config({}, env={"TRAGEN_COLOUR": "red"})


def _settings(tmp_path: Path, colour: str) -> Any:
    return settings_from_config({
        "production": {"max_agents": AGENTS},
        "agent_pools": {"conservative": AGENTS},
        "database": {"type": "sqlite", "path": str(tmp_path / "colours.db")},
        "runtime": {"market": {"seed": 3, "tick_interval": 1, "symbols": ["AAPL"]},
                    "leases": {"ttl_seconds": 10, "renew_interval_seconds": 2}},
    }, env={"TRAGEN_COLOUR": colour, "TRAGEN_LIVE_COLOUR_FILE": str(tmp_path / "live-colour")})


@pytest.fixture
def colours(tmp_path: Path) -> Iterator[dict[str, Runtime]]:
    (tmp_path / "live-colour").write_text("blue\n")
    both = {colour: Runtime(_settings(tmp_path, colour)) for colour in ("blue", "green")}
    migrate(both["blue"].db)
    yield both
    for rt in both.values():
        rt.shutdown(timeout=5)


def _owned(colours: dict[str, Runtime]) -> dict[str, set[str]]:
    owned = {colour: set(rt.engine.agents) for colour, rt in colours.items()}
    assert not owned["blue"] & owned["green"], "an agent runs in both colours"
    return owned


def test_only_the_live_colour_runs_agents_and_a_switch_hands_them_over(
        tmp_path: Path, colours: dict[str, Runtime]) -> None:
    blue, green = colours["blue"], colours["green"]
    for rt in (green, blue):
        rt.engine.lease_round(START)
    assert _owned(colours) == {"blue": {s.agent_id for s in blue.specs}, "green": set()}
    # Rounds are driven by hand here, so the engine's own thread is not running; nothing else
    # keeps the idle colour from being ready.
    _, body = green.readiness()
    assert body["reasons"] == ["agent engine not running"], body
    assert body["checks"]["colour"] == {"this": "green", "live": "blue", "takes_leases": False}
    assert body["checks"]["agents"]["running_here"] == 0

    # The switch: the file first, then each colour at its own next round, in either order.
    (tmp_path / "live-colour").write_text("green\n")
    green.engine.lease_round(START + 2)
    assert _owned(colours)["green"] == set(), "green claimed agents blue still held"
    blue.engine.lease_round(START + 2.5)
    assert _owned(colours) == {"blue": set(), "green": set()}
    green.engine.lease_round(START + 4)
    assert _owned(colours) == {"blue": set(), "green": {s.agent_id for s in green.specs}}
    assert green.engine.status.live_workers == 1, "blue no longer counts as a live worker"
    _, body = blue.readiness()
    assert body["reasons"] == ["agent engine not running"], body
    assert body["checks"]["colour"] == {"this": "blue", "live": "green", "takes_leases": False}


def test_without_a_readable_live_colour_neither_colour_runs_agents(
        tmp_path: Path, colours: dict[str, Runtime]) -> None:
    live = tmp_path / "live-colour"
    live.unlink()  # before the first switch: both idle, and ready
    for rt in colours.values():
        rt.engine.lease_round(START)
        _, body = rt.readiness()
        assert not any("live colour" in r for r in body["reasons"]), body
    assert _owned(colours) == {"blue": set(), "green": set()}
    live.mkdir()  # there, but unreadable: both idle, and not ready
    for rt in colours.values():
        rt.engine.lease_round(START + 1)
        rt._ready_cache = None  # the next probe computes afresh
        _, body = rt.readiness()
        assert any("cannot read the live colour" in r for r in body["reasons"]), body
    assert _owned(colours) == {"blue": set(), "green": set()}

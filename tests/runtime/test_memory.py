import gc
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tragen_runtime.agents import build_agents
from tragen_runtime.broker import Account, Position
from tragen_runtime.engine import RunningAgent
from tragen_runtime.memory import (
    ServiceMemory,
    agent_memory_check,
    agent_state_bytes,
    apply_gc_policy,
    service_memory,
)

GIB = 2**30
UNIT = "/system.slice/tragen.service"


def test_gc_policy_sets_thresholds_and_restores() -> None:
    before = gc.get_threshold()
    try:
        assert apply_gc_policy({"memory": {"gc_frequency": "aggressive"}}) == "aggressive"
        assert gc.get_threshold() == (300, 5, 5)
        assert apply_gc_policy({}) == "normal" and gc.get_threshold() == (700, 10, 10)
    finally:
        gc.set_threshold(*before)


# -- service memory: a fake /proc and cgroup tree ----------------------------------------

def _proc(tmp: Path, cgroup: str | None, total: int = 16 * GIB,
          available: int = 12 * GIB) -> str:
    proc = tmp / "proc"
    (proc / "self").mkdir(parents=True)
    if cgroup is not None:
        (proc / "self" / "cgroup").write_text(cgroup)
    (proc / "meminfo").write_text(f"MemTotal:       {total // 1024} kB\n"
                                  f"MemFree:         1024 kB\n"
                                  f"MemAvailable:   {available // 1024} kB\n")
    return str(proc)


def _cgroup(root: Path, path: str, current: int | None = None, limit: str = "max",
            inactive_file: int = 0) -> None:
    directory = root / path.lstrip("/")
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "memory.max").write_text(limit + "\n")
    if current is not None:
        (directory / "memory.current").write_text(f"{current}\n")
        (directory / "memory.stat").write_text(f"anon {current}\nfile 0\n"
                                               f"inactive_file {inactive_file}\n")


def test_limit_on_the_unit(tmp_path: Path) -> None:
    proc = _proc(tmp_path, f"0::{UNIT}\n")
    root = tmp_path / "cg"
    _cgroup(root, "/system.slice", 5 * GIB)
    _cgroup(root, UNIT, 3 * GIB, str(4 * GIB), inactive_file=GIB)  # 1 GiB is mere cache
    found = service_memory(proc, str(root))
    assert found == ServiceMemory(2 * GIB, 4 * GIB, 0.5, "cgroup", UNIT)


def test_limit_on_a_parent_counts_the_parents_usage(tmp_path: Path) -> None:
    proc = _proc(tmp_path, f"0::{UNIT}\n")
    root = tmp_path / "cg"
    _cgroup(root, "/system.slice", 3 * GIB, str(4 * GIB))  # other services use 2 GiB
    _cgroup(root, UNIT, GIB)
    found = service_memory(proc, str(root))
    assert found is not None and found.source == "cgroup"
    assert (found.path, found.used_bytes, found.fraction) == ("/system.slice", 3 * GIB, 0.75)


def test_the_fullest_of_several_limits_is_reported(tmp_path: Path) -> None:
    proc = _proc(tmp_path, f"0::{UNIT}\n")
    root = tmp_path / "cg"
    _cgroup(root, "/system.slice", 7 * GIB, str(8 * GIB))
    _cgroup(root, UNIT, GIB, str(4 * GIB))
    found = service_memory(proc, str(root))
    assert found is not None and found.path == "/system.slice" and found.fraction == 7 / 8


def test_no_limit_anywhere_falls_back_to_host_ram(tmp_path: Path) -> None:
    proc = _proc(tmp_path, f"0::{UNIT}\n", total=16 * GIB, available=4 * GIB)
    root = tmp_path / "cg"
    _cgroup(root, "/system.slice", 5 * GIB)
    _cgroup(root, UNIT, GIB)
    assert service_memory(proc, str(root)) == ServiceMemory(12 * GIB, 16 * GIB, 0.75, "host")


def test_a_limit_above_host_ram_is_ignored(tmp_path: Path) -> None:
    proc = _proc(tmp_path, f"0::{UNIT}\n", total=16 * GIB, available=8 * GIB)
    root = tmp_path / "cg"
    _cgroup(root, UNIT, GIB, str(64 * GIB))
    found = service_memory(proc, str(root))
    assert found is not None and found.source == "host" and found.fraction == 0.5


@pytest.mark.parametrize("cgroup", [
    "12:memory:/system.slice/tragen.service\n1:name=systemd:/system.slice/tragen.service\n",
    "4:memory:/system.slice/tragen.service\n0::/\n",  # hybrid: v2 tree without memory files
    None,  # /proc/self/cgroup unreadable
])
def test_cgroup_v1_or_unreadable_falls_back_to_host(tmp_path: Path, cgroup: str | None) -> None:
    proc = _proc(tmp_path, cgroup, total=8 * GIB, available=6 * GIB)
    (tmp_path / "cg").mkdir()
    found = service_memory(proc, str(tmp_path / "cg"))
    assert found is not None and found.source == "host" and found.fraction == 0.25


def test_nothing_readable_is_none(tmp_path: Path) -> None:
    assert service_memory(str(tmp_path / "none"), str(tmp_path / "none")) is None


def test_this_host_gives_a_figure_or_none() -> None:
    found = service_memory()
    assert found is None or 0.0 <= found.fraction <= 1.0


# -- what an agent holds -----------------------------------------------------------------

def _agent(positions: int) -> RunningAgent:
    spec = build_agents({"agent_pools": {"conservative": 1}}, ["A"])[0]
    account = Account(positions={f"S{i:03d}": Position(float(i + 1), 10.0 + i)
                                 for i in range(positions)})
    return RunningAgent(spec, account, False, "buy", "ema cross up", 7)


def test_more_positions_is_a_larger_figure() -> None:
    flat, one, fifty = (agent_state_bytes([_agent(n)]) for n in (0, 1, 50))
    assert flat < one < fifty
    # each position costs at least its Position object, its symbol and its two floats
    assert fifty - one >= 49 * (sys.getsizeof(Position(1.0, 1.0)) + 2 * sys.getsizeof(1.5))


def test_each_object_is_counted_once() -> None:
    agent = _agent(3)
    once = agent_state_bytes([agent])
    assert agent_state_bytes([agent, agent, agent.account]) == once
    shared = "x" * 10_000
    pair = [shared, shared, (shared,)]
    assert agent_state_bytes([pair]) == (sys.getsizeof(pair) + sys.getsizeof(shared)
                                         + sys.getsizeof((shared,)))


@dataclass
class _Shared:
    table: list[float] = field(default_factory=lambda: [float(i) for i in range(1000)])


@dataclass
class _Holder:  # an ordinary (dict) dataclass that refers to something every agent shares
    own: list[int]
    feed: _Shared
    strategy: object = len  # a function: code, never state


def test_shared_objects_modules_and_functions_are_excluded() -> None:
    feed = _Shared()
    holder = _Holder([1, 2, 3], feed)
    with_feed = agent_state_bytes([holder])
    without = agent_state_bytes([holder], exclude=[feed])
    assert with_feed - without >= sys.getsizeof(feed.table) + 1000 * sys.getsizeof(1.5)
    assert agent_state_bytes([sys, len, int, None, True]) == 0
    assert without >= sys.getsizeof(holder) + sys.getsizeof(holder.own)


def test_agent_memory_check() -> None:
    config = {"memory": {"agent_memory_limit": "1KB"}}
    within = agent_memory_check(config, [400, 600], 60 * 2**20)
    beyond = agent_memory_check(config, [100, 100, 5000], 0)
    assert within is not None and within["within_limit"] is True
    assert within["agent_state_bytes_max"] == 600 and within["agent_state_bytes_mean"] == 500
    assert within["worker_rss_bytes"] == 60 * 2**20
    assert within["worker_baseline_bytes"] == 60 * 2**20 - 1000
    assert beyond is not None and beyond["within_limit"] is False and beyond["agents"] == 3
    assert "worker_rss_bytes" not in beyond  # not sampled yet
    assert agent_memory_check({}, [1], 1) is None
    assert agent_memory_check(config, [], 1) is None


def test_one_agent_on_a_fresh_worker_is_not_its_whole_rss() -> None:
    """The case that misled: a 58 MB worker with one agent was "58 MB per agent"."""
    agent = _agent(2)
    report = agent_memory_check({"memory": {"agent_memory_limit": "25MB"}},
                                [agent_state_bytes([agent])], 58 * 2**20)
    assert report is not None and report["within_limit"] is True
    assert report["agent_state_bytes_max"] < 64 * 1024
    assert report["worker_baseline_bytes"] > 57 * 2**20

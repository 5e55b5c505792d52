"""The `memory` section at run time: collector tuning and the memory figures people act on.

Two figures, for two different questions:

* `service_memory`: how close the service is to being killed for memory. That is the share
  of the cgroup's limit in use (systemd's `MemoryMax=` sets `memory.max` on the unit's
  cgroup, and every gunicorn worker lives in it), or of host RAM where nothing sets a limit.
  The `memory_usage` breaker trips on it.
* `agent_state_bytes` / `agent_memory_check`: what one agent costs. A worker's RSS divided
  by its agents says nothing (one agent on a fresh worker "uses" the whole interpreter), so
  the figure is the deep size of the state the agent itself holds, shown next to the worker's
  RSS and the baseline that no agent owns.

Everything here is a pure function of its inputs (files under parameterised roots, objects
passed in) so the tests build a fake `/proc` and cgroup tree instead of needing a host.
"""

from __future__ import annotations

import dataclasses
import enum
import gc
import sys
import types
from collections import deque
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

GC_THRESHOLDS = {
    "normal": (700, 10, 10),  # CPython's defaults
    "aggressive": (300, 5, 5),  # collect young objects more often: smaller heap
    "optimized": (50_000, 20, 20),  # fewer pauses; long-lived state is frozen after start
}


def apply_gc_policy(config: Mapping[str, Any]) -> str:
    """Set the collector thresholds for `memory.gc_frequency`; returns the policy used."""
    policy = str((config.get("memory") or {}).get("gc_frequency", "normal"))
    gc.set_threshold(*GC_THRESHOLDS.get(policy, GC_THRESHOLDS["normal"]))
    if policy == "optimized":
        gc.freeze()  # objects built at start (config, specs) are never scanned again
    return policy


# -- the service against its limit -------------------------------------------------------

@dataclass(frozen=True, slots=True)
class ServiceMemory:
    """Memory in use against the limit that applies.

    `source` is "cgroup" (then `path` is the cgroup whose `memory.max` is the limit, the
    service's own or a parent slice) or "host" (no limit anywhere: host RAM, `path` "").
    """

    used_bytes: int
    limit_bytes: int
    fraction: float
    source: str
    path: str = ""


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError):
        return None


def _read_int(path: Path) -> int | None:
    text = _read(path)
    if text is None:
        return None
    try:
        return int(text.strip())
    except ValueError:
        return None  # "max", or a file we do not understand


def _unified_path(proc_cgroup: str) -> str | None:
    """The cgroup v2 path from /proc/self/cgroup (the `0::/…` line), None without one."""
    for line in proc_cgroup.splitlines():
        hierarchy, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if hierarchy == "0" and controllers == "" and path.startswith("/"):
            return path
    return None


def _working_set(directory: Path) -> int | None:
    """`memory.current` less the inactive page cache (`memory.stat` inactive_file).

    The kernel drops inactive cache before it reclaims anything else or kills, so counting
    it would trip the breaker on a service that merely wrote logs. This is the figure the
    kubelet and cAdvisor call the working set.
    """
    current = _read_int(directory / "memory.current")
    if current is None:
        return None
    inactive = 0
    for line in (_read(directory / "memory.stat") or "").splitlines():
        key, _, value = line.partition(" ")
        if key == "inactive_file" and value.strip().isdigit():
            inactive = int(value)
            break
    return max(0, current - inactive)


def host_memory(proc_root: str = "/proc") -> ServiceMemory | None:
    """Host RAM in use, (MemTotal - MemAvailable) / MemTotal; None if /proc/meminfo says
    neither (MemAvailable exists since Linux 3.14)."""
    fields: dict[str, int] = {}
    for line in (_read(Path(proc_root) / "meminfo") or "").splitlines():
        key, _, value = line.partition(":")
        parts = value.split()
        if parts and parts[0].isdigit():
            fields[key.strip()] = int(parts[0]) * 1024  # the file says kB
    total, available = fields.get("MemTotal"), fields.get("MemAvailable")
    if not total or available is None:
        return None
    used = max(0, total - available)
    return ServiceMemory(used, total, used / total, "host")


def service_memory(proc_root: str = "/proc",
                   cgroup_root: str = "/sys/fs/cgroup") -> ServiceMemory | None:
    """This process's cgroup against its memory limit, else host RAM, else None.

    From the process's cgroup v2 directory up to the root, every `memory.max` that is not
    `max` is a limit the kernel enforces on that level's own usage (a parent slice's limit
    counts its other services too). The level nearest to being full is reported, which is
    the unit's own cgroup when `MemoryMax=` is set on the unit. Where no level has a limit,
    the host's RAM is the limit, so the breaker still means something on a laptop.

    cgroup v1 (no `0::` line, or the v2 tree without memory files as on a hybrid host) and
    unreadable files fall back to host RAM as well; None only when /proc/meminfo is
    unreadable too. A limit above host RAM cannot be reached before the host runs out, so
    it is ignored.
    """
    host = host_memory(proc_root)
    path = _unified_path(_read(Path(proc_root) / "self" / "cgroup") or "")
    if path is None:
        return host
    root = Path(cgroup_root)
    own = root / path.lstrip("/")
    own_used = _working_set(own)
    if own_used is None:
        return host
    best: ServiceMemory | None = None
    level, name = own, path
    while True:
        limit = _read_int(level / "memory.max")
        if limit and (host is None or limit < host.limit_bytes):
            used = own_used if level == own else _working_set(level)
            used = own_used if used is None else used
            found = ServiceMemory(used, limit, used / limit, "cgroup", name)
            if best is None or found.fraction > best.fraction:
                best = found
        if level == root or name in ("/", ""):
            break
        level, name = level.parent, str(Path(name).parent)
    return best or host


# -- what one agent holds ----------------------------------------------------------------

# Not an agent's own: code and types are shared by every agent, and the singletons and enum
# members exist once per interpreter whoever refers to them.
_NOT_STATE = (types.ModuleType, type, types.FunctionType, types.BuiltinFunctionType,
              types.MethodType, types.CodeType, types.FrameType, types.GeneratorType,
              types.MethodWrapperType, types.WrapperDescriptorType, property, enum.Enum)
_LEAVES = (str, bytes, bytearray, int, float, complex, range)


def _slot_names(cls: type) -> Iterable[str]:
    for klass in cls.__mro__:
        slots = klass.__dict__.get("__slots__", ())
        yield from ((slots,) if isinstance(slots, str) else slots)


def _children(obj: object) -> Iterable[object]:
    """The objects `obj` holds that may be part of the same state.

    Containers are copied with `list()` first: that copy runs in C under the GIL, so the
    engine thread changing an account meanwhile cannot break the walk.
    """
    if isinstance(obj, dict):
        return [x for pair in list(obj.items()) for x in pair]
    if isinstance(obj, (list, tuple, set, frozenset, deque)):
        return list(obj)
    found: list[object] = []
    if dataclasses.is_dataclass(obj):
        found.extend(getattr(obj, f.name, None) for f in dataclasses.fields(obj))
    for slot in _slot_names(type(obj)):
        if slot not in ("__dict__", "__weakref__"):
            found.append(getattr(obj, slot, None))
    attrs = getattr(obj, "__dict__", None)
    if isinstance(attrs, dict):
        # the dict itself is the instance's; its keys are the class's interned names
        found.append(_InstanceDict(attrs))
    return found


@dataclass(frozen=True, slots=True)
class _InstanceDict:
    """An instance `__dict__`: counted, values followed, the shared key strings not."""

    attrs: dict[str, Any]


def agent_state_bytes(objects: Iterable[object], exclude: Collection[object] = ()) -> int:
    """Deep size in bytes of the objects and of everything they hold, each object once.

    Pass one agent's own state (its `RunningAgent`: spec, account and positions, last
    analysis) to get what that agent costs; `exclude` names objects that are not its own even
    if it refers to them (the market feed's indicator states all agents share). Dataclass
    fields, slots, instance dicts, dicts, lists, tuples and sets are followed; modules,
    classes, functions, enum members and `None`/`True`/`False` are not counted at all.
    """
    skip = {id(x) for x in exclude}
    seen: set[int] = set()
    stack: list[object] = list(objects)
    total = 0
    while stack:
        obj = stack.pop()
        if (obj is None or obj is True or obj is False or obj is Ellipsis
                or obj is NotImplemented or isinstance(obj, _NOT_STATE)):
            continue
        if isinstance(obj, _InstanceDict):
            key = id(obj.attrs)
            if key in seen or key in skip:
                continue
            seen.add(key)
            total += sys.getsizeof(obj.attrs)
            stack.extend(list(obj.attrs.values()))
            continue
        key = id(obj)
        if key in seen or key in skip:
            continue
        seen.add(key)
        total += sys.getsizeof(obj)
        if not isinstance(obj, _LEAVES):
            stack.extend(_children(obj))
    return total


def agent_memory_check(config: Mapping[str, Any], per_agent_bytes: Sequence[int],
                       worker_rss: int) -> dict[str, Any] | None:
    """This worker's agents' own state against `memory.agent_memory_limit` (None if unset
    or no agent runs here).

    `per_agent_bytes` holds one `agent_state_bytes` figure per agent of the worker. The
    largest decides `within_limit` (one outsized agent is what the limit is for); the mean
    shows the typical agent. The worker's RSS and its baseline (RSS less all agents' state:
    interpreter, libraries, shared market feed and caches) are reported beside them, so a
    large RSS is not mistaken for large agents.
    """
    from tragen_runtime.sizing import parse_size

    limit = (config.get("memory") or {}).get("agent_memory_limit")
    if not limit or not per_agent_bytes:
        return None
    limit_bytes = parse_size(str(limit))
    largest, total = max(per_agent_bytes), sum(per_agent_bytes)
    report: dict[str, Any] = {
        "agents": len(per_agent_bytes),
        "agent_state_bytes_max": largest,
        "agent_state_bytes_mean": total // len(per_agent_bytes),
        "agent_memory_limit": limit,
        "agent_memory_limit_bytes": limit_bytes,
        "within_limit": largest <= limit_bytes,
    }
    if worker_rss > 0:
        report["worker_rss_bytes"] = worker_rss
        report["worker_baseline_bytes"] = max(0, worker_rss - total)
    return report

"""One batch of a rollout: whether it may start, how it went, and its record for the summary.

Ansible drops an unreachable host from a serial play without failing it and goes on with the
next batch (ansible/ansible#56265). These functions are how a rollout does not: a host that
left the batch counts as failed, and a batch never starts after an earlier one did not finish.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypedDict

LOST = "unreachable (lost during the batch)"


class HostOutcome(TypedDict, total=False):
    """What the batch's tasks noted on one host."""

    result: str  # pending | ok | failed
    error: str  # the failed task and its message
    back: str  # after a failed batch: "back on <release>" or why not
    restart_seconds: str | float  # out of service until ready on the target release


class BatchRecord(TypedDict):
    number: int
    operation: str
    target: str
    hosts: list[str]
    seconds: float
    restart_to_ready: float
    result: str  # ok | rolled back
    failures: dict[str, str]
    back: dict[str, str]


def earlier_unfinished(
    play_hosts: Sequence[str], batch: Sequence[str], finished: Sequence[str]
) -> list[str]:
    """The hosts of earlier batches (``play_hosts`` is in batch order) that did not finish."""
    if not batch:
        return []
    earlier = play_hosts[: list(play_hosts).index(batch[0])]
    return [host for host in earlier if host not in finished]


def judge(
    batch: Sequence[str], reachable: Sequence[str], outcomes: Mapping[str, HostOutcome]
) -> dict[str, str]:
    """The batch's failures, host to reason: lost from the batch, or a task that failed."""
    failures = {host: LOST for host in batch if host not in reachable}
    for host in reachable:
        outcome = outcomes.get(host, {})
        if outcome.get("result") == "failed":
            failures[host] = outcome.get("error") or "failed"
    return failures


def _seconds(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def record(
    *,
    number: int,
    operation: str,
    target: str,
    batch: Sequence[str],
    reachable: Sequence[str],
    outcomes: Mapping[str, HostOutcome],
    started: float,
    ended: float,
) -> BatchRecord:
    """The batch as the summary reports it; ``started``/``ended`` are Unix times."""
    failures = judge(batch, reachable, outcomes)
    restarts = [
        seconds
        for host in reachable
        if (seconds := _seconds(outcomes.get(host, {}).get("restart_seconds"))) is not None
    ]
    return {
        "number": number,
        "operation": operation,
        "target": target,
        "hosts": list(batch),
        "seconds": round(ended - started, 1),
        "restart_to_ready": max(restarts, default=0.0),
        "result": "ok" if not failures else "rolled back",
        "failures": failures,
        "back": {
            host: back for host in reachable if (back := outcomes.get(host, {}).get("back"))
        },
    }

"""The closing summary of a rollout and the decision whether the run failed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tragen_runtime.deploy.batches import BatchRecord


@dataclass(frozen=True)
class Rollout:
    """What the run did: its batches in order, and what it was asked to do."""

    operation: str
    target: str
    batches: Sequence[BatchRecord]
    app_servers: Sequence[str]
    finished: Sequence[str]
    stop_reason: str = ""
    stopped: bool = False
    has_balancer: bool = True

    @property
    def unfinished(self) -> list[str]:
        return [host for host in self.app_servers if host not in self.finished]

    @property
    def failed_batch(self) -> BatchRecord | None:
        return next((batch for batch in self.batches if batch["result"] != "ok"), None)


def _batch_lines(rollout: Rollout, batch: BatchRecord) -> list[str]:
    other = (
        f" ({batch['operation']} to {batch['target']})"
        if batch["operation"] != rollout.operation
        else ""
    )
    lines = [
        f"batch {batch['number']}{other}: {', '.join(batch['hosts'])} - {batch['seconds']} s "
        f"(restart to ready {batch['restart_to_ready']} s) - {batch['result']}"
    ]
    lines += [f"  {host}: {why}" for host, why in batch["failures"].items()]
    lines += [f"  {host}: {back}" for host, back in batch["back"].items()]
    return lines


def text(rollout: Rollout) -> str:
    """Per batch: hosts, duration, restart to ready, result; then why it stopped."""
    batches = rollout.batches
    total = round(sum(batch["seconds"] for batch in batches), 1)
    restarts = round(sum(batch["restart_to_ready"] for batch in batches), 1)
    lines = [
        f"{rollout.operation} to {rollout.target}: {len(batches)} batch(es), {total} s, "
        f"restart to ready {restarts} s in all"
    ]
    for batch in batches:
        lines += _batch_lines(rollout, batch)
    if rollout.stop_reason:
        lines.append(rollout.stop_reason)
    if not rollout.has_balancer and batches:
        longest = round(max(batch["restart_to_ready"] for batch in batches), 1)
        lines.append(
            "No load balancer: each app server was out of service while it restarted, "
            f"{longest} s at most (stop, start, until /readyz answered 200); requests in that "
            "time were refused."
        )
    if rollout.unfinished:
        lines.append(f"Not finished: {', '.join(rollout.unfinished)}.")
    return "\n".join(lines)


def failure(rollout: Rollout, *, lock_host_unreachable: str = "") -> str:
    """Why the run fails, or "" when every app server finished on the target release."""
    parts: list[str] = []
    failed = rollout.failed_batch
    if failed is not None:
        reasons = "; ".join(f"{host}: {why}" for host, why in failed["failures"].items())
        back = "; ".join(f"{host} {state}" for host, state in failed["back"].items())
        parts.append(
            f"The {rollout.operation} stopped in batch {failed['number']} "
            f"({', '.join(failed['failures'])}): {reasons}. The batch went back to its recorded "
            f"release: {back or 'no host of it was left'}. Later batches were not touched."
        )
    elif rollout.stop_reason:
        parts.append(f"The {rollout.operation} {rollout.stop_reason}.")
    elif rollout.stopped:
        parts.append(f"The {rollout.operation} stopped.")
    if rollout.unfinished:
        parts.append(f"Not on {rollout.target}: {', '.join(rollout.unfinished)}.")
    if parts and lock_host_unreachable:
        parts.append(
            f"The deploy lock on {lock_host_unreachable} could not be released (host "
            "unreachable); rerun with -e tragen_deploy_break_lock=true once it is back."
        )
    return " ".join(parts)

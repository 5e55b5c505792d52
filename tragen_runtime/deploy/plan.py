"""The batch plan of a rollout: how many app servers go out of service at once, refused when a
batch would leave too few in service."""

from __future__ import annotations

import math
from dataclasses import dataclass


class PlanRefused(ValueError):
    """The plan would leave too few app servers in service, or its settings make no sense."""


@dataclass(frozen=True)
class BatchPlan:
    hosts: tuple[str, ...]
    batch_size: int
    min_in_service: int

    @property
    def batches(self) -> list[list[str]]:
        return [
            list(self.hosts[start : start + self.batch_size])
            for start in range(0, len(self.hosts), self.batch_size)
        ]

    def describe(self) -> str:
        return (
            f"{len(self.hosts)} app servers in batches of {self.batch_size} "
            f"({len(self.batches)} batches), at least {self.min_in_service} in service at any time."
        )


def batch_size(setting: str | int, host_count: int) -> int:
    """``setting``: a count of app servers (2) or a share of them ("25%": rounded up, >= 1)."""
    text = str(setting).strip()
    try:
        if text.endswith("%"):
            share = float(text[:-1])
            if share <= 0:
                raise ValueError(text)
            return max(1, math.ceil(host_count * share / 100))
        count = int(text)
    except ValueError:
        raise PlanRefused(
            f"tragen_deploy_batch_size is {text!r}: give a number of app servers (2) "
            "or a share of them (25%)."
        ) from None
    if count < 1:
        raise PlanRefused(
            f"tragen_deploy_batch_size is {count}: a batch needs at least 1 app server."
        )
    return count


def min_in_service(setting: str | int | None, host_count: int) -> int:
    """``setting`` empty: 2 when there are 4 or more app servers, else 1."""
    text = "" if setting is None else str(setting).strip()
    if not text:
        return 2 if host_count >= 4 else 1
    try:
        return int(text)
    except ValueError:
        raise PlanRefused(
            f"tragen_deploy_min_healthy is {text!r}: give a number of app servers, "
            "or leave it empty for the default."
        ) from None


def plan_batches(
    hosts: list[str], batch_setting: str | int, min_healthy_setting: str | int | None
) -> BatchPlan:
    """The plan for ``hosts`` (in inventory order), or PlanRefused saying what to change.

    A batch must leave ``min_in_service`` app servers in service, and never a single upstream
    when the stage has more than two (its failure would take the whole stage down); a stage of
    one app server can only restart it.
    """
    if not hosts:
        raise PlanRefused("The inventory has no app_servers: there is nothing to roll out to.")
    count = len(hosts)
    plan = BatchPlan(
        hosts=tuple(hosts),
        batch_size=batch_size(batch_setting, count),
        min_in_service=min_in_service(min_healthy_setting, count),
    )
    left = count - plan.batch_size
    if count > 1 and (left < plan.min_in_service or (count > 2 and left < 2)):
        raise PlanRefused(
            f"A batch of {plan.batch_size} of {count} app servers would leave {left} in service; "
            f"the plan needs at least {plan.min_in_service} (and never one upstream alone). "
            "Lower tragen_deploy_batch_size."
        )
    return plan

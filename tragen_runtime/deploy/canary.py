"""The canary steps of a rollout: the first batch takes a growing share of the traffic, each
step analysed against the servers not yet rolled, before it rejoins at its own share.

Open-source nginx can weight upstream servers but has no runtime API, so each step is one
graceful reload with weights: the batch's `k` servers at `p * (n - k)` each and the other
`n - k` at `(100 - p) * k` each give the batch exactly `p` % of the requests (nginx's smooth
weighted round robin; least_conn and ip_hash honour weights too).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import reduce


class CanaryRefused(ValueError):
    """The steps make no sense, or the stage cannot run a canary."""


def steps(setting: object, balancers: int) -> list[float]:
    """``tragen_deploy_canary_steps`` as percentages, or CanaryRefused saying what to change.

    Empty: no canary. Each step lies strictly between 0 and 100 (at 100 the servers not yet
    rolled would take no traffic: that is the end of the rollout, not a step), and they grow.
    """
    if setting in (None, "", []):
        return []
    if not isinstance(setting, list | tuple):
        raise CanaryRefused(f"tragen_deploy_canary_steps is {setting!r}: give a list of "
                            "percentages of the traffic, such as [10, 25, 50].")
    chosen: list[float] = []
    for item in setting:
        text = str(item).strip().removesuffix("%")
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if isinstance(item, bool) or not 0 < value < 100:
            raise CanaryRefused(f"tragen_deploy_canary_steps has {item!r}: each step is a "
                                "percentage of the traffic above 0 and below 100.")
        if chosen and value <= chosen[-1]:
            raise CanaryRefused(f"tragen_deploy_canary_steps {list(setting)!r} must grow: "
                                f"{value:g} follows {chosen[-1]:g}.")
        chosen.append(value)
    if balancers < 1:
        raise CanaryRefused("tragen_deploy_canary_steps needs a load balancer (group lb) to "
                            "weight the traffic; this stage has none.")
    return chosen


def weights(canary: Sequence[str], stable: Sequence[str], percent: float) -> dict[str, int]:
    """nginx upstream weights that send ``percent`` % of the requests to the ``canary`` servers
    and the rest to the ``stable`` ones, in the smallest whole numbers (percent to 0.1)."""
    if not canary or not stable:
        raise CanaryRefused("a canary step needs servers on both sides: "
                            f"canary {list(canary)}, stable {list(stable)}")
    if not 0 < percent < 100:
        raise CanaryRefused(f"a canary step of {percent:g} % is not between 0 and 100")
    tenths = round(percent * 10)
    canary_weight = tenths * len(stable)
    stable_weight = (1000 - tenths) * len(canary)
    common = reduce(math.gcd, (canary_weight, stable_weight))
    return {**{host: canary_weight // common for host in canary},
            **{host: stable_weight // common for host in stable}}


def describe(chosen: Sequence[float]) -> str:
    """The canary's line of the batch plan ('' without steps)."""
    if not chosen:
        return ""
    shares = " %, ".join(f"{step:g}" for step in chosen)
    return f"The first batch is a canary: {shares} % of the traffic, each step analysed."

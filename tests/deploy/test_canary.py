"""The canary steps: their validation, and the nginx weights that give the canary its share."""

from __future__ import annotations

import pytest

from tragen_runtime.deploy.canary import CanaryRefused, describe, steps, weights


def share(of: list[str], given: dict[str, int]) -> float:
    return sum(given[h] for h in of) / sum(given.values())


@pytest.mark.parametrize(
    ("setting", "expected"),
    [([], []), (None, []), ("", []), ([10, 25, 50], [10, 25, 50]), (["10%", " 25 "], [10, 25]),
     ([0.5, 99.5], [0.5, 99.5])],
)
def test_steps_are_growing_percentages(setting: object, expected: list[float]) -> None:
    assert steps(setting, balancers=1) == expected


@pytest.mark.parametrize(
    ("setting", "message"),
    [("10", "give a list"), ([0], "above 0 and below 100"), ([10, 100], "below 100"),
     (["ten"], "'ten'"), ([True], "True"), ([25, 10], "must grow: 10 follows 25"),
     ([10, 10], "must grow")],
)
def test_nonsense_steps_are_refused_with_what_to_change(setting: object, message: str) -> None:
    with pytest.raises(CanaryRefused, match=message):
        steps(setting, balancers=1)


def test_a_stage_without_a_balancer_cannot_weigh_traffic() -> None:
    assert steps([], balancers=0) == []
    with pytest.raises(CanaryRefused, match="needs a load balancer"):
        steps([10], balancers=0)


@pytest.mark.parametrize("percent", [10, 25, 50, 75, 12.5, 0.1, 99.9])
@pytest.mark.parametrize(("canary", "stable"), [(1, 1), (2, 2), (2, 6), (1, 7), (3, 5)])
def test_weights_give_the_canary_its_share_exactly(canary: int, stable: int,
                                                  percent: float) -> None:
    hosts = [f"app{n}" for n in range(canary + stable)]
    given = weights(hosts[:canary], hosts[canary:], percent)
    assert share(hosts[:canary], given) == pytest.approx(percent / 100)
    assert all(isinstance(w, int) and w >= 1 for w in given.values())


def test_weights_are_the_smallest_whole_numbers() -> None:
    # 10 % to 2 of 4 servers: one request in ten, 1 : 9 per server.
    assert weights(["app1", "app2"], ["app3", "app4"], 10) == {
        "app1": 1, "app2": 1, "app3": 9, "app4": 9}
    # Half of the traffic to 2 of 4 is their own share: equal weights.
    assert set(weights(["app1", "app2"], ["app3", "app4"], 50).values()) == {1}


def test_weights_need_both_sides_and_a_share_between_0_and_100() -> None:
    with pytest.raises(CanaryRefused, match="both sides"):
        weights(["app1"], [], 10)
    with pytest.raises(CanaryRefused, match="not between 0 and 100"):
        weights(["app1"], ["app2"], 100)


def test_the_plan_names_the_steps_in_plain_percentages() -> None:
    assert describe([10.0, 12.5]) == ("The first batch is a canary: 10 %, 12.5 % of the traffic, "
                                      "each step analysed.")
    assert describe([]) == ""

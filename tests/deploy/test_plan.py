"""The batch plan: sizes, shares, the fewest in service, and the refusals."""

from __future__ import annotations

import pytest

from tragen_runtime.deploy.plan import PlanRefused, batch_size, min_in_service, plan_batches


def hosts(count: int) -> list[str]:
    return [f"app{n}" for n in range(1, count + 1)]


@pytest.mark.parametrize(
    ("setting", "count", "expected"),
    [(2, 8, 2), ("3", 8, 3), ("25%", 8, 2), ("25%", 6, 2), ("10%", 3, 1), (" 50% ", 4, 2)],
)
def test_batch_size_is_a_count_or_a_share_rounded_up(setting: str | int, count: int,
                                                     expected: int) -> None:
    assert batch_size(setting, count) == expected


@pytest.mark.parametrize("setting", ["", "two", "0", "-1", "0%", "x%"])
def test_a_batch_size_that_is_not_a_positive_count_or_share_is_refused(setting: str) -> None:
    with pytest.raises(PlanRefused, match="tragen_deploy_batch_size"):
        batch_size(setting, 4)


@pytest.mark.parametrize(("setting", "count", "expected"),
                         [("", 4, 2), ("", 3, 1), (None, 8, 2), ("3", 8, 3), (1, 2, 1)])
def test_min_in_service_defaults_by_stage_size(setting: str | int | None, count: int,
                                               expected: int) -> None:
    assert min_in_service(setting, count) == expected


def test_min_in_service_that_is_not_a_number_names_the_setting() -> None:
    with pytest.raises(PlanRefused, match="tragen_deploy_min_healthy is 'most'"):
        min_in_service("most", 4)


def test_the_guide_plan_of_eight_servers_in_batches_of_two() -> None:
    plan = plan_batches(hosts(8), 2, "")
    assert plan.batches == [["app1", "app2"], ["app3", "app4"], ["app5", "app6"], ["app7", "app8"]]
    assert plan.describe() == (
        "8 app servers in batches of 2 (4 batches), at least 2 in service at any time."
    )


def test_an_uneven_last_batch_holds_the_rest() -> None:
    assert plan_batches(hosts(5), 2, "").batches[-1] == ["app5"]


def test_one_app_server_can_only_restart() -> None:
    assert plan_batches(hosts(1), 2, "").batches == [["app1"]]


def test_two_app_servers_go_one_at_a_time() -> None:
    assert plan_batches(hosts(2), 1, "").batch_size == 1
    with pytest.raises(PlanRefused, match="A batch of 2 of 2 app servers would leave 0"):
        plan_batches(hosts(2), 2, "")


def test_three_app_servers_never_leave_one_upstream_alone() -> None:
    with pytest.raises(PlanRefused, match="never one upstream alone"):
        plan_batches(hosts(3), 2, "1")


def test_a_plan_below_the_operators_minimum_says_what_to_lower() -> None:
    with pytest.raises(PlanRefused, match="needs at least 6.*Lower tragen_deploy_batch_size"):
        plan_batches(hosts(8), "50%", "6")


def test_no_app_servers_is_refused() -> None:
    with pytest.raises(PlanRefused, match="no app_servers"):
        plan_batches([], 2, "")

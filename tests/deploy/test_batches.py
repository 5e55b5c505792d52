"""A batch: whether it may start, its judgement, and its record."""

from __future__ import annotations

from tragen_runtime.deploy.batches import LOST, HostOutcome, earlier_unfinished, judge, record

PLAY = ["app1", "app2", "app3", "app4"]


def test_the_first_batch_has_nothing_before_it() -> None:
    assert earlier_unfinished(PLAY, ["app1", "app2"], []) == []


def test_a_batch_after_finished_ones_may_start() -> None:
    assert earlier_unfinished(PLAY, ["app3", "app4"], ["app1", "app2"]) == []


def test_a_host_of_an_earlier_batch_that_did_not_finish_stops_the_next() -> None:
    # app2 went unreachable in batch 1; Ansible would go on with batch 2 without it.
    assert earlier_unfinished(PLAY, ["app3", "app4"], ["app1"]) == ["app2"]


def test_an_empty_batch_has_nothing_before_it() -> None:
    assert earlier_unfinished(PLAY, [], []) == []


def test_a_batch_where_every_host_went_well_has_no_failures() -> None:
    outcomes: dict[str, HostOutcome] = {"app1": {"result": "ok"}, "app2": {"result": "ok"}}
    assert judge(["app1", "app2"], ["app1", "app2"], outcomes) == {}


def test_a_failed_task_and_a_lost_host_both_fail_the_batch() -> None:
    outcomes: dict[str, HostOutcome] = {
        "app1": {"result": "failed", "error": "Wait until ready: timed out"}
    }
    assert judge(["app1", "app2"], ["app1"], outcomes) == {
        "app2": LOST,
        "app1": "Wait until ready: timed out",
    }


def test_a_failure_without_a_message_still_counts() -> None:
    assert judge(["app1"], ["app1"], {"app1": {"result": "failed", "error": ""}}) == {
        "app1": "failed"
    }


def test_the_record_of_a_good_batch() -> None:
    entry = record(
        number=2, operation="rolling update", target="v2", batch=["app3", "app4"],
        reachable=["app3", "app4"],
        outcomes={"app3": {"result": "ok", "restart_seconds": "4.2", "back": ""},
                  "app4": {"result": "ok", "restart_seconds": 5.5}},
        started=100.0, ended=112.34,
    )
    assert entry == {
        "number": 2, "operation": "rolling update", "target": "v2", "hosts": ["app3", "app4"],
        "seconds": 12.3, "restart_to_ready": 5.5, "result": "ok", "failures": {}, "back": {},
    }


def test_the_record_of_a_rolled_back_batch_says_where_each_host_went() -> None:
    entry = record(
        number=1, operation="rolling update", target="v3", batch=["app1", "app2"],
        reachable=["app1"],
        outcomes={"app1": {"result": "failed", "error": "never ready", "restart_seconds": "",
                           "back": "back on v2"}},
        started=0.0, ended=60.0,
    )
    assert entry["result"] == "rolled back"
    assert entry["failures"] == {"app2": LOST, "app1": "never ready"}
    assert entry["back"] == {"app1": "back on v2"}
    assert entry["restart_to_ready"] == 0.0

"""The closing summary of a rollout and whether the run fails."""

from __future__ import annotations

from tragen_runtime.deploy.batches import LOST, BatchRecord
from tragen_runtime.deploy.summary import Rollout, failure, text

APPS = ["app1", "app2", "app3", "app4"]


def batch(number: int, hosts: list[str], result: str = "ok", *, operation: str = "rolling update",
          failures: dict[str, str] | None = None, back: dict[str, str] | None = None,
          ) -> BatchRecord:
    return {"number": number, "operation": operation, "target": "v2", "hosts": hosts,
            "seconds": 10.0, "restart_to_ready": 4.0, "result": result,
            "failures": failures or {}, "back": back or {}}


def rollout(*batches: BatchRecord, finished: list[str], **more: object) -> Rollout:
    return Rollout(operation="rolling update", target="v2", batches=batches, app_servers=APPS,
                   finished=finished, **more)  # type: ignore[arg-type]


def test_a_rollout_that_finished_sums_its_batches_and_does_not_fail() -> None:
    done = rollout(batch(1, APPS[:2]), batch(2, APPS[2:]), finished=APPS)
    assert text(done).splitlines() == [
        "rolling update to v2: 2 batch(es), 20.0 s, restart to ready 8.0 s in all",
        "batch 1: app1, app2 - 10.0 s (restart to ready 4.0 s) - ok",
        "batch 2: app3, app4 - 10.0 s (restart to ready 4.0 s) - ok",
    ]
    assert failure(done) == ""


def test_a_rolled_back_batch_fails_the_run_and_names_hosts_reasons_and_where_they_went() -> None:
    failed = batch(1, APPS[:2], "rolled back", failures={"app1": "never ready", "app2": LOST},
                   back={"app1": "back on v1"})
    done = rollout(failed, finished=[], stopped=True)
    assert "  app1: never ready" in text(done)
    assert "Not finished: app1, app2, app3, app4." in text(done)
    assert failure(done) == (
        "The rolling update stopped in batch 1 (app1, app2): app1: never ready; "
        f"app2: {LOST}. The batch went back to its recorded release: app1 back on v1. "
        "Later batches were not touched. Not on v2: app1, app2, app3, app4."
    )


def test_a_batch_of_another_operation_is_named() -> None:
    done = rollout(batch(1, APPS, operation="config restore"), finished=APPS)
    assert "batch 1 (config restore to v2): " in text(done)


def test_a_stop_before_a_batch_is_the_reason() -> None:
    done = rollout(batch(1, APPS[:2]), finished=["app1"], stopped=True,
                   stop_reason="stopped before batch 2 (app3, app4, not touched): app2 of an "
                               "earlier batch did not finish")
    assert failure(done).startswith("The rolling update stopped before batch 2")


def test_no_balancer_says_what_the_restart_cost() -> None:
    done = rollout(batch(1, APPS), finished=APPS, has_balancer=False)
    assert "No load balancer: each app server was out of service while it restarted, 4.0 s" \
        in text(done)


def test_an_unreleased_lock_is_named_only_when_the_run_fails() -> None:
    done = rollout(batch(1, APPS[:2]), finished=APPS[:2])
    assert failure(done, lock_host_unreachable="app1").endswith(
        "The deploy lock on app1 could not be released (host unreachable); rerun with "
        "-e tragen_deploy_break_lock=true once it is back."
    )
    assert failure(rollout(batch(1, APPS), finished=APPS), lock_host_unreachable="app1") == ""

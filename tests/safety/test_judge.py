"""The breakers' judgement, case by case, with exact arithmetic."""

from __future__ import annotations

from typing import Any

import pytest

from tragen_runtime.safety.config import BreakerRule, SafetyConfig
from tragen_runtime.safety.judge import BreakerState, ResetRefused, judge, operator_reset

GUIDE: dict[str, Any] = {
    "circuit_breakers": {
        "portfolio_breakers": {
            "total_loss": {"threshold": 0.05, "cooldown": 3600, "auto_reset": False},
            "correlation_spike": {"threshold": 0.9, "action": "reduce_positions",
                                  "reduction_factor": 0.5}},
        "system_breakers": {
            "api_failure_rate": {"threshold": 0.1, "action": "halt_new_trades",
                                 "duration": 300},
            "memory_usage": {"threshold": 0.9, "action": "scale_down_agents",
                             "reduction_factor": 0.8}}},
    "portfolio_risk": {
        "aggregate_limits": {"total_portfolio_risk": 0.02, "daily_loss_limit": 0.05,
                             "monthly_loss_limit": 0.15},
        "emergency_procedures": {"auto_halt_threshold": 0.10,
                                 "position_reduction_threshold": 0.05,
                                 "agent_shutdown_threshold": 0.03}},
}
ENDS = {"day": 86_400.0, "month": 2_592_000.0}
TOTAL = SafetyConfig.from_config(GUIDE).rule("total_loss")


def test_the_guide_configures_every_breaker_and_procedure() -> None:
    config = SafetyConfig.from_config(GUIDE)
    assert config.names == ("total_loss", "correlation_spike", "api_failure_rate",
                            "memory_usage", "auto_halt", "position_reduction", "daily_loss",
                            "monthly_loss")
    assert BreakerRule("total_loss", "total_loss", 0.05, "halt_new_trades", 3600.0,
                                auto_reset=False, factor=1.0,
                                source="$.circuit_breakers.portfolio_breakers.total_loss") == TOTAL
    api = config.rule("api_failure_rate")
    assert api is not None and api.hold_seconds == 300 and api.auto_reset
    halt = config.rule("auto_halt")
    assert halt is not None and halt.action == "halt_all" and not halt.auto_reset
    reduce = config.rule("position_reduction")
    assert reduce is not None and reduce.factor == 0.5 and reduce.threshold == 0.05
    assert config.total_portfolio_risk == 0.02 and config.agent_shutdown_threshold == 0.03


def test_cooldown_and_duration_the_longer_wins() -> None:
    config = SafetyConfig.from_config({"circuit_breakers": {"system_breakers": {
        "api_failure_rate": {"threshold": 0.2, "cooldown": 50, "duration": 40}}}})
    rule = config.rule("api_failure_rate")
    assert rule is not None and rule.hold_seconds == 50


def _run(states: dict[str, BreakerState], value: float, now: float,
         trip_id: int = 1) -> tuple[BreakerState, list[str]]:
    assert TOTAL is not None
    out, events = judge((TOTAL,), states, {"total_loss": value}, now, trip_id, ENDS)
    return out["total_loss"], [e.kind for e in events]


def test_trips_at_the_threshold_not_below() -> None:
    below, events = _run({}, 0.0499, 100.0)
    assert not below.tripped and events == []
    at, events = _run({}, 0.05, 100.0, trip_id=7)
    assert at.tripped_at == 100.0 and at.hold_until == 3700.0 and at.trip_id == 7
    assert events == ["trip"]


def test_the_hold_runs_from_the_trip() -> None:
    state, _ = _run({}, 0.06, 100.0)
    state, events = _run({"total_loss": state}, 0.07, 1000.0)
    assert state.hold_until == 3700.0 and state.tripped_at == 100.0 and events == []
    state, events = _run({"total_loss": state}, 0.01, 3699.0)
    assert state.tripped and not state.awaiting_operator and events == []
    state, events = _run({"total_loss": state}, 0.07, 3800.0)  # over after the hold: tripped
    assert state.tripped and not state.awaiting_operator and events == []


def test_auto_reset_false_waits_for_the_operator_however_far_the_loss_recovered() -> None:
    state, _ = _run({}, 0.06, 0.0)
    state, events = _run({"total_loss": state}, 0.0, 3600.0)
    assert state.tripped and state.awaiting_operator and events == ["hold_ended"]
    state, events = _run({"total_loss": state}, 0.0, 90_000.0)
    assert state.tripped and events == []  # the hold_ended event is written once


def test_auto_reset_true_clears_itself_after_the_hold() -> None:
    rule = BreakerRule("api_failure_rate", "api_failure_rate", 0.1, "halt_new_trades", 300.0,
                       auto_reset=True)
    out, _ = judge((rule,), {}, {"api_failure_rate": 0.5}, 0.0, 1, ENDS)
    out, events = judge((rule,), out, {"api_failure_rate": 0.0}, 299.0, 2, ENDS)
    assert out["api_failure_rate"].tripped and events == []
    out, events = judge((rule,), out, {"api_failure_rate": 0.0}, 300.0, 2, ENDS)
    assert not out["api_failure_rate"].tripped and [e.kind for e in events] == ["reset"]
    assert out["api_failure_rate"].reset_by == "auto"


def test_a_loss_limit_holds_until_its_period_ends() -> None:
    config = SafetyConfig.from_config(GUIDE)
    daily = config.rule("daily_loss")
    assert daily is not None and daily.period == "day"
    out, _ = judge((daily,), {}, {"daily_loss": 0.05}, 10.0, 1, ENDS)
    assert out["daily_loss"].hold_until == 86_400.0
    out, events = judge((daily,), out, {"daily_loss": 0.0}, 86_399.0, 2, ENDS)
    assert out["daily_loss"].tripped
    out, events = judge((daily,), out, {"daily_loss": 0.0}, 86_400.0, 2, ENDS)
    assert not out["daily_loss"].tripped


def test_every_new_trip_gets_the_next_id() -> None:
    config = SafetyConfig.from_config(GUIDE)
    values = {"total_loss": 0.2, "auto_halt": 0.2, "position_reduction": 0.2}
    out, events = judge(config.rules, {}, values, 0.0, 5, ENDS)
    ids = sorted(s.trip_id for s in out.values() if s.tripped)
    assert ids == [5, 6, 7] and len(events) == 3


def test_operator_reset_refused_before_the_hold_ends() -> None:
    assert TOTAL is not None
    state, _ = _run({}, 0.06, 0.0)
    with pytest.raises(ResetRefused, match="holds until 3600"):
        operator_reset(TOTAL, state, 3599.0, "ops", -6000.0)
    with pytest.raises(ResetRefused, match="not tripped"):
        operator_reset(TOTAL, BreakerState("total_loss"), 0.0, "ops", 0.0)


def test_operator_reset_of_a_loss_figure_moves_its_reference() -> None:
    assert TOTAL is not None
    state, _ = _run({}, 0.06, 0.0)
    cleared, event = operator_reset(TOTAL, state, 3600.0, "ops", -6000.0)
    assert not cleared.tripped and cleared.reference_pnl == -6000.0
    assert cleared.reset_by == "ops" and event.kind == "reset" and event.actor == "ops"
    # the loss is counted again from the reset: 1,000 more on 100,000 of capital is 1 %
    out, _ = judge((TOTAL,), {"total_loss": cleared}, {"total_loss": 0.01}, 3700.0, 2, ENDS)
    assert not out["total_loss"].tripped


def test_operator_reset_of_another_figure_refused_while_still_over() -> None:
    rule = BreakerRule("memory_usage", "memory_usage", 0.9, "scale_down_agents", 0.0,
                       auto_reset=False, factor=0.8)
    out, _ = judge((rule,), {}, {"memory_usage": 0.95}, 0.0, 1, ENDS)
    with pytest.raises(ResetRefused, match="still at or over"):
        operator_reset(rule, out["memory_usage"], 10.0, "ops", 0.0)

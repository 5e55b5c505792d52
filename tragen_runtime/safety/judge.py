"""Trips, holds and resets of the breakers: a pure function of their state and figures.

- A figure at or over its threshold trips the breaker (a new trip id) and holds it for
  `hold_seconds` from the trip (the loss limits: until the UTC day or month ends); a figure
  still over after the hold keeps it tripped.
- Under its threshold after the hold, a breaker with `auto_reset` clears itself; one without
  waits for an operator (`awaiting_operator`), however far the figure has recovered.
- An operator's reset is refused while the breaker holds, and for a figure still over its
  threshold, except for a loss figure: its reset moves the reference to the present pnl (the
  operator accepts the loss so far), so the figure starts again from 0.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from tragen_runtime.safety.config import LOSS_FIGURES, BreakerRule


@dataclass(frozen=True)
class BreakerState:
    name: str
    value: float = 0.0
    tripped_at: float | None = None
    hold_until: float | None = None
    trip_id: int = 0  # fleet-wide sequence; a one-off action is taken once per trip id
    awaiting_operator: bool = False
    reference_pnl: float = 0.0
    reset_by: str | None = None
    reset_at: float | None = None
    detail: str = ""  # e.g. which servers are over the memory threshold

    @property
    def tripped(self) -> bool:
        return self.tripped_at is not None


@dataclass(frozen=True)
class Event:
    at: float
    breaker: str
    kind: str  # trip | hold_ended | reset | halt | resume | action | refused
    detail: str
    actor: str


class ResetRefused(Exception):
    """An operator's reset that the breaker's state does not allow; the message says why."""


def _hold_end(rule: BreakerRule, now: float, period_ends: Mapping[str, float]) -> float:
    if rule.period is not None:
        return period_ends[rule.period]
    return now + rule.hold_seconds


def judge(rules: tuple[BreakerRule, ...], states: Mapping[str, BreakerState],
          values: Mapping[str, float], now: float, next_trip_id: int,
          period_ends: Mapping[str, float], details: Mapping[str, str] | None = None,
          ) -> tuple[dict[str, BreakerState], list[Event]]:
    """The breakers after one evaluation, and what happened (events in rule order)."""
    out: dict[str, BreakerState] = {}
    events: list[Event] = []
    trip_id = next_trip_id
    for rule in rules:
        state = states.get(rule.name) or BreakerState(rule.name)
        value = values.get(rule.name, 0.0)
        state = replace(state, value=value, detail=(details or {}).get(rule.name, state.detail))
        if value >= rule.threshold:
            if not state.tripped:
                state = replace(state, tripped_at=now,
                                hold_until=_hold_end(rule, now, period_ends), trip_id=trip_id,
                                awaiting_operator=False)
                trip_id += 1
                events.append(Event(now, rule.name, "trip",
                                    f"{value:.4f} >= {rule.threshold:g}: {rule.action}",
                                    "safety"))
        elif state.tripped and now >= (state.hold_until or now):
            if rule.auto_reset:
                state = replace(state, tripped_at=None, hold_until=None,
                                awaiting_operator=False, reset_by="auto", reset_at=now)
                events.append(Event(now, rule.name, "reset",
                                    f"{value:.4f} < {rule.threshold:g} after the hold", "auto"))
            elif not state.awaiting_operator:
                state = replace(state, awaiting_operator=True)
                events.append(Event(now, rule.name, "hold_ended",
                                    f"{value:.4f} < {rule.threshold:g}; auto_reset is false: "
                                    "an operator resets it", "safety"))
        out[rule.name] = state
    return out, events


def operator_reset(rule: BreakerRule, state: BreakerState, now: float, actor: str,
                   pnl: float) -> tuple[BreakerState, Event]:
    """The breaker cleared by an operator, or ResetRefused with the reason."""
    if not state.tripped:
        raise ResetRefused(f"{rule.name} is not tripped")
    if state.hold_until is not None and now < state.hold_until:
        raise ResetRefused(f"{rule.name} holds until {state.hold_until:.0f} "
                           f"({state.hold_until - now:.0f} s from now; its cooldown or duration)")
    loss_figure = rule.figure in LOSS_FIGURES
    if state.value >= rule.threshold and not loss_figure:
        raise ResetRefused(f"{rule.name} is {state.value:.4f}, still at or over its threshold "
                           f"{rule.threshold:g}: it would trip again at once")
    cleared = replace(state, tripped_at=None, hold_until=None, awaiting_operator=False,
                      reset_by=actor, reset_at=now, value=0.0 if loss_figure else state.value,
                      reference_pnl=pnl if loss_figure else state.reference_pnl)
    detail = (f"reference pnl moved to {pnl:.2f}" if loss_figure
              else f"{state.value:.4f} < {rule.threshold:g}")
    return cleared, Event(now, rule.name, "reset", detail, actor)

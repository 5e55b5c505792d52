"""From configuration to agents: templates, pools and the `production.max_agents` cap."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tragen_runtime.strategies import STYLES

# The guide's three templates (templates/agent_configs/*), used when the config has none.
DEFAULT_TEMPLATES: dict[str, dict[str, Any]] = {
    "scalping_template": {"personality": {"risk_tolerance": 7, "analysis_style": "scalper",
                                          "max_trades_per_day": 50}},
    "swing_trading_template": {"personality": {"risk_tolerance": 4,
                                               "analysis_style": "swing_trader",
                                               "max_trades_per_day": 5}},
    "conservative_template": {"personality": {"risk_tolerance": 2,
                                              "analysis_style": "conservative",
                                              "max_trades_per_day": 3}},
}
# Pool names of the guide that are not template names, mapped to an analysis style.
POOL_STYLE_ALIASES = {
    "scalping": "scalper", "scalper": "scalper", "aggressive": "scalper",
    "swing_trading": "swing_trader", "swing": "swing_trader", "swing_trader": "swing_trader",
    "balanced": "swing_trader", "conservative": "conservative",
}


@dataclass(frozen=True, slots=True)
class AgentSpec:
    agent_id: str
    pool: str
    template: str
    style: str
    risk_tolerance: int
    max_trades_per_day: int
    symbol: str


def _templates(config: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    found = config.get("agent_templates") or {}
    return {str(k): dict(v) for k, v in found.items()} if found else dict(DEFAULT_TEMPLATES)


def _template_for_pool(pool: str, templates: Mapping[str, Mapping[str, Any]]) -> str:
    for name in (pool, f"{pool}_template", f"{pool}.yaml", f"{pool}_template.yaml"):
        if name in templates:
            return name
    style = POOL_STYLE_ALIASES.get(pool.lower())
    if style is None:
        raise ValueError(
            f"agent pool {pool!r} names no template in agent_templates and is not one of "
            f"{sorted(POOL_STYLE_ALIASES)}; name the pool after a template")
    for name, template in templates.items():
        if (template.get("personality") or {}).get("analysis_style") == style:
            return name
    for name, template in DEFAULT_TEMPLATES.items():
        if template["personality"]["analysis_style"] == style:
            return name
    raise AssertionError("unreachable: every style has a default template")


def _pool_counts(config: Mapping[str, Any]) -> list[tuple[str, int]]:
    pools = config.get("agent_pools") or {}
    counts: list[tuple[str, int]] = []
    for name, value in pools.items():
        if name == "performance_pools":
            continue  # allocation of capital between performers, not agent groups
        if name == "strategy_pools":
            for pool, spec in (value or {}).items():
                counts.append((str(pool), int(spec.get("min_agents", spec.get("max_agents", 1)))))
        elif isinstance(value, int) and not isinstance(value, bool):
            counts.append((str(name), value))
    return counts


def max_agents(config: Mapping[str, Any]) -> int:
    limits = [int(v) for v in ((config.get("production") or {}).get("max_agents"),
                               (config.get("agents") or {}).get("max_count")) if v is not None]
    return min(limits) if limits else 5


def build_agents(config: Mapping[str, Any], symbols: Sequence[str]) -> list[AgentSpec]:
    """The configured agents in a stable order, capped at `max_agents`.

    Pools give counts per template; without pools, agents cycle through the templates up to
    the cap. Each agent watches one symbol, spread round robin.
    """
    if not symbols:
        raise ValueError("no market symbols: set runtime.market.symbols")
    templates = _templates(config)
    cap = max_agents(config)
    plan: list[tuple[str, str]] = []
    pools = _pool_counts(config)
    if pools:
        for pool, count in pools:
            template = _template_for_pool(pool, {**DEFAULT_TEMPLATES, **templates})
            plan.extend((pool, template) for _ in range(count))
    else:
        names = list(templates)
        plan = [(names[i % len(names)], names[i % len(names)]) for i in range(cap)]
    specs: list[AgentSpec] = []
    seen: dict[str, int] = {}
    all_templates = {**DEFAULT_TEMPLATES, **templates}
    for pool, template in plan[:cap]:
        personality = all_templates[template].get("personality") or {}
        style = str(personality.get("analysis_style", "conservative"))
        if style not in STYLES:
            raise ValueError(f"template {template!r}: analysis_style {style!r} not in {STYLES}")
        seen[pool] = seen.get(pool, 0) + 1
        specs.append(AgentSpec(
            agent_id=f"{pool}-{seen[pool]:04d}",
            pool=pool,
            template=template,
            style=style,
            risk_tolerance=int(personality.get("risk_tolerance", 3)),
            max_trades_per_day=int(personality.get("max_trades_per_day", 5)),
            symbol=symbols[len(specs) % len(symbols)],
        ))
    return specs

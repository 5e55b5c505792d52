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
    pool_rank: int = 1  # 1-based place in its pool
    pool_min: int = 0  # ranks above this only work while the pool's scale metric asks
    scale_metric: str | None = None


@dataclass(frozen=True, slots=True)
class PoolPlan:
    name: str
    base: int  # agents always working
    extra: int  # standby agents an auto-scaling pool may add (up to its max_agents)
    scale_metric: str | None


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


def _pool_plans(config: Mapping[str, Any]) -> list[PoolPlan]:
    pools = config.get("agent_pools") or {}
    plans: list[PoolPlan] = []
    for name, value in pools.items():
        if name == "performance_pools":
            continue  # allocation of capital between performers, not agent groups
        if name == "strategy_pools":
            for pool, spec in (value or {}).items():
                low = int(spec.get("min_agents", spec.get("max_agents", 1)))
                high = int(spec.get("max_agents", low))
                auto = bool(spec.get("auto_scale", False))
                plans.append(PoolPlan(str(pool), low, max(0, high - low) if auto else 0,
                                      str(spec.get("scale_metric") or "") or None
                                      if auto else None))
        elif isinstance(value, int) and not isinstance(value, bool):
            plans.append(PoolPlan(str(name), value, 0, None))
    return plans


def _extras(plans: list[PoolPlan], room: int) -> dict[str, int]:
    """Standby agents per pool: all wanted if there is room, else shared in proportion."""
    wanted = sum(p.extra for p in plans)
    if wanted <= max(0, room):
        return {p.name: p.extra for p in plans}
    return {p.name: p.extra * max(0, room) // wanted for p in plans}


def max_agents(config: Mapping[str, Any]) -> int:
    limits = [int(v) for v in ((config.get("production") or {}).get("max_agents"),
                               (config.get("agents") or {}).get("max_count")) if v is not None]
    return min(limits) if limits else 5


def build_agents(config: Mapping[str, Any], symbols: Sequence[str]) -> list[AgentSpec]:
    """The configured agents in a stable order, capped at `max_agents`.

    Pools give counts per template; without pools, agents cycle through the templates up to
    the cap. Strategy pools get `min_agents` each; an `auto_scale` pool also gets standby
    agents up to its `max_agents` while the cap leaves room (shared in proportion), which
    work only while the pool's `scale_metric` is high (see engine.pool_levels). Each agent
    watches one symbol, spread round robin.
    """
    if not symbols:
        raise ValueError("no market symbols: set runtime.market.symbols")
    templates = _templates(config)
    cap = max_agents(config)
    plan: list[tuple[str, str]] = []
    pools = _pool_plans(config)
    minimum: dict[str, int] = {}
    metric: dict[str, str | None] = {}
    if pools:
        all_known = {**DEFAULT_TEMPLATES, **templates}
        for p in pools:
            plan.extend((p.name, _template_for_pool(p.name, all_known)) for _ in range(p.base))
            minimum[p.name], metric[p.name] = p.base, p.scale_metric
        extras = _extras(pools, cap - len(plan))
        for p in pools:  # standby agents of auto-scaling pools after every pool's minimum
            plan.extend((p.name, _template_for_pool(p.name, all_known))
                        for _ in range(extras[p.name]))
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
            pool_rank=seen[pool],
            pool_min=minimum.get(pool, seen[pool]),
            scale_metric=metric.get(pool),
        ))
    return specs

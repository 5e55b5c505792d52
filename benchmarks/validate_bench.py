"""How long validating an enterprise configuration with 1000 agents takes.

    .venv/bin/python benchmarks/validate_bench.py [--runs N]

Builds a document with every section of the guide, max_agents 1000, 1000 agent templates,
count pools adding up to 1000 and 100 strategy pools, then prints the median time of
``validate_document`` (schema + rules + messages) against baselines measured in the same run:
``json.loads`` of the same document and a bare ``Draft202012Validator.is_valid`` (schema
only, stops at the first error, no rules). It prints figures and asserts nothing about time.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tragen_runtime.config import validate_document  # noqa: E402
from tragen_runtime.config.schemas import validator  # noqa: E402

GUIDE = REPO / "tests" / "fixtures" / "guide"
STYLES = (("scalper", 7, 50), ("swing_trader", 4, 5), ("conservative", 2, 3))


def fixture(name: str) -> Any:
    return yaml.safe_load((GUIDE / name).read_text(encoding="utf-8"))


def enterprise_document(agents: int = 1000) -> dict[str, Any]:
    """Every section of the guide, sized for ``agents`` agents."""
    pools = {f"pool_{n:03d}": 10 for n in range(agents // 10)}
    strategy_pools = {
        f"strategy_{n:03d}": {"min_agents": 1, "max_agents": 10, "auto_scale": True,
                              "scale_metric": "market_volatility"}
        for n in range(agents // 10)
    }  # fmt: skip
    templates = {
        f"agent_{n:04d}": {
            "personality": {
                "risk_tolerance": STYLES[n % 3][1],
                "analysis_style": STYLES[n % 3][0],
                "max_trades_per_day": STYLES[n % 3][2],
            }
        }
        for n in range(agents)
    }
    enterprise = fixture("enterprise.yaml")
    return {
        "production": {"max_agents": agents, "concurrent_analyses": 256,
                       "memory_limit": "128GB", "distributed": True},
        "monitoring": {**fixture("single_agent.yaml")["monitoring"],
                       **fixture("monitoring_config_1.yaml")},
        "agent_pools": {**pools, **fixture("agent_pools_1.yaml"),
                        "strategy_pools": strategy_pools},
        "database": fixture("database_config_3.yaml"),
        "load_balancing": enterprise["load_balancing"],
        "servers": enterprise["servers"],
        "agents": {"max_count": agents, "paper_trading_only": False,
                   "additional_safety_checks": True},
        "agent_templates": templates,
        "memory": fixture("memory_config_3.yaml"),
        "cpu_scaling": fixture("cpu_scaling_1.yaml"),
        "caching": fixture("caching_config_1.yaml"),
        "api": fixture("api_config_1.yaml"),
        "portfolio_risk": fixture("portfolio_risk_1.yaml"),
        "circuit_breakers": fixture("circuit_breaker_scaling_1.yaml"),
        "auto_scaling": fixture("auto_scaling_1.yaml"),
        "cost_monitoring": fixture("cost_monitoring_1.yaml"),
        "system_kpis": fixture("system_kpis_1.yaml"),
        "business_kpis": fixture("business_kpis_1.yaml"),
    }  # fmt: skip


def median_seconds(work: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21)
    runs = parser.parse_args().runs

    document = enterprise_document()
    text = json.dumps(document)
    problems = validate_document(document)  # also warms the schema cache
    if problems:
        print("the benchmark document is invalid:", *problems, sep="\n  ")
        return 1
    schema_only = validator()

    figures = {
        "json.loads (baseline)": median_seconds(lambda: json.loads(text), runs),
        "Draft202012Validator.is_valid (baseline)": median_seconds(
            lambda: schema_only.is_valid(document), runs
        ),
        "validate_document (schema + rules)": median_seconds(
            lambda: validate_document(document), runs
        ),
    }
    print(f"document: 1000 agents, {len(text) / 1024:.0f} KiB as JSON; median of {runs} runs")
    base = figures["Draft202012Validator.is_valid (baseline)"]
    for name, seconds in figures.items():
        print(f"  {name:<42} {seconds * 1000:8.2f} ms  ({seconds / base:5.2f} x is_valid)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

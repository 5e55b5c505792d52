"""What the fleet's safety evaluation costs a lease round, at 100 and 1000 agents.

    .venv/bin/python benchmarks/safety_bench.py [--sizes 100,1000] [--rounds 30]

One worker's lease round (heartbeat, renew, rebalance, claim: `LeaseManager.run_round`) is
the baseline; beside it, the same database's safety round (`SafetyStore.round`) when it
evaluates for the fleet (figures from every agent's cash and position, the judge, the
breakers, snapshots and correlation samples written) and when it only reads what another
worker evaluated (every other worker's case within a round). SQLite in a temporary
directory; half the agents hold a position. Rounds alternate between the kinds so that
background load on a shared machine affects them alike. Prints a table of medians and ratios
and asserts nothing about time. One worker of the fleet evaluates per round, every other one
reads. Goals at 1000 agents: reading within 0.2x a lease round; an evaluation within 2 % of
the 5 s round it runs once in (most of it the correlation samples: 30 evaluations x every
agent's equity, read back each time).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from tragen_runtime.agents import AgentSpec
from tragen_runtime.broker import INITIAL_CASH
from tragen_runtime.market import DEFAULT_SYMBOLS
from tragen_runtime.safety.config import SafetyConfig
from tragen_runtime.safety.store import SafetyStore, WorkerReport
from tragen_runtime.storage import repository as repo
from tragen_runtime.storage.db import SqliteDatabase
from tragen_runtime.storage.leases import LeaseManager
from tragen_runtime.storage.migrations import migrate

GUIDE = {
    "circuit_breakers": {
        "portfolio_breakers": {
            "total_loss": {"threshold": 0.05, "cooldown": 3600, "auto_reset": False},
            "correlation_spike": {"threshold": 0.9, "action": "reduce_positions",
                                  "reduction_factor": 0.5}},
        "system_breakers": {
            "api_failure_rate": {"threshold": 0.1, "action": "halt_new_trades", "duration": 300},
            "memory_usage": {"threshold": 0.9, "action": "scale_down_agents",
                             "reduction_factor": 0.8}}},
    "portfolio_risk": {
        "aggregate_limits": {"total_portfolio_risk": 0.02, "daily_loss_limit": 0.05,
                             "monthly_loss_limit": 0.15},
        "emergency_procedures": {"auto_halt_threshold": 0.10, "position_reduction_threshold": 0.05,
                                 "agent_shutdown_threshold": 0.03}},
}


def _fleet(directory: Path, agents: int) -> SqliteDatabase:
    db = SqliteDatabase(str(directory / f"bench-{agents}.db"))
    migrate(db)
    specs = [AgentSpec(f"a-{n:04d}", "p", "t", "scalper", 5, 50,
                       DEFAULT_SYMBOLS[n % len(DEFAULT_SYMBOLS)]) for n in range(agents)]
    repo.sync_agents(db, specs, time.time())
    with db.write() as tx:
        for spec in specs[::2]:
            tx.execute("UPDATE agents SET cash = %s WHERE agent_id = %s",
                       (INITIAL_CASH - 30_000, spec.agent_id))
            tx.execute("INSERT INTO positions (agent_id, symbol, qty, avg_price) "
                       "VALUES (%s, %s, 300, 100)", (spec.agent_id, spec.symbol))
    return db


def measure(directory: Path, agents: int, rounds: int) -> dict[str, float]:
    db = _fleet(directory, agents)
    leases = LeaseManager(db, "bench@s/w1", "bench", 1, "r", ttl=15.0)
    store = SafetyStore(db, SafetyConfig.from_config(GUIDE), live_seconds=15.0)
    wanted = {f"a-{n:04d}" for n in range(agents)}
    times: dict[str, list[float]] = {"lease round": [], "safety, evaluating": [],
                                     "safety, reading": []}
    now = time.time()
    for n in range(rounds):
        now += 5.0
        prices = {s: 100.0 + ((n * (k + 3)) % 7) * 0.1 for k, s in enumerate(DEFAULT_SYMBOLS)}
        started = time.perf_counter()
        leases.run_round(now, wanted)
        times["lease round"].append(time.perf_counter() - started)
        started = time.perf_counter()
        store.round(now, "bench@s/w1", WorkerReport(api_calls=30), prices, min_interval=4.0)
        times["safety, evaluating"].append(time.perf_counter() - started)
        started = time.perf_counter()
        store.round(now + 1, "bench@s/w1", WorkerReport(api_calls=30), prices, min_interval=4.0)
        times["safety, reading"].append(time.perf_counter() - started)
    return {kind: statistics.median(values) for kind, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000")
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tragen-safety-bench-") as tmp:
        print(f"{'agents':>7} {'what':<20} {'median ms':>10} {'x lease round':>14}")
        for agents in (int(s) for s in args.sizes.split(",")):
            medians = measure(Path(tmp), agents, args.rounds)
            base = medians["lease round"]
            for kind, seconds in medians.items():
                print(f"{agents:>7} {kind:<20} {seconds * 1000:>10.2f} {seconds / base:>14.2f}")


if __name__ == "__main__":
    main()

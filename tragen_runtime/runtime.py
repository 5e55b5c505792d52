"""One worker's runtime: wires settings, database, cache, market, leases, engine and health.

Nothing starts at import. `Runtime.from_environment()` is called lazily in the worker (after
fork); `start()` starts the engine thread; `begin_drain()` flips readiness and asks the engine
to checkpoint and release its leases; `shutdown()` waits for that and closes connections.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import socket
import time
import zlib
from typing import Any

from tragen_runtime import metrics
from tragen_runtime.agents import build_agents
from tragen_runtime.cache import RedisCache, TieredCache, TTLCache
from tragen_runtime.engine import Engine
from tragen_runtime.faults import ApiFaults, CallStats, FaultyBroker, FaultyFeed
from tragen_runtime.lifecycle import Lifecycle
from tragen_runtime.market import price_source
from tragen_runtime.memory import (
    agent_memory_check,
    agent_state_bytes,
    apply_gc_policy,
    service_memory,
)
from tragen_runtime.safety.config import SafetyConfig
from tragen_runtime.safety.store import SafetyStore, WorkerReport
from tragen_runtime.settings import Settings, load_settings
from tragen_runtime.storage.db import DatabaseUnavailable, open_database
from tragen_runtime.storage.leases import LeaseManager
from tragen_runtime.storage.migrations import schema_problem

log = logging.getLogger(__name__)
READY_CACHE_SECONDS = 1.0


def server_prefix(settings: Settings) -> str:
    """Identifies this app server (host and bind) inside worker ids."""
    return f"{socket.gethostname()}@{settings.bind}/"


class Runtime:
    def __init__(self, settings: Settings, workers: int = 1) -> None:
        self.settings = settings
        self.lifecycle = Lifecycle()
        self.pid = os.getpid()
        self.prefix = server_prefix(settings)
        self.worker_id = f"{self.prefix}{self.pid}-{secrets.token_hex(3)}"
        self.db = open_database(settings.database, workers)
        l2 = RedisCache(settings.redis) if settings.redis else None
        self.cache = TieredCache(TTLCache(settings.l1_entries), l2, settings.cache_ttls["l1"],
                                 settings.cache_ttls["l2"], on_lookup=metrics.count_cache_lookup)
        m = settings.market
        self.calls = CallStats()  # every call to the market data feed and the broker
        self.feed = FaultyFeed(price_source(m.source, m.seed, m.symbols, m.csv_dir,
                                            scenario=m.scenario,
                                            scenario_starts_at=m.scenario_starts_at,
                                            tick_interval=m.tick_interval),
                               settings.faults, self.calls)
        self.specs = build_agents(settings.config, self.feed.symbols)
        self.broker = FaultyBroker(settings.broker.fee_rate, settings.broker.slippage_bps,
                                   settings.faults, self.calls)
        self.api_faults = ApiFaults(settings.faults, salt=zlib.crc32(self.worker_id.encode()))
        self.safety = SafetyStore(self.db, SafetyConfig.from_config(settings.config),
                                  live_seconds=settings.leases.ttl)
        self.leases = LeaseManager(self.db, self.worker_id, socket.gethostname(), self.pid,
                                   settings.release_id, settings.leases.ttl,
                                   min_live=max(1, workers))
        self.engine = Engine(settings, self.db, self.cache, self.feed, self.specs, self.leases,
                             self.safety, broker=self.broker, report=self.worker_report,
                             on_faults=self.apply_faults)
        self._ready_cache: tuple[float, bool, dict[str, Any]] | None = None
        self._ready_json: tuple[float, bool, bytes] | None = None

    def worker_report(self) -> WorkerReport:
        """What this worker measured since its last round, for the fleet's breakers."""
        memory = service_memory()
        calls, failures = self.calls.take()
        return WorkerReport(api_calls=calls, api_failures=failures,
                            memory_fraction=memory.fraction if memory is not None else 0.0)

    def apply_faults(self, overrides: tuple[float | None, float | None]) -> None:
        """The operator's injected failure rates (None: the configuration's) on this worker's
        feed and broker, from the shared state at every round."""
        market_data, broker = overrides
        plan = self.settings.faults.with_overrides({"market_data_failure_rate": market_data,
                                                    "broker_failure_rate": broker})
        if plan != self.feed.plan:
            log.warning("faults: market data failure rate %.0f%%, broker %.0f%%",
                        100 * plan.market_data_failure_rate, 100 * plan.broker_failure_rate)
        self.feed.set_plan(plan)
        self.broker.set_plan(plan)

    @classmethod
    def from_environment(cls) -> Runtime:
        workers = int(os.environ.get("TRAGEN_WORKER_COUNT", "1"))
        return cls(load_settings(), workers)

    def start(self) -> None:
        if not self.lifecycle.draining.is_set():
            apply_gc_policy(self.settings.config)
            self.engine.start()

    def begin_drain(self) -> None:
        if self.lifecycle.draining.is_set():
            return
        log.info("draining: not ready any more, releasing agents")
        self.lifecycle.draining.set()
        metrics.DRAINING.set(1)
        self.engine.stop()

    def shutdown(self, timeout: float) -> None:
        self.begin_drain()
        if not self.engine.join(timeout):
            log.warning("engine did not stop within %.1fs; leases expire on their own", timeout)
        self.db.close()
        if self.cache.l2 is not None:
            self.cache.l2.close()

    def readiness_json(self, in_flight: int) -> tuple[bool, bytes]:
        """(ready, JSON body) for /readyz: the checks are cached for a second, and their
        serialised form too, so a probe costs little; `in_flight` is spliced in fresh."""
        now = time.monotonic()
        cached = self._ready_json
        if cached is None or now - cached[0] >= READY_CACHE_SECONDS \
                or self.lifecycle.draining.is_set():
            ready, body = self.readiness()
            body.pop("in_flight", None)
            cached = (now, ready, json.dumps(body, separators=(",", ":"), default=str).encode())
            self._ready_json = None if self.lifecycle.draining.is_set() else cached
        return cached[1], cached[2][:-1] + b',"in_flight":%d}' % in_flight

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        """(ready, body) with every reason for not being ready; cached for a second."""
        now = time.monotonic()
        if self.lifecycle.draining.is_set():
            return False, self._body(["draining: this worker is shutting down"], {})
        cached = self._ready_cache
        if cached and now - cached[0] < READY_CACHE_SECONDS:
            ready, body = cached[1], dict(cached[2])
            body["in_flight"] = self.lifecycle.in_flight
            return ready, body
        reasons: list[str] = []
        checks: dict[str, Any] = {}
        try:
            self.db.ping()
            checks["database"] = "ok"
            problem = schema_problem(self.db)
            if problem:
                checks["database"] = "schema behind"
                reasons.append(problem)
        except DatabaseUnavailable as exc:
            checks["database"] = "unreachable"
            reasons.append(f"database unreachable: {exc}")
        status = self.engine.status
        reasons.extend(p for p in status.problems if p not in " ".join(reasons))
        if not self.engine.alive:
            reasons.append("agent engine not running")
        elif not status.scheduled and not status.problems and not reasons:
            reasons.append("agents not scheduled yet (first lease round pending)")
        checks["agents"] = {"running_here": len(self.engine.agents),
                            "configured": len(self.specs), "live_workers": status.live_workers,
                            "fair_share": status.fair_share, "tick": status.tick,
                            "standby_here": status.standby}
        checks["safety"] = self.engine.view.as_dict()
        if self.settings.colour is not None:
            checks["colour"] = status.colour.as_dict()
        if self.settings.notes:
            checks["notes"] = list(self.settings.notes)
        memory = agent_memory_check(
            self.settings.config,
            [agent_state_bytes([agent]) for agent in self.engine.agents.values()],
            status.rss_bytes)
        if memory is not None:
            checks["memory"] = memory
        l2 = self.cache.l2
        if l2 is not None and l2.available:
            l2.ping()  # at most once per READY_CACHE_SECONDS; skipped during the back-off
        cache = self.cache.status()
        checks["cache"] = cache
        if cache.get("l2") == "degraded":
            note = "redis unreachable: serving from L1 and the database (slower)"
            if os.environ.get("TRAGEN_REQUIRE_CACHE") == "1":
                reasons.append(note)
            else:
                checks["cache"]["note"] = note + "; not a readiness failure by design"
        body = self._body(reasons, checks)
        self._ready_cache = (now, not reasons, body)
        return not reasons, body

    def _body(self, reasons: list[str], checks: dict[str, Any]) -> dict[str, Any]:
        return {"ready": not reasons, "reasons": reasons, "checks": checks,
                "draining": self.lifecycle.draining.is_set(),
                "in_flight": self.lifecycle.in_flight, "worker": self.worker_id,
                "release_id": self.settings.release_id}

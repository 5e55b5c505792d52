"""The fleet's safety state on real PostgreSQL, with two app servers of two gunicorn workers
each: what one worker decides is in force on every worker within a round, a restart keeps it,
and an operator's commands reach every worker through the database."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.runtime.services import (
    Gunicorn,
    Postgres,
    free_port,
    run_cli,
    runtime_env,
    wait_for,
    write_config,
)
from tragen_runtime.agents import build_agents
from tragen_runtime.broker import INITIAL_CASH
from tragen_runtime.market import Simulator

pytestmark = pytest.mark.integration
TOKEN = "safety-token"
ADMIN = {"Authorization": f"Bearer {TOKEN}", "X-Tragen-Operator": "it-operator"}
ROUND = 0.5  # leases.renew_interval_seconds: every worker evaluates or reads once per round
TICK = 0.2
COOLDOWN = 6
LOSS_LIMIT = 0.08


def _config(pg: Postgres, dbname: str, market: dict[str, Any],
            pools: dict[str, int]) -> dict[str, Any]:
    return {
        "production": {"max_agents": sum(pools.values()), "concurrent_analyses": 8},
        "agent_pools": pools,
        "database": {"type": "postgresql", "host": pg.host, "database": dbname,
                     "connection_pool": 20},
        "circuit_breakers": {"portfolio_breakers": {
            "total_loss": {"threshold": LOSS_LIMIT, "cooldown": COOLDOWN, "auto_reset": False}}},
        # only total_loss acts here: the procedures' thresholds are out of reach
        "portfolio_risk": {"emergency_procedures": {
            "agent_shutdown_threshold": 0.8, "position_reduction_threshold": 0.9,
            "auto_halt_threshold": 0.95}},
        "runtime": {
            "release_id": "safety-it",
            "market": {"source": "simulator", "seed": 7, "tick_interval": TICK,
                       "symbols": ["AAPL", "MSFT", "NVDA", "BTC-USD"], **market},
            "database": {"port": pg.port, "user": pg.user},
            "leases": {"ttl_seconds": 3, "renew_interval_seconds": ROUND},
        },
    }


class Fleet:
    """Two app servers on one database, each a gunicorn master with two workers."""

    def __init__(self, tmp: Path, pg: Postgres, market: dict[str, Any],
                 pools: dict[str, int]) -> None:
        self.tmp = tmp
        self.dbname = pg.create_database()
        self.conninfo = pg.conninfo(self.dbname)
        self.settings = _config(pg, self.dbname, market, pools)
        self.config = write_config(tmp / "config.yaml", self.settings)
        migrated = run_cli(["migrate"], runtime_env(self.config, "127.0.9.40:1"), tmp)
        assert migrated.returncode == 0, migrated.stderr
        self.servers: dict[str, Gunicorn] = {}
        self._stopped: list[Gunicorn] = []

    def start(self, host: str) -> Gunicorn:
        env = runtime_env(self.config, f"{host}:{free_port(host)}", TRAGEN_WORKERS="2",
                          TRAGEN_THREADS="4", TRAGEN_DRAIN_SECONDS="1",
                          TRAGEN_ADMIN_TOKEN=TOKEN, TRAGEN_GRACEFUL_TIMEOUT="10")
        self.servers[host] = app = Gunicorn(env, self.tmp)
        app.wait_ready(60)
        return app

    def restart(self, host: str) -> Gunicorn:
        old = self.servers.pop(host)
        assert old.stop() == 0, old.log()
        self._stopped.append(old)
        return self.start(host)

    def stop(self) -> None:
        for app in self.servers.values():
            app.stop()

    def sql(self, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.conninfo) as conn:
            return list(conn.execute(query, params).fetchall())

    @staticmethod
    def worker_views(app: Gunicorn, timeout: float = 20) -> dict[str, dict[str, Any]]:
        """The safety view of each of `app`'s two workers, once both are ready (gunicorn picks
        the worker that answers; a worker that is not ready has read no safety state yet)."""
        views: dict[str, dict[str, Any]] = {}

        def both() -> bool:
            status, body = app.get("/readyz")
            if status == 200:
                views[body["worker"]] = body["checks"]["safety"]
            return len(views) == 2
        wait_for(both, timeout, "both workers ready", interval=0.05)
        return views

    def invest_and_halt(self, pool: str, at: float) -> float:
        """Before any server starts: every agent of `pool` holds its symbol with all its
        cash, bought at the simulator's price at time `at`, and is halted by an operator (so
        it keeps the position whatever the market does). The runtime keeps the rows it finds.
        Returns the fleet's capital."""
        m = self.settings["runtime"]["market"]
        market = Simulator(m["seed"], m["symbols"])
        specs = build_agents(self.settings, m["symbols"])
        tick = int(at // TICK)
        with psycopg.connect(self.conninfo) as conn:
            for spec in (s for s in specs if s.pool == pool):
                price = market.price(spec.symbol, tick)
                conn.execute("INSERT INTO agents (agent_id, pool, template, style, symbol, "
                             "cash, halted, halted_reason, updated_at) "
                             "VALUES (%s, %s, %s, %s, %s, 0, 1, 'holds for the drill', %s)",
                             (spec.agent_id, spec.pool, spec.template, spec.style, spec.symbol,
                              at))
                conn.execute("INSERT INTO leases (agent_id) VALUES (%s)", (spec.agent_id,))
                conn.execute("INSERT INTO positions (agent_id, symbol, qty, avg_price) "
                             "VALUES (%s, %s, %s, %s)",
                             (spec.agent_id, spec.symbol, INITIAL_CASH / price, price))
        return len(specs) * INITIAL_CASH

    def log(self) -> str:
        return "\n".join(f"--- {a.port} ---\n{a.log()}"
                         for a in [*self._stopped, *self.servers.values()])


@pytest.fixture
def fleet_factory(tmp_path: Path, postgres: Postgres) -> Iterator[Any]:
    made: list[Fleet] = []

    def make(pools: dict[str, int] | None = None, **market: Any) -> Fleet:
        fleet = Fleet(tmp_path, postgres, market, pools or {"aggressive": 16, "balanced": 8})
        made.append(fleet)
        return fleet

    yield make
    for fleet in made:
        fleet.stop()


def _breaker(app: Gunicorn, name: str) -> dict[str, Any]:
    status, body = app.get("/api/v1/circuit-breakers")
    assert status == 200, body
    return next(b for b in body["breakers"] if b["name"] == name)


def test_halt_all_reaches_every_worker_and_survives_a_restart(fleet_factory: Any) -> None:
    fleet: Fleet = fleet_factory()
    a, b = fleet.start("127.0.9.41"), fleet.start("127.0.9.42")
    wait_for(lambda: fleet.sql("SELECT COUNT(*) FROM trades")[0][0] > 0, 60, "a first trade")
    assert a.post("/api/v1/admin/halt-all", {"reason": "drill"})[0] == 401
    status, body = a.post("/api/v1/admin/halt-all", {"reason": "drill"}, ADMIN)
    assert status == 200 and body["halted"] is True, body
    halted_at = time.time()
    # every worker of both servers shows it within a round (and the readiness cache's second)
    time.sleep(2 * ROUND + 1.2)
    for app in (a, b):
        views = fleet.worker_views(app)
        assert len(views) == 2, views
        assert all(v["halted"] for v in views.values()), views
    # no order is recorded once a round has passed
    time.sleep(3)
    late = fleet.sql("SELECT agent_id, side, executed_at, worker_id FROM trades "
                     "WHERE executed_at > %s", (halted_at + ROUND + TICK,))
    assert late == [], late
    # a restarted server, all new workers, reads the same halt
    b = fleet.restart("127.0.9.42")
    assert all(v["halted"] for v in fleet.worker_views(b).values())
    assert _breaker(b, "total_loss")["tripped"] is False
    events = b.get("/api/v1/circuit-breakers")[1]["recent_events"]
    assert any(e["kind"] == "halt" and e["actor"] == "it-operator" for e in events), events
    # resume-all lets every worker trade again
    status, body = b.post("/api/v1/admin/resume-all", {}, ADMIN)
    assert status == 200 and body["halted"] is False, body
    resumed_at = time.time()
    wait_for(lambda: fleet.sql("SELECT COUNT(*) FROM trades WHERE executed_at > %s",
                               (resumed_at,))[0][0] > 0, 60, "a trade after resume-all")
    text = a.get("/metrics")[1]
    assert "tragen_fleet_halted 0.0" in text and 'tragen_breaker_tripped{breaker="total_loss"}' \
        in text, text[-2000:]


def test_total_loss_trips_on_every_worker_and_only_an_operator_clears_it(
        fleet_factory: Any) -> None:
    """rise_crash_recovery (0.2 s ticks): +5 % until 6 s, down to -30 % at 8 s, flat until
    14 s, back to the start at 26 s. Twelve halted agents hold everything through it (60 % of
    the fleet's capital); eight others trade."""
    starts_at = int(time.time()) + 15
    fleet: Fleet = fleet_factory({"balanced": 12, "aggressive": 8},
                                 scenario="rise_crash_recovery", scenario_starts_at=starts_at)
    fleet.invest_and_halt("balanced", time.time())
    a, b = fleet.start("127.0.9.43"), fleet.start("127.0.9.44")
    assert time.time() < starts_at, "the servers took too long to start for the scenario"
    assert not _breaker(a, "total_loss")["tripped"]
    breaker = wait_for(lambda: (t := _breaker(a, "total_loss"))["tripped"] and t,
                       starts_at + 20 - time.time(), "total_loss to trip in the crash")
    tripped_at = breaker["tripped_at"]
    assert starts_at + 6 <= tripped_at <= starts_at + 9, breaker  # in the crash
    assert breaker["value"] > breaker["threshold"] == LOSS_LIMIT
    # in force on every worker of both servers within a round (+ the readiness cache)
    time.sleep(max(0.0, tripped_at + ROUND + 1.2 - time.time()))
    for app in (a, b):
        for worker, view in fleet.worker_views(app).items():
            assert "total_loss" in view["blocking"], (worker, view)
    # no order that opens a position after a round (exits may still sell)
    opened = fleet.sql("SELECT agent_id, executed_at, worker_id FROM trades "
                       "WHERE side = 'buy' AND executed_at > %s", (tripped_at + ROUND + TICK,))
    assert opened == [], opened
    # refused before its cooldown has passed
    reset = "/api/v1/circuit-breakers/total_loss/reset"
    assert a.post(reset, {})[0] == 401
    status, body = a.post(reset, {}, ADMIN)
    assert status == 409 and "holds until" in body["error"], body
    # a restart keeps it
    b = fleet.restart("127.0.9.44")
    assert all("total_loss" in v["blocking"] for v in fleet.worker_views(b).values())
    # the market has recovered and the cooldown is long over: it still holds (auto_reset false)
    time.sleep(max(0.0, starts_at + 27 - time.time()))
    state = _breaker(b, "total_loss")
    assert state["tripped"] and state["awaiting_operator"], state
    assert state["value"] < LOSS_LIMIT and state["hold_until"] < time.time(), state
    assert all("total_loss" in v["blocking"] for v in fleet.worker_views(a).values())
    # the operator's reset clears it on every worker
    status, body = b.post(reset, {}, ADMIN)
    assert status == 200 and body["tripped"] is False and body["reset_by"] == "it-operator"
    time.sleep(ROUND + 1.2)
    for app in (a, b):
        assert all("total_loss" not in v["blocking"] for v in fleet.worker_views(app).values())
    kinds = [e["kind"] for e in b.get("/api/v1/circuit-breakers")[1]["recent_events"]
             if e["breaker"] == "total_loss"]
    assert kinds[:3] == ["reset", "hold_ended", "trip"], kinds
    text = a.get("/metrics")[1]
    assert 'tragen_breaker_tripped{breaker="total_loss"} 0.0' in text
    assert f'tragen_breaker_threshold{{breaker="total_loss"}} {LOSS_LIMIT}' in text


def test_additional_safety_checks_refuse_to_serve_without_an_admin_token(
        tmp_path: Path, postgres: Postgres) -> None:
    from tests.safety.test_judge import GUIDE  # every breaker and limit: the gate passes

    config = {**_config(postgres, "unused", {}, {"aggressive": 2}), **GUIDE,
              "agents": {"additional_safety_checks": True}}
    path = write_config(tmp_path / "config.yaml", config)
    app = Gunicorn(runtime_env(path, f"127.0.9.45:{free_port('127.0.9.45')}"), tmp_path)
    assert app.proc.wait(60) == 3
    assert app.stop() == 3
    assert "refusing to start: agents.additional_safety_checks is true but TRAGEN_ADMIN_TOKEN " \
        "is not set" in app.log()

"""The engine and the API in-process, on SQLite, driven tick by tick (no threads, no HTTP)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tragen_runtime.runtime import Runtime
from tragen_runtime.settings import settings_from_config
from tragen_runtime.storage import repository as repo
from tragen_runtime.storage.migrations import migrate
from tragen_runtime.wsgi import Application


def _settings(tmp_path: Path, agents: int = 6, **env: str) -> Any:
    return settings_from_config({
        "production": {"max_agents": agents, "concurrent_analyses": 2},
        "agent_pools": {"aggressive": agents // 2, "conservative": agents - agents // 2},
        "database": {"type": "sqlite", "path": str(tmp_path / "e.db")},
        "runtime": {"market": {"seed": 11, "tick_interval": 1, "symbols": ["AAPL", "MSFT"]},
                    "leases": {"ttl_seconds": 10, "renew_interval_seconds": 2}},
    }, env={"TRAGEN_ADMIN_TOKEN": "admin-secret", **env})


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    rt = Runtime(_settings(tmp_path))
    migrate(rt.db)
    yield rt
    rt.shutdown(timeout=5)


def _drive(rt: Runtime, ticks: range, start: float = 1_800_000_000.0) -> None:
    for n, tick in enumerate(ticks):
        now = start + n
        if n % 2 == 0:
            rt.engine.lease_round(now)
        rt.engine.run_tick(tick, now)


def test_engine_trades_within_limits_and_persists(runtime: Runtime) -> None:
    _drive(runtime, range(10_000, 10_600))
    status = runtime.engine.status
    assert status.scheduled and status.analyses == 6 * 600
    assert status.trades > 0
    per_day = {s.agent_id: s.max_trades_per_day for s in runtime.specs}
    for agent in repo.list_agents(runtime.db, 1_800_000_000.0):
        assert agent["trade_count"] <= per_day[agent["agent_id"]]
    accounts = repo.load_accounts(runtime.db, per_day)
    for agent_id, running in runtime.engine.agents.items():
        assert accounts[agent_id][0] == running.account  # memory == database


def test_halted_agent_does_not_trade(runtime: Runtime) -> None:
    runtime.engine.lease_round(1_800_000_000.0)
    for spec in runtime.specs:
        repo.set_halted(runtime.db, spec.agent_id, True, 0.0)
    _drive(runtime, range(20_000, 20_300))
    assert runtime.engine.status.trades == 0 and runtime.engine.status.analyses > 0


def _call(app: Application, method: str, path: str, body: Any = None,
          headers: dict[str, str] | None = None) -> tuple[int, Any]:
    raw = json.dumps(body).encode() if body is not None else b""
    environ = {"REQUEST_METHOD": method, "PATH_INFO": path.split("?")[0],
               "QUERY_STRING": path.partition("?")[2], "CONTENT_LENGTH": str(len(raw)),
               "wsgi.input": io.BytesIO(raw)}
    environ.update({"HTTP_" + k.upper().replace("-", "_"): v for k, v in (headers or {}).items()})
    got: list[str] = []
    out = b"".join(app(environ, lambda status, hdrs: got.append(status)))
    return int(got[0].split()[0]), json.loads(out) if out else None


def test_api_routes_auth_and_drain(tmp_path: Path) -> None:
    rt = Runtime(_settings(tmp_path))
    migrate(rt.db)
    rt.engine.lease_round(1_800_000_000.0)
    app = Application(lambda: rt)
    try:
        assert _call(app, "GET", "/healthz")[0] == 200
        assert _call(app, "GET", "/nope")[0] == 404
        assert _call(app, "DELETE", "/api/v1/portfolio")[0] == 405
        status, agents = _call(app, "GET", "/api/v1/agents")
        agent_id = agents["agents"][0]["agent_id"]
        assert _call(app, "GET", f"/api/v1/agents/{agent_id}")[1]["agent_id"] == agent_id
        assert _call(app, "GET", "/api/v1/agents/ghost")[0] == 404
        assert _call(app, "POST", f"/api/v1/agents/{agent_id}/halt")[0] == 401
        status, body = _call(app, "POST", f"/api/v1/agents/{agent_id}/halt",
                             headers={"Authorization": "Bearer admin-secret"})
        assert status == 200 and body["halted"] is True
        assert "admin-secret" not in json.dumps(body)
        assert _call(app, "POST", "/api/v1/analyses", {"symbol": "no spaces"})[0] == 400
        status, other = _call(app, "POST", "/api/v1/analyses",
                              {"symbol": "SIM-A", "source": "loadgen", "sequence": 1})
        assert status == 202 and other["action"] == "none" and "not traded" in other["reason"]
        assert _call(app, "POST", "/api/v1/analyses", {"agent_id": 7})[0] == 400
        status, first = _call(app, "POST", "/api/v1/analyses",
                              {"symbol": "MSFT", "request_id": "abc"})
        assert status == 202 and first["created"] is True
        assert _call(app, "POST", "/api/v1/analyses",
                     {"symbol": "MSFT", "request_id": "abc"})[1]["created"] is False
        assert _call(app, "GET", "/api/v1/trades?limit=x")[0] == 400
        assert not _call(app, "GET", "/api/v1/circuit-breakers")[1]["halted"]
        assert "observed" in _call(app, "GET", "/api/v1/kpis")[1]
        assert _call(app, "GET", "/version")[1]["config_digest"] == rt.settings.config_digest
        rt.begin_drain()
        status, body = _call(app, "GET", "/readyz")
        assert status == 503 and body["draining"] and body["in_flight"] == 0
        assert _call(app, "GET", "/api/v1/portfolio")[0] == 200  # still serving while draining
    finally:
        rt.shutdown(timeout=5)


def test_position_reduction_breaker_sells_part_of_every_position(runtime: Runtime) -> None:
    held: dict[str, float] = {}
    tick = 30_000
    while not held and tick < 33_000:  # trade until some agent holds a position
        _drive(runtime, range(tick, tick + 20), start=1_800_000_000.0 + tick)
        tick += 20
        held = {a: r.account.positions[r.spec.symbol].qty
                for a, r in runtime.engine.agents.items() if r.spec.symbol in r.account.positions}
    assert held, "the scenario needs open positions"
    flat = next(a for a in runtime.engine.agents if a not in held)
    with runtime.db.write() as tx:  # that agent lost 36,000: 6 % of the fleet's 600,000
        tx.execute("UPDATE agents SET cash = cash - 36000 WHERE agent_id = %s", (flat,))
    now = 1_800_000_000.0 + tick + 30
    runtime.engine.lease_round(now)  # the round's safety step trips position_reduction
    assert runtime.engine.view.reduction is not None
    runtime.engine.run_tick(tick, now)
    for agent_id, qty in held.items():
        pos = runtime.engine.agents[agent_id].account.positions.get(
            runtime.engine.agents[agent_id].spec.symbol)
        assert pos is None or pos.qty <= qty * 0.5 + 1e-4
    reduced = {a: r.account.positions[r.spec.symbol].qty
               for a, r in runtime.engine.agents.items() if r.spec.symbol in r.account.positions}
    runtime.engine.run_tick(tick + 1, now + 1)  # once per trip: the next tick sells nothing more
    for agent_id, qty in reduced.items():
        pos = runtime.engine.agents[agent_id].account.positions.get(
            runtime.engine.agents[agent_id].spec.symbol)
        assert pos is None or pos.qty >= qty - 1e-9  # a strategy exit closes it whole


def test_unmigrated_or_unreachable_database_is_not_ready_and_503(tmp_path: Path) -> None:
    rt = Runtime(_settings(tmp_path))  # no migrate
    rt.engine.lease_round(1_800_000_000.0)
    app = Application(lambda: rt)
    try:
        status, body = _call(app, "GET", "/readyz")
        assert status == 503 and "tragen-runtime migrate" in " ".join(body["reasons"])
        status, body = _call(app, "GET", "/api/v1/agents")
        assert status == 503 and "migrate" in body["error"]
    finally:
        rt.shutdown(timeout=5)
    settings = settings_from_config({"database": {"type": "sqlite",
                                                  "path": str(tmp_path / "no" / "x.db")}}, env={})
    gone = Runtime(settings)
    try:
        ready, body = gone.readiness()
        assert not ready and any("database unreachable" in r for r in body["reasons"])
    finally:
        gone.shutdown(timeout=5)


def test_gzip_per_api_compression(tmp_path: Path) -> None:
    import gzip

    settings = settings_from_config({
        "production": {"max_agents": 30},
        "database": {"type": "sqlite", "path": str(tmp_path / "g.db")},
        "api": {"compression": {"enabled": True, "algorithm": "gzip", "min_size": 1024}}},
        env={})
    rt = Runtime(settings)
    migrate(rt.db)
    rt.engine.lease_round(1_800_000_000.0)
    app = Application(lambda: rt)
    try:
        for accept, zipped in (("gzip, deflate", True), ("", False)):
            environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/api/v1/agents",
                       "QUERY_STRING": "", "wsgi.input": io.BytesIO(b""),
                       "HTTP_ACCEPT_ENCODING": accept}
            got: list[Any] = []
            raw = b"".join(app(environ, lambda s, h, got=got: got.append(dict(h))))
            assert (got[0].get("Content-Encoding") == "gzip") is zipped
            data = json.loads(gzip.decompress(raw) if zipped else raw)
            assert len(data["agents"]) == 30 and int(got[0]["Content-Length"]) == len(raw)
        small = {"REQUEST_METHOD": "GET", "PATH_INFO": "/healthz", "QUERY_STRING": "",
                 "wsgi.input": io.BytesIO(b""), "HTTP_ACCEPT_ENCODING": "gzip"}
        got = []
        app(small, lambda s, h: got.append(dict(h)))
        assert "Content-Encoding" not in got[0]
    finally:
        rt.shutdown(timeout=5)


def test_injected_api_faults_fail_a_share_of_api_answers_only(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    config = dict(settings.config)
    config["runtime"] = {**config["runtime"], "faults": {"api_error_rate": 0.25}}
    rt = Runtime(settings_from_config(config, env={"TRAGEN_ADMIN_TOKEN": "admin-secret"}))
    migrate(rt.db)
    rt.engine.lease_round(1_800_000_000.0)
    app = Application(lambda: rt)
    try:
        answers = [_call(app, "GET", "/api/v1/portfolio") for _ in range(400)]
        failed = [body for status, body in answers if status == 500]
        assert 60 <= len(failed) <= 140, len(failed)  # a quarter, give or take
        assert all("injected fault" in body["error"] for body in failed)
        assert all(status == 200 for status, _ in answers if status != 500)
        # Health, readiness, metrics and admin calls never fail: the release is ready and bad.
        assert all(_call(app, "GET", "/readyz")[0] == 200 for _ in range(50))
        assert all(_call(app, "POST", "/api/v1/admin/faults", {},
                         headers={"Authorization": "Bearer admin-secret"})[0] == 200
                   for _ in range(20))
    finally:
        rt.shutdown(timeout=5)

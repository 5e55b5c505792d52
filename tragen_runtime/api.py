"""The HTTP API as plain functions: (runtime, request) -> response. No framework."""

from __future__ import annotations

import hmac
import json
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tragen_runtime import metrics, package_version
from tragen_runtime.runtime import Runtime
from tragen_runtime.safety.judge import ResetRefused
from tragen_runtime.storage import repository as repo
from tragen_runtime.storage.db import DatabaseUnavailable, is_database_error
from tragen_runtime.strategies import STYLES, strategy_for

MAX_BODY = 64 * 1024
SYMBOL = re.compile(r"[A-Za-z0-9._-]{1,32}")
JSON = "application/json"
WHOLE = re.compile(r"-?[0-9]+")  # the sign is kept so "-1" is reported as out of range
MAX_TRADES_PAGE = 1000
MAX_ROW_ID = 2**63 - 1  # BIGSERIAL / SQLite INTEGER; a larger bound overflows the driver


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes = b""
    params: dict[str, str] = field(default_factory=dict)

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default


@dataclass
class Response:
    status: int
    body: bytes
    content_type: str = JSON
    headers: list[tuple[str, str]] = field(default_factory=list)


class HttpError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def json_response(status: int, data: Any) -> Response:
    return Response(status, json.dumps(data, separators=(",", ":"), default=str).encode())


Handler = Callable[[Runtime, Request], Response]


def healthz(rt: Runtime, req: Request) -> Response:
    return json_response(200, {"status": "alive", "worker": rt.worker_id})


def readyz(rt: Runtime, req: Request) -> Response:
    # in_flight does not count this probe
    ready, body = rt.readiness_json(max(0, rt.lifecycle.in_flight - 1))
    return Response(200 if ready else 503, body)


def version(rt: Runtime, req: Request) -> Response:
    return json_response(200, {"release_id": rt.settings.release_id,
                               "package_version": package_version(),
                               "config_digest": rt.settings.config_digest})


def metrics_endpoint(rt: Runtime, req: Request) -> Response:
    collector = metrics.AgentCollector(
        lambda: repo.agent_metrics_rows(rt.db, rt.prefix, time.time()),
        lambda: repo.worker_figures(rt.db, rt.prefix))
    safety = metrics.SafetyCollector(lambda: rt.safety.describe(time.time()))
    body, content_type = metrics.render([collector, safety])
    return Response(200, body, content_type)


def _cached(rt: Runtime, key: str, loader: Callable[[], Any]) -> Response:
    body = rt.cache.get_or_load(key, lambda: json.dumps(loader(), default=str), l1_ttl=1.0,
                                use_l2=False)
    return Response(200, body.encode())


def list_agents(rt: Runtime, req: Request) -> Response:
    return _cached(rt, "api:agents", lambda: {"agents": repo.list_agents(rt.db, time.time())})


def get_agent(rt: Runtime, req: Request) -> Response:
    agent_id = req.params["agent_id"]
    agent = repo.get_agent(rt.db, agent_id, time.time())
    if agent is None:
        raise HttpError(404, f"no agent {agent_id!r}; GET /api/v1/agents lists them")
    local = rt.engine.agents.get(agent_id)
    if local is not None:
        agent["last_analysis"] = {"tick": local.last_tick, "action": local.last_action,
                                  "reason": local.last_reason}
    elif rt.cache.l2 is not None:
        agent["last_analysis"] = rt.cache.l2.get(f"analysis:{agent_id}")
    return json_response(200, agent)


def _set_halted(rt: Runtime, req: Request, halted: bool) -> Response:
    """The agent's persisted flag; its engine reads it at its next lease round (no thread
    writes another's state)."""
    agent_id = req.params["agent_id"]
    reason = f"halted by {_operator(req)}" if halted else None
    if not repo.set_halted(rt.db, agent_id, halted, time.time(), reason):
        raise HttpError(404, f"no agent {agent_id!r}")
    return json_response(200, {"agent_id": agent_id, "halted": halted,
                               "note": "applies within one lease round"})


def halt(rt: Runtime, req: Request) -> Response:
    return _set_halted(rt, req, True)


def resume(rt: Runtime, req: Request) -> Response:
    return _set_halted(rt, req, False)


def portfolio(rt: Runtime, req: Request) -> Response:
    def load() -> dict[str, Any]:
        totals, positions = repo.portfolio_rows(rt.db)
        held = []
        value = 0.0
        for symbol, qty in positions:
            price = rt.feed.price(symbol)
            market_value = qty * price if price is not None else None
            value += market_value or 0.0
            held.append({"symbol": symbol, "qty": round(qty, 6), "price": price,
                         "market_value": market_value})
        closed = totals["wins"] + totals["losses"]
        return {"agents": int(totals["agents"]), "cash": round(totals["cash"], 2),
                "positions_value": round(value, 2),
                "equity": round(totals["cash"] + value, 2),
                "realized_pnl": round(totals["realized_pnl"], 2),
                "fees_paid": round(totals["fees_paid"], 2),
                "trade_count": int(totals["trade_count"]),
                "win_rate": round(totals["wins"] / closed, 4) if closed else 0.0,
                "profit_factor": round(totals["gross_profit"] / totals["gross_loss"], 4)
                if totals["gross_loss"] else None,
                "halted_agents": int(totals["halted"]), "positions": held}
    return _cached(rt, "api:portfolio", load)


def whole_number_arg(req: Request, name: str, default: int, low: int, high: int) -> int:
    """Query argument `name` as an int in [low, high]; `default` when absent.

    Out-of-range values are refused rather than clamped: a client asking for -1 or 5000 rows
    has a bug, and answering with a silently different page hides it."""
    text = req.arg(name)
    if text is None:  # parse_qs drops blank values, so `?limit=` lands here too
        return default
    try:
        # ASCII digits only: int() would also take " 5", "+5", "1_000" and non-Latin digits
        value = int(text) if WHOLE.fullmatch(text) else None
    except ValueError:  # more digits than int() converts (sys.get_int_max_str_digits)
        value = None
    if value is not None and low <= value <= high:
        return value
    shown = text if value is not None else repr(text)
    if len(shown) > 40:  # the argument is echoed back: keep a hostile one short
        shown = shown[:37] + "..."
    raise HttpError(400, f"{name} must be a whole number from {low} to {high}, found {shown}")


def trades(rt: Runtime, req: Request) -> Response:
    limit = whole_number_arg(req, "limit", 100, 1, MAX_TRADES_PAGE)
    after = whole_number_arg(req, "after_id", 0, 0, MAX_ROW_ID)
    rows = repo.list_trades(rt.db, limit, req.arg("agent_id"), after)
    return json_response(200, {"trades": rows})


def kpis(rt: Runtime, req: Request) -> Response:
    def load() -> dict[str, Any]:
        now = time.time()
        stats = repo.trade_stats(rt.db, now - 60)
        totals, _ = repo.portfolio_rows(rt.db)
        closed = totals["wins"] + totals["losses"]
        observed = {
            "throughput": {"trades_per_second": round(stats["trades"] / 60, 3),
                           "analyses_per_minute_this_worker":
                               round(rt.engine.analyses_per_minute(), 1)},
            "profitability": {
                "win_rate_percentage": round(100 * totals["wins"] / closed, 2) if closed else None,
                "portfolio_profit_factor": round(totals["gross_profit"] / totals["gross_loss"], 4)
                if totals["gross_loss"] else None},
        }
        return {"observed": observed,
                "targets": {"system_kpis": rt.settings.config.get("system_kpis"),
                            "business_kpis": rt.settings.config.get("business_kpis")}}
    return _cached(rt, "api:kpis", load)


def circuit_breakers(rt: Runtime, req: Request) -> Response:
    state = rt.safety.describe(time.time())
    return json_response(200, {k: state[k] for k in (
        "breakers", "halted", "operator_halt", "evaluated_at", "evaluated_by",
        "agent_shutdown_threshold", "recent_events")})


def risk(rt: Runtime, req: Request) -> Response:
    return json_response(200, rt.safety.describe(time.time()))


OPERATOR = re.compile(r"[A-Za-z0-9._@-]{1,64}")


def _operator(req: Request) -> str:
    """Who asked, for the event rows: the X-Tragen-Operator header, else "admin"."""
    name = req.headers.get("x-tragen-operator", "").strip()
    return name if OPERATOR.fullmatch(name) else "admin"


def _json_object(req: Request) -> dict[str, Any]:
    try:
        payload = json.loads(req.body or b"{}")
    except ValueError:
        raise HttpError(400, "body must be a JSON object") from None
    if not isinstance(payload, dict):
        raise HttpError(400, "body must be a JSON object")
    return payload


def reset_breaker(rt: Runtime, req: Request) -> Response:
    name = req.params["name"]
    try:
        state = rt.safety.reset(name, _operator(req), time.time())
    except KeyError as exc:
        raise HttpError(404, str(exc.args[0])) from None
    except ResetRefused as exc:
        raise HttpError(409, str(exc)) from None
    return json_response(200, {"breaker": name, "tripped": state.tripped,
                               "reset_by": state.reset_by, "reset_at": state.reset_at,
                               "note": "every worker acts on it at its next lease round"})


def halt_all(rt: Runtime, req: Request) -> Response:
    reason = str(_json_object(req).get("reason") or "no reason given")[:200]
    rt.safety.halt_all(_operator(req), reason, time.time())
    return json_response(200, {"halted": True, "reason": reason,
                               "note": "every worker stops trading at its next lease round"})


def resume_all(rt: Runtime, req: Request) -> Response:
    try:
        cleared = rt.safety.resume_all(_operator(req), time.time())
    except ResetRefused as exc:
        raise HttpError(409, str(exc)) from None
    return json_response(200, {"halted": False, "cleared": cleared})


def _rate(payload: dict[str, Any], key: str) -> float | None:
    value = payload.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise HttpError(400, f"{key} must be a number from 0 to 1, or null for the "
                             "configuration's")
    return float(value)


def set_faults(rt: Runtime, req: Request) -> Response:
    """Inject failures into every worker's market data feed and broker (tests and drills)."""
    payload = _json_object(req)
    unknown = set(payload) - {"market_data_failure_rate", "broker_failure_rate"}
    if unknown:
        raise HttpError(400, f"unknown keys {sorted(unknown)}; expected "
                             "market_data_failure_rate, broker_failure_rate")
    market, broker = (_rate(payload, "market_data_failure_rate"),
                      _rate(payload, "broker_failure_rate"))
    rt.safety.set_faults(_operator(req), market, broker, time.time())
    return json_response(200, {"market_data_failure_rate": market, "broker_failure_rate": broker,
                               "note": "every worker applies them at its next lease round"})


def create_analysis(rt: Runtime, req: Request) -> Response:
    """Record an analysis request (idempotent by `request_id`) and answer 202 with its id.

    A well-formed symbol the market does not carry is recorded too (action "none"), so load
    generators can write with any symbol; other fields of the body are ignored."""
    try:
        payload = json.loads(req.body or b"{}")
    except ValueError:
        raise HttpError(400, "body must be JSON such as {\"symbol\": \"AAPL\"}") from None
    if not isinstance(payload, dict):
        raise HttpError(400, "body must be a JSON object")
    symbol = payload.get("symbol") or rt.feed.symbols[0]
    if not isinstance(symbol, str) or not SYMBOL.fullmatch(symbol):
        raise HttpError(400, "symbol must be 1-32 letters, digits, '.', '_' or '-'")
    style = str(payload.get("style", "swing_trader"))
    if style not in STYLES:
        raise HttpError(400, f"style must be one of {STYLES}")
    agent_id = payload.get("agent_id")
    if agent_id is not None and not isinstance(agent_id, str):
        raise HttpError(400, "agent_id must be a string")
    analysis_id = str(payload.get("request_id") or uuid.uuid4())
    if len(analysis_id) > 100:
        raise HttpError(400, "request_id is at most 100 characters")
    ind = rt.feed.snapshot().get(symbol)
    if symbol not in rt.feed.symbols:  # recorded all the same: a request is not an order
        action, reason, price = "none", (f"{symbol} is not traded here; symbols: "
                                         f"{', '.join(rt.feed.symbols)}"), None
    elif ind is None:
        action, reason, price = "hold", "market data warming up", None
    else:
        signal = strategy_for(style)(ind, 0.0, 0.0)
        action, reason, price = signal.action, signal.reason, ind.price
    created = repo.record_analysis(rt.db, analysis_id, agent_id, symbol, style,
                                   action, reason, price, rt.worker_id, time.time())
    return json_response(202, {"id": analysis_id, "created": created, "symbol": symbol,
                               "style": style, "action": action, "reason": reason})


ROUTES: list[tuple[str, re.Pattern[str], Handler, bool, str]] = [
    (m, re.compile(f"^{p}$"), h, admin, p) for m, p, h, admin in (
        ("GET", "/healthz", healthz, False),
        ("GET", "/readyz", readyz, False),
        ("GET", "/version", version, False),
        ("GET", "/metrics", metrics_endpoint, False),
        ("GET", "/api/v1/agents", list_agents, False),
        ("GET", "/api/v1/agents/(?P<agent_id>[^/]+)", get_agent, False),
        ("POST", "/api/v1/agents/(?P<agent_id>[^/]+)/halt", halt, True),
        ("POST", "/api/v1/agents/(?P<agent_id>[^/]+)/resume", resume, True),
        ("GET", "/api/v1/portfolio", portfolio, False),
        ("GET", "/api/v1/trades", trades, False),
        ("GET", "/api/v1/kpis", kpis, False),
        ("GET", "/api/v1/circuit-breakers", circuit_breakers, False),
        ("POST", "/api/v1/circuit-breakers/(?P<name>[a-z_]+)/reset", reset_breaker, True),
        ("GET", "/api/v1/risk", risk, False),
        ("POST", "/api/v1/admin/halt-all", halt_all, True),
        ("POST", "/api/v1/admin/resume-all", resume_all, True),
        ("POST", "/api/v1/admin/faults", set_faults, True),
        ("POST", "/api/v1/analyses", create_analysis, False),
    )]


def _authorised(rt: Runtime, req: Request) -> None:
    token = rt.settings.admin_token
    if not token:
        raise HttpError(503, "admin endpoints are off: TRAGEN_ADMIN_TOKEN is not set")
    given = req.headers.get("authorization", "")
    scheme, _, value = given.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode(),
                                                             token.encode()):
        raise HttpError(401, "send Authorization: Bearer <admin token>")


def dispatch(rt: Runtime, req: Request) -> tuple[Response, str]:
    """The response and the route template (for metrics labels)."""
    allowed: list[str] = []
    for method, pattern, handler, admin, template in ROUTES:
        match = pattern.match(req.path)
        if not match:
            continue
        if method != req.method:
            allowed.append(method)
            continue
        req.params = match.groupdict()
        try:
            if admin:
                _authorised(rt, req)
            elif template.startswith("/api/") and (fault := rt.api_faults.before_answer()):
                raise HttpError(500, fault)
            return handler(rt, req), template
        except HttpError as exc:
            return json_response(exc.status, {"error": str(exc)}), template
        except DatabaseUnavailable as exc:
            return json_response(503, {"error": f"database unavailable: {exc}"}), template
        except Exception as exc:
            if not is_database_error(exc):
                raise
            return json_response(503, {"error": f"database error: {type(exc).__name__}: "
                                                f"{str(exc).splitlines()[0] if str(exc) else ''}"
                                                "; if tables are missing run "
                                                "`tragen-runtime migrate`"}), template
    if allowed:
        resp = json_response(405, {"error": f"method {req.method} not allowed",
                                   "allowed": allowed})
        resp.headers.append(("Allow", ", ".join(allowed)))
        return resp, "405"
    return json_response(404, {"error": f"no route {req.path}"}), "404"

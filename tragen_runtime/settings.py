"""Runtime settings: the validated configuration plus environment, as typed records.

Secrets come only from the environment (TRAGEN_DATABASE_PASSWORD, TRAGEN_REDIS_PASSWORD,
TRAGEN_ADMIN_TOKEN, and TRAGEN_REDIS_SENTINEL_PASSWORD when Sentinel has its own
password) and are kept out of `repr` so they never reach a log line.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tragen_runtime.colours import check_colour
from tragen_runtime.configsource import ConfigError, config_digest, load_config
from tragen_runtime.faults import FaultPlan
from tragen_runtime.market import DEFAULT_SYMBOLS, SCENARIOS, scenario_start_tick

DEFAULT_SERVER_POOL = 20


@dataclass(frozen=True)
class MarketSettings:
    source: str = "simulator"
    seed: int = 42
    symbols: tuple[str, ...] = DEFAULT_SYMBOLS
    tick_interval: float = 1.0
    csv_dir: str | None = None
    scenario: str = "none"  # market.SCENARIOS
    scenario_starts_at: int = 0  # UNIX seconds

    @property
    def scenario_start_tick(self) -> int:
        """The tick the scenario starts at, as the engine counts ticks."""
        return scenario_start_tick(self.scenario_starts_at, self.tick_interval)


@dataclass(frozen=True)
class BrokerSettings:
    fee_rate: float = 0.001
    slippage_bps: float = 2.0
    live_adapter: str | None = None


@dataclass(frozen=True)
class RedisSettings:
    host: str = "localhost"
    port: int = 6379
    user: str | None = None
    db: int = 0
    sentinel_master: str | None = None
    sentinel_hosts: tuple[tuple[str, int], ...] = ()
    password: str | None = field(default=None, repr=False)
    sentinel_password: str | None = field(default=None, repr=False)  # Sentinel's requirepass


@dataclass(frozen=True)
class DatabaseSettings:
    kind: str = "sqlite"
    path: str = "tragen.db"
    host: str | None = None
    database: str = "tragen"
    port: int = 5432
    user: str = "tragen"
    replicas: tuple[str, ...] = ()
    read_write_split: bool = False
    max_connections: int = 10
    replica_max_lag: float = 5.0
    pool_budget: int = 20  # connections all workers of one app server may hold together
    pool_min_total: int = 1
    pool_lifetime: float = 3600.0
    password: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class LeaseSettings:
    ttl: float = 15.0
    renew_interval: float = 5.0


@dataclass(frozen=True)
class Settings:
    release_id: str
    environment: str
    bind: str
    max_agents: int
    concurrent_analyses: int | None  # None: not configured, no cap
    paper_only: bool
    market: MarketSettings
    broker: BrokerSettings
    database: DatabaseSettings
    leases: LeaseSettings
    redis: RedisSettings | None
    cache_ttls: Mapping[str, float]
    l1_entries: int
    l2_data: frozenset[str]  # what the engine shares through Redis
    gzip_min_size: int | None  # api.compression: gzip answers from this size (None: off)
    config_digest: str
    config: Mapping[str, Any] = field(repr=False)
    admin_token: str | None = field(default=None, repr=False)
    notes: tuple[str, ...] = ()
    faults: FaultPlan = FaultPlan()  # runtime.faults: the configured failure rates
    # Blue-green (tragen_runtime.colours): this unit's colour and the file naming the live one.
    colour: str | None = None
    live_colour_file: str | None = None


def _host_port(text: str, default_port: int) -> tuple[str, int]:
    host, _, port = str(text).rpartition(":")
    return (host, int(port)) if host else (str(text), default_port)


def _database(config: Mapping[str, Any], runtime: Mapping[str, Any]) -> DatabaseSettings:
    db = config.get("database") or {}
    rdb = runtime.get("database") or {}
    kind = str(db.get("type", "sqlite"))
    max_conn = db.get("max_connections", db.get("connection_pool"))
    if isinstance(max_conn, bool) or not isinstance(max_conn, int):
        max_conn = 10
    api_pool = ((config.get("api") or {}).get("connection_pools") or {}).get("database") or {}
    pool = db.get("connection_pool")
    # One app server holds at most `connection_pool` connections (20 when it is just true),
    # the figure the PostgreSQL role budgets against max_connections.
    budget = pool if isinstance(pool, int) and not isinstance(pool, bool) else DEFAULT_SERVER_POOL
    if api_pool.get("max_connections"):
        budget = min(budget, int(api_pool["max_connections"]))
    common: dict[str, Any] = {
        "kind": kind, "max_connections": max_conn, "pool_budget": int(budget),
        "pool_min_total": int(api_pool.get("min_connections", 1)),
        "pool_lifetime": float(api_pool.get("connection_lifetime", 3600)),

        "port": int(rdb.get("port", 5432)), "user": str(rdb.get("user", "tragen")),
        "replica_max_lag": float(rdb.get("replica_max_lag_seconds", 5.0)),
        "password": os.environ.get("TRAGEN_DATABASE_PASSWORD") or None,
    }
    if kind == "sqlite":
        return DatabaseSettings(path=str(db.get("path", "tragen.db")), **common)
    if kind == "postgresql":
        return DatabaseSettings(host=str(db.get("host", "localhost")),
                                database=str(db.get("database", "tragen")), **common)
    if kind == "postgresql_cluster":
        if not db.get("primary"):
            raise ConfigError("database.primary is required for type postgresql_cluster")
        return DatabaseSettings(host=str(db["primary"]),
                                database=str(db.get("database", "tragen")),
                                replicas=tuple(str(r) for r in db.get("replicas") or ()),
                                read_write_split=bool(db.get("read_write_split", False)),
                                **common)
    raise ConfigError(f"database.type {kind!r} is not one of sqlite, postgresql, "
                      "postgresql_cluster")


def _redis(config: Mapping[str, Any], runtime: Mapping[str, Any]) -> tuple[RedisSettings | None,
                                                                          list[str]]:
    caching = config.get("caching") or {}
    wants = any((level or {}).get("type") == "redis" for level in caching.values()
                if isinstance(level, dict))
    section = runtime.get("redis")
    if not wants:
        return None, []
    if not section:
        return None, ["caching names a redis level but runtime.redis is missing: L2 cache off"]
    sentinel = section.get("sentinel") or {}
    return RedisSettings(
        host=str(section.get("host", "localhost")), port=int(section.get("port", 6379)),
        user=section.get("user"), db=int(section.get("db", 0)),
        sentinel_master=sentinel.get("master_name"),
        sentinel_hosts=tuple(_host_port(h, 26379) for h in sentinel.get("hosts") or ()),
        password=os.environ.get("TRAGEN_REDIS_PASSWORD") or None,
        sentinel_password=os.environ.get("TRAGEN_REDIS_SENTINEL_PASSWORD")
        or os.environ.get("TRAGEN_REDIS_PASSWORD") or None,
    ), []


def _cache_ttls(config: Mapping[str, Any]) -> dict[str, float]:
    caching = config.get("caching") or {}
    ttls = {"l1": 60.0, "l2": 300.0, "l3": 3600.0}
    for level in ttls:
        value = (caching.get(f"{level}_cache") or {}).get("ttl")
        if isinstance(value, int | float) and not isinstance(value, bool):
            ttls[level] = float(value)
    return ttls


def _l1_entries(config: Mapping[str, Any]) -> int:
    """L1 capacity in entries: caching.l1_cache.size at ~4 KB per entry (1,000..1,000,000)."""
    from tragen_runtime.sizing import parse_size

    size = ((config.get("caching") or {}).get("l1_cache") or {}).get("size")
    if not size:
        return 10_000
    return max(1_000, min(1_000_000, parse_size(str(size)) // 4096))


def _gzip_min_size(config: Mapping[str, Any]) -> int | None:
    compression = (config.get("api") or {}).get("compression") or {}
    if not compression.get("enabled") or compression.get("algorithm", "gzip") != "gzip":
        return None
    return int(compression.get("min_size", 1024))


def _l2_data(config: Mapping[str, Any]) -> frozenset[str]:
    """Kinds of data to share through the redis level (its `data` list; default all)."""
    for level in (config.get("caching") or {}).values():
        if isinstance(level, dict) and level.get("type") == "redis" and level.get("data"):
            return frozenset(str(d) for d in level["data"])
    return frozenset({"indicators", "analysis_results", "current_prices"})


def settings_from_config(config: dict[str, Any], env: Mapping[str, str] | None = None) -> Settings:
    """Typed settings; raises ConfigError listing every runtime-level problem."""
    env = os.environ if env is None else env
    runtime = config.get("runtime") or {}
    problems: list[str] = []
    market = runtime.get("market") or {}
    broker = runtime.get("broker") or {}
    leases = runtime.get("leases") or {}
    production = config.get("production") or {}
    agents = config.get("agents") or {}

    live_adapter = broker.get("live_adapter")
    paper_only = bool(agents.get("paper_trading_only", True))
    if not paper_only and not live_adapter:
        problems.append(
            "agents.paper_trading_only is false but runtime.broker.live_adapter is not set: "
            "this runtime has only the paper broker and will not pretend to trade live; set "
            "agents.paper_trading_only: true or configure a live adapter")
    elif not paper_only:
        problems.append(f"runtime.broker.live_adapter {live_adapter!r} is not available in this "
                        "release (only paper trading is implemented)")
    source = str(market.get("source", "simulator"))
    if source not in ("simulator", "csv"):
        problems.append(f"runtime.market.source {source!r}: expected simulator or csv")
    if source == "csv" and not market.get("csv_dir"):
        problems.append("runtime.market.source is csv but runtime.market.csv_dir is not set")
    scenario = str(market.get("scenario", "none"))
    if scenario not in SCENARIOS:
        problems.append(f"runtime.market.scenario {scenario!r}: expected one of "
                        f"{', '.join(SCENARIOS)}")
    elif scenario != "none" and source == "csv":
        problems.append(f"runtime.market.scenario {scenario!r} shapes the simulator; a csv "
                        "replay plays its files as recorded (use scenario none)")
    starts_at = market.get("scenario_starts_at", 0)
    if isinstance(starts_at, bool) or not isinstance(starts_at, int) or starts_at < 0:
        problems.append(f"runtime.market.scenario_starts_at {starts_at!r}: expected UNIX "
                        "seconds (an integer >= 0)")
        starts_at = 0
    try:
        faults = FaultPlan.from_config(config)
    except ValueError as exc:
        problems.append(str(exc))
        faults = FaultPlan()
    ttl = float(leases.get("ttl_seconds", 15))
    renew = float(leases.get("renew_interval_seconds", max(ttl / 3, 0.1)))
    if renew >= ttl:
        problems.append(f"runtime.leases.renew_interval_seconds ({renew}) must be below "
                        f"ttl_seconds ({ttl}) or agents flap between workers")
    try:
        database = _database(config, runtime)
    except ConfigError as exc:
        problems.append(str(exc))
        database = DatabaseSettings()
    redis, notes = _redis(config, runtime)
    colour = env.get("TRAGEN_COLOUR") or None
    colour_problem = check_colour(colour)
    if colour_problem:
        problems.append(colour_problem)
    if problems:
        raise ConfigError("\n".join(f"- {p}" for p in problems))
    tick = float(market.get("tick_interval", 1.0))
    return Settings(
        release_id=env.get("TRAGEN_RELEASE_ID") or str(runtime.get("release_id", "dev")),
        environment=str(runtime.get("environment", "development")),
        bind=env.get("TRAGEN_BIND") or str((runtime.get("http") or {}).get("bind",
                                                                          "127.0.0.1:8000")),
        max_agents=int(production.get("max_agents", 5)),
        concurrent_analyses=int(production["concurrent_analyses"])
        if production.get("concurrent_analyses") else None,
        paper_only=paper_only,
        market=MarketSettings(
            source=source, seed=int(market.get("seed", 42)),
            symbols=tuple(market.get("symbols")
                          or (() if source == "csv" else DEFAULT_SYMBOLS)),
            tick_interval=tick if tick > 0 and math.isfinite(tick) else 1.0,
            csv_dir=market.get("csv_dir"), scenario=scenario, scenario_starts_at=starts_at),
        broker=BrokerSettings(fee_rate=float(broker.get("fee_rate", 0.001)),
                              slippage_bps=float(broker.get("slippage_bps", 2.0)),
                              live_adapter=live_adapter),
        database=database,
        leases=LeaseSettings(ttl=ttl, renew_interval=renew),
        redis=redis,
        cache_ttls=_cache_ttls(config),
        l1_entries=_l1_entries(config),
        l2_data=_l2_data(config),
        gzip_min_size=_gzip_min_size(config),
        config_digest=config_digest(config),
        config=config,
        admin_token=env.get("TRAGEN_ADMIN_TOKEN") or None,
        notes=tuple(notes),
        faults=faults,
        colour=colour,
        live_colour_file=env.get("TRAGEN_LIVE_COLOUR_FILE") or None,
    )


def serving_problems(settings: Settings) -> list[str]:
    """What keeps these settings from serving (gunicorn refuses to start): with
    `agents.additional_safety_checks`, the admin token operators need to reset a breaker or
    halt the fleet."""
    checks = bool((settings.config.get("agents") or {}).get("additional_safety_checks", False))
    if checks and not settings.admin_token:
        return ["agents.additional_safety_checks is true but TRAGEN_ADMIN_TOKEN is not set: no "
                "operator could reset a breaker or halt the fleet; set it (the deploy writes "
                "tragen_admin_token into the service's environment file)"]
    return []


def load_settings(path: str | None = None) -> Settings:
    return settings_from_config(load_config(path))

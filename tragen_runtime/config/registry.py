"""The key registry: what acts on each key the schemas accept, or why nothing does.

An operator who validates a configuration believes what it says; a key that is accepted and
then ignored must say so. Every leaf path of the schemas (``schema_paths.leaf_paths``) has an
entry here; ``tests/config/test_registry.py`` fails on a missing, stale or dangling one.

Paths use ``.*`` for any key of a map and ``[*]`` for any item of a list; an entry with a name
where the schema has ``.*`` (``...portfolio_breakers.total_loss.threshold``) answers for that
name and the ``.*`` entry for every other. Actors are ``module:qualname`` (Python), a file
(``roles/.../template.j2``, a playbook) or ``file:name`` (a variable defined in that file).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum


class Absent(Enum):
    """A sibling key that is not written at all."""

    ABSENT = "absent"


ABSENT = Absent.ABSENT
Value = str | int | float | bool | None | Absent


@dataclass(frozen=True)
class IgnoredWhen:
    """The actors skip the key while its sibling ``sibling`` holds one of ``values``."""

    sibling: str
    values: tuple[Value, ...]
    reason: str


@dataclass(frozen=True)
class ActedOn:
    """A key that changes what the toolkit does: who reads it, how, and what absence means."""

    path: str
    actors: tuple[str, ...]
    rule: str
    default: str
    ignored_when: IgnoredWhen | None = None
    # an inventory group whose hosts do the acting: with none in the inventory, nothing acts
    needs_group: str | None = None


@dataclass(frozen=True)
class NotActedOn:
    """A key accepted as the guide writes it that nothing in this release acts on."""

    path: str
    reason: str


Entry = ActedOn | NotActedOn


def _not_acted_on(parent: str, keys: Iterable[str], reason: str) -> tuple[NotActedOn, ...]:
    """One entry per key of ``parent`` that shares one reason."""
    return tuple(NotActedOn(f"{parent}.{key}", reason) for key in keys)


_DISABLED = (False, ABSENT)

_SCHEDULE = "tragen_runtime.monitoring.schedule:Schedule.from_config"
_KPI = (
    "no series measures this KPI yet, so no alert compares a figure with it; GET /api/v1/kpis "
    "echoes it (tragen_runtime.monitoring.catalog lists the measured KPIs)"
)
_NO_AUTO_SCALING = (
    "nothing adds or removes app servers or instances in this release; the inventory fixes them"
)
_PERFORMANCE_POOLS = (
    "performance pools are skipped when agents are built: no capital is allocated by "
    "performance in this release"
)
_OTHER_API_POOL = (
    "only the pool named database is read: the runtime opens no other outbound pool (market "
    "data is simulated or replayed, the broker is the paper one)"
)

_SAFETY_CONFIG = "tragen_runtime.safety.config:SafetyConfig.from_config"
_JUDGE = "tragen_runtime.safety.judge:judge"
_EVALUATE = "tragen_runtime.safety.store:SafetyStore._evaluate"
_VIEW = "tragen_runtime.safety.orders:SafetyView.from_states"
_REFUSAL = "tragen_runtime.safety.orders:refusal"
_PROCEDURES = "tragen_runtime.engine:Engine._take_procedures"
_FLEET = "one state for the fleet in the database, evaluated once per lease round"
_BREAKER_FIGURES = {
    "total_loss": "the fleet's loss since its reference (0 until an operator's reset) as a "
                  "share of its capital",
    "correlation_spike": "the mean pairwise correlation of the agents' returns over the last 30 "
                         "evaluations",
    "api_failure_rate": "the share of failed calls to the market data feed and the broker over "
                        "every live worker's last round (20 calls at least)",
    "memory_usage": "the largest share of its memory limit (the service's cgroup, else host RAM) "
                    "that an app server uses",
}
_BREAKER_DEFAULTS = {  # threshold, action, hold seconds, reduction factor
    "total_loss": ("0.05", "halt_new_trades", "3600", "1"),
    "correlation_spike": ("0.9", "reduce_positions", "300", "0.5"),
    "api_failure_rate": ("0.1", "halt_new_trades", "300", "1"),
    "memory_usage": ("0.9", "scale_down_agents", "60", "0.8"),
}


def _breaker_entries(section: str, name: str) -> tuple[ActedOn, ...]:
    """The six keys of one breaker: every breaker is built the same way (safety.config)."""
    path = f"$.circuit_breakers.{section}.{name}"
    threshold, action, hold, factor = _BREAKER_DEFAULTS[name]
    held = (_SAFETY_CONFIG, _JUDGE)
    return (
        ActedOn(f"{path}.threshold", (_SAFETY_CONFIG, _EVALUATE, _JUDGE),
                f"trips when {_BREAKER_FIGURES[name]} reaches it; {_FLEET}", threshold),
        ActedOn(f"{path}.action", (_SAFETY_CONFIG, _VIEW, _REFUSAL, _PROCEDURES,
                                   "tragen_runtime.storage.leases:LeaseManager.run_round"),
                "halt_new_trades: no orders that open positions; reduce_positions: that, and "
                "every position reduced by reduction_factor once per trip; scale_down_agents: "
                "the servers over the threshold run reduction_factor of their agents (memory) "
                "or every server does", action),
        ActedOn(f"{path}.reduction_factor", (_SAFETY_CONFIG, _VIEW, _PROCEDURES),
                "the share of every position sold once per trip (reduce_positions), or of its "
                "fair number of agents a server keeps (scale_down_agents); the gate refuses it "
                "with halt_new_trades, which reduces nothing", factor),
        ActedOn(f"{path}.cooldown", held,
                "a trip holds at least this long from the moment it tripped (with duration "
                "also given, the longer counts)", f"{hold} (or duration)"),
        ActedOn(f"{path}.duration", held,
                "the same as cooldown: how long a trip holds at least (the longer counts)",
                f"{hold} (or cooldown)"),
        ActedOn(f"{path}.auto_reset", (_SAFETY_CONFIG, _JUDGE,
                                       "tragen_runtime.safety.judge:operator_reset"),
                "true: the breaker clears itself once the figure is under its threshold after "
                "the hold; false: only an operator's reset (POST /api/v1/circuit-breakers/"
                "NAME/reset, refused during the hold)", "true"),
    )


_PROFILE = (
    "tragen_runtime.workers:choose_profile",
    "tragen_runtime.workers:worker_plan",
    "tragen_runtime.sizing:gunicorn_workers",
)
_CHOSEN = (
    "when this profile is chosen (TRAGEN_CPU_PROFILE, the only profile, else distributed / "
    "multi_process / single_process by production)"
)
_NGINX = "roles/tragen_nginx/defaults/main.yml"
_UPSTREAM = "roles/tragen_nginx/templates/tragen-upstream.conf.j2"
_POSTGRESQL = "roles/tragen_postgresql/defaults/main.yml"
_SQLITE = IgnoredWhen(
    "type", ("sqlite",), "a sqlite database is a file: it has no connection limit or pool"
)
_NOT_AUTO_SCALING = IgnoredWhen(
    "auto_scale", _DISABLED, "the pool runs its min_agents and no standby agents"
)
_COMPRESSION_OFF = IgnoredWhen("enabled", _DISABLED, "nothing is compressed")

REGISTRY: tuple[Entry, ...] = (
    # -- production -------------------------------------------------------------------------
    ActedOn(
        "$.production.max_agents",
        ("tragen_runtime.agents:max_agents", "tragen_runtime.workers:choose_profile",
         "tragen_runtime.config.planning:agent_count"),
        "caps the agents built (the lower of it and agents.max_count); above 25 it picks the "
        "multi_process cpu profile when several are given; `tragen-config plan` sizes for it",
        "5 (or agents.max_count)",
    ),
    ActedOn(
        "$.production.concurrent_analyses",
        ("tragen_runtime.settings:settings_from_config", "tragen_runtime.workers:worker_plan"),
        "caps gunicorn's workers per app server (each worker runs one analysis at a time)",
        "no cap (workers from the cpu_scaling profile)",
    ),
    ActedOn(
        "$.production.memory_limit",
        ("roles/tragen_app/vars/main.yml:tragen_app__memory_max",
         "roles/tragen_app/templates/tragen.service.j2",
         f"{_POSTGRESQL}:tragen_postgresql_memory_limit",
         "roles/tragen_postgresql/vars/main.yml:tragen_postgresql_memory"),
        "the app service's systemd MemoryMax (capped by tragen_host_memory_gb), and the memory "
        "PostgreSQL's shared_buffers, effective_cache_size and work_mem are sized from",
        "MemoryMax: the host's tragen_host_memory_gb, else infinity; PostgreSQL: the host's memory",
    ),
    ActedOn(
        "$.production.distributed",
        ("tragen_runtime.workers:choose_profile",),
        "true picks the distributed cpu_scaling profile when several profiles are given and "
        "TRAGEN_CPU_PROFILE names none",
        "false",
    ),
    # -- monitoring (single_agent.yaml and monitoring_scale's MONITORING_CONFIG) ------------
    NotActedOn(
        "$.monitoring.check_interval",
        "the runtime's checks (lease rounds, /readyz) keep their own schedule and Prometheus "
        "scrapes at metrics_collection.frequency; nothing reads this interval",
    ),
    NotActedOn(
        "$.monitoring.detailed_logging",
        "the log level comes from TRAGEN_LOG_LEVEL; this switch is not read",
    ),
    ActedOn(
        "$.monitoring.metrics_collection.frequency",
        (_SCHEDULE, "tragen_runtime.monitoring.scrape:prometheus_config",
         "tragen_runtime.monitoring.alerts:infrastructure_alerts"),
        "Prometheus scrapes every target and evaluates every rule at this interval; an "
        "infrastructure fault must last two intervals before it alerts",
        "5",
        needs_group="monitoring",
    ),
    ActedOn(
        "$.monitoring.metrics_collection.aggregation_window",
        (_SCHEDULE, "tragen_runtime.monitoring.recording:recording_groups",
         "tragen_runtime.monitoring.alerts:kpi_alerts"),
        "the range of every recording rule (at least two scrape intervals), and how long a KPI "
        "must miss its target or reach its critical value before it alerts",
        "60",
        needs_group="monitoring",
    ),
    ActedOn(
        "$.monitoring.metrics_collection.retention_period",
        (_SCHEDULE, "roles/tragen_monitoring/tasks/prometheus.yml"),
        "Prometheus' --storage.tsdb.retention.time; also the range of max_drawdown_percentage",
        "2592000 (30 days)",
        needs_group="monitoring",
    ),
    *(
        ActedOn(
            f"$.monitoring.metrics_collection.{key}",
            ("tragen_runtime.monitoring.catalog:listed_metric",
             "tragen_runtime.monitoring.recording:recording_groups",
             "tragen_runtime.config.rules:listed_metrics_exported"),
            f"each name becomes a recording rule over aggregation_window ({names}); a name "
            "that nothing exports is refused by the gate",
            "none recorded",
            needs_group="monitoring",
        )
        for key, names in (
            ("agent_metrics", "trade_count, win_rate, profit_factor, memory_usage, cpu_usage, "
                              "api_latency"),
            ("system_metrics", "total_memory, total_cpu, disk_usage, network_io, "
                               "database_connections, cache_hit_rate"),
        )
    ),
    ActedOn(
        "$.monitoring.alerting.escalation_levels[*].threshold",
        ("tragen_runtime.monitoring.routes:alertmanager_config",),
        "an Alertmanager route on the alerts' severity label to a receiver of this level; an "
        "alert of no listed severity goes to the last (most urgent) level",
        "warning, critical and emergency as the guide writes them",
        needs_group="monitoring",
    ),
    ActedOn(
        "$.monitoring.alerting.escalation_levels[*].notify",
        ("tragen_runtime.monitoring.routes:alertmanager_config",
         "roles/tragen_monitoring/files/tragen_notifier.py"),
        "one webhook per channel at the notifier, which delivers to the channel's endpoint "
        "(tragen_monitoring_channels; the recorder in the sandbox)",
        "the guide's channels per level",
        needs_group="monitoring",
    ),
    ActedOn(
        "$.monitoring.alerting.alert_aggregation.window",
        ("tragen_runtime.monitoring.routes:alertmanager_config",
         "roles/tragen_monitoring/files/tragen_notifier.py"),
        "Alertmanager's group_interval, and the notifier's window (aligned to UTC) for "
        "max_alerts_per_window",
        "300",
        needs_group="monitoring",
    ),
    ActedOn(
        "$.monitoring.alerting.alert_aggregation.max_alerts_per_window",
        ("roles/tragen_monitoring/files/tragen_notifier.py",),
        "at most this many notifications per channel and window; the rest are folded into "
        "one summary that opens the next window",
        "10",
        needs_group="monitoring",
    ),
    # -- agent_pools -------------------------------------------------------------------------
    ActedOn(
        "$.agent_pools.*",
        ("tragen_runtime.agents:build_agents",),
        "this many agents of the template named like the pool (or of the style its name says: "
        "aggressive, balanced, ...), all pools within production.max_agents",
        "no pools: agents cycle through the templates up to the cap",
    ),
    ActedOn(
        "$.agent_pools.strategy_pools.*.min_agents",
        ("tragen_runtime.agents:build_agents",),
        "agents of the pool that always work (within production.max_agents)",
        "required",
    ),
    ActedOn(
        "$.agent_pools.strategy_pools.*.max_agents",
        ("tragen_runtime.agents:build_agents", "tragen_runtime.engine:active_ranks"),
        "with auto_scale, standby agents up to this many (shared in proportion when the cap "
        "leaves less room), working while the scale metric is high",
        "required",
        _NOT_AUTO_SCALING,
    ),
    ActedOn(
        "$.agent_pools.strategy_pools.*.auto_scale",
        ("tragen_runtime.agents:build_agents", "tragen_runtime.engine:Engine.run_tick"),
        "true adds standby agents (up to max_agents) that analyse only while the pool's "
        "scale_metric asks",
        "false",
    ),
    ActedOn(
        "$.agent_pools.strategy_pools.*.scale_metric",
        ("tragen_runtime.engine:pool_levels", "tragen_runtime.engine:active_ranks"),
        "market_volatility or trend_strength (0..1 from the shared indicators) sets how many "
        "standby agents work; any other name keeps them all working",
        "every standby agent works",
        _NOT_AUTO_SCALING,
    ),
    *_not_acted_on(
        "$.agent_pools.performance_pools.*",
        ("allocation", "min_performance_score", "new_strategies"),
        _PERFORMANCE_POOLS,
    ),
    # -- database ----------------------------------------------------------------------------
    ActedOn(
        "$.database.type",
        ("tragen_runtime.settings:_database", "tragen_runtime.storage.db:open_database",
         "roles/tragen_app/vars/main.yml:tragen_app__database_type"),
        "sqlite: one file; postgresql: one server; postgresql_cluster: the primary and, with "
        "read_write_split, its replicas for reads",
        "required (the runtime alone falls back to sqlite)",
    ),
    ActedOn(
        "$.database.path",
        ("tragen_runtime.settings:_database", "tragen_runtime.storage.db:SqliteDatabase"),
        "the SQLite file (WAL mode) the runtime opens",
        "required for sqlite",
    ),
    ActedOn(
        "$.database.host",
        ("tragen_runtime.settings:_database", "tragen_runtime.storage.db:_conninfo"),
        "the PostgreSQL server the runtime connects to",
        "required for postgresql",
    ),
    ActedOn(
        "$.database.database",
        ("tragen_runtime.settings:_database", f"{_POSTGRESQL}:tragen_postgresql_app_database"),
        "the PostgreSQL database the role creates for the app and the runtime connects to",
        "tragen",
    ),
    ActedOn(
        "$.database.max_connections",
        (f"{_POSTGRESQL}:tragen_postgresql_max_connections",
         "roles/tragen_postgresql/templates/tragen.conf.j2",
         "roles/tragen_postgresql/tasks/assert.yml", "tragen_runtime.sizing:postgresql_memory"),
        "PostgreSQL's max_connections (and work_mem per connection); the role refuses to run "
        "when app servers x pool + 10 reserved exceed it",
        "100",
        _SQLITE,
    ),
    ActedOn(
        "$.database.connection_pool",
        ("tragen_runtime.settings:_database", "tragen_runtime.storage.db:pool_sizes",
         f"{_POSTGRESQL}:tragen_postgresql_app_pool_size"),
        "a number: the connections one app server opens at most, split between its workers "
        "(the PostgreSQL role budgets it); true or false: 20, pooling is never off",
        "20",
        _SQLITE,
    ),
    ActedOn(
        "$.database.primary",
        ("tragen_runtime.settings:_database",),
        "the postgresql_cluster server every write (and every read without read_write_split) "
        "goes to",
        "required for postgresql_cluster",
    ),
    ActedOn(
        "$.database.replicas",
        ("tragen_runtime.settings:_database", "tragen_runtime.storage.db:PostgresDatabase",
         "tragen_runtime.storage.db:writer_conninfo"),
        "where writes go once one of them is the writable server (target_session_attrs="
        "read-write, the primary tried first); with read_write_split, the servers reads go to "
        "in turn while their replay lag is within runtime.database.replica_max_lag_seconds "
        "(the hosts cloned come from the inventory)",
        "none",
    ),
    ActedOn(
        "$.database.read_write_split",
        ("tragen_runtime.settings:_database", "tragen_runtime.storage.db:PostgresDatabase.read"),
        "true sends reads to healthy replicas, false keeps everything on the primary",
        "false",
    ),
    NotActedOn(
        "$.database.failover",
        "no failover manager (Patroni) is deployed yet: nothing promotes a replica when the "
        "primary dies; the runtime's writes follow one promoted by hand (issue: postgresql-ha)",
    ),
    # -- load_balancing ----------------------------------------------------------------------
    NotActedOn(
        "$.load_balancing.enabled",
        "nginx is deployed whenever the inventory's lb group has hosts; this switch is not read",
    ),
    ActedOn(
        "$.load_balancing.type",
        ("roles/tragen_nginx/tasks/main.yml", "tragen_runtime.config.notices:notices"),
        "nginx and nginx_plus both deploy Debian's open-source nginx; nginx_plus adds a note on "
        "what that means (passive health checks, no NGINX Plus API)",
        "nginx",
    ),
    ActedOn(
        "$.load_balancing.strategy",
        (f"{_NGINX}:tragen_nginx_strategy", _UPSTREAM),
        "the upstream's balancing method (least_conn, ip_hash or nginx's round robin)",
        "round_robin",
    ),
    ActedOn(
        "$.load_balancing.health_checks",
        (f"{_NGINX}:tragen_nginx_max_fails", _UPSTREAM),
        "true: passive checks (max_fails=3 per fail_timeout); false: max_fails=0",
        "true",
    ),
    ActedOn(
        "$.load_balancing.ssl_termination",
        (f"{_NGINX}:tragen_nginx_tls_enabled", "roles/tragen_nginx/templates/tragen.conf.j2"),
        "true: nginx terminates TLS on 443 (given or self-signed certificate); false: no TLS "
        "listener",
        "true",
    ),
    NotActedOn(
        "$.load_balancing.failover",
        "one nginx is deployed, with no standby balancer or shared address to fail over to",
    ),
    # -- servers -----------------------------------------------------------------------------
    ActedOn(
        "$.servers.app_servers",
        ("tragen_runtime.config.cli:_configured_servers",),
        "`tragen-config plan CONFIG` sizes this many app servers unless --app-servers is given; "
        "a deploy runs the inventory's app_servers group, whatever this count says",
        "1",
    ),
    NotActedOn(
        "$.servers.db_servers",
        "the inventory's db_primary and db_replicas groups decide the database hosts; this count "
        "is not read",
    ),
    NotActedOn(
        "$.servers.cache_servers",
        "the inventory's cache group decides the Redis hosts; this count is not read",
    ),
    # -- agents ------------------------------------------------------------------------------
    ActedOn(
        "$.agents.max_count",
        ("tragen_runtime.agents:max_agents", "tragen_runtime.config.planning:agent_count"),
        "caps the agents built (the lower of it and production.max_agents); `plan` sizes for it "
        "when production.max_agents is absent",
        "no cap beyond production.max_agents",
    ),
    ActedOn(
        "$.agents.paper_trading_only",
        ("tragen_runtime.settings:settings_from_config",),
        "true: orders go to the paper broker; false: the runtime refuses to start (no live "
        "broker exists in this release)",
        "true",
    ),
    ActedOn(
        "$.agents.additional_safety_checks",
        ("tragen_runtime.config.rules:safety_checks_configured",
         "tragen_runtime.settings:serving_problems",
         _SAFETY_CONFIG, _REFUSAL),
        "true: the gate requires every breaker and limit configured, the runtime refuses to "
        "start without an admin token, and every opening order is checked against the sizing "
        "rule's notional cap (risk_tolerance x 5 % of the agent's equity)",
        "false",
    ),
    # -- agent_templates ---------------------------------------------------------------------
    ActedOn(
        "$.agent_templates.*.personality.risk_tolerance",
        ("tragen_runtime.agents:build_agents", "tragen_runtime.risk:order_quantity"),
        "a stop-out loses risk_tolerance x 0.5 % of the agent's equity; a position is at most "
        "risk_tolerance x 5 % of it",
        "required (without agent_templates the guide's three templates: 7, 4, 2)",
    ),
    ActedOn(
        "$.agent_templates.*.personality.analysis_style",
        ("tragen_runtime.agents:build_agents", "tragen_runtime.strategies:strategy_for"),
        "the strategy the agent analyses with (scalper, swing_trader, conservative)",
        "required (without agent_templates the guide's three templates)",
    ),
    ActedOn(
        "$.agent_templates.*.personality.max_trades_per_day",
        ("tragen_runtime.agents:build_agents", "tragen_runtime.engine:Engine._maybe_trade"),
        "an agent opens a position only while its trades today + 2 stay within it (room for "
        "the closing trade); closing is always allowed",
        "required (without agent_templates the guide's three templates: 50, 5, 3)",
    ),
    # -- memory ------------------------------------------------------------------------------
    ActedOn(
        "$.memory.agent_memory_limit",
        ("tragen_runtime.memory:agent_memory_check", "tragen_runtime.runtime:Runtime.readiness"),
        "GET /readyz reports the worker's memory per agent against it (within_limit); nothing "
        "is stopped or refused when it is exceeded",
        "not reported",
    ),
    NotActedOn(
        "$.memory.shared_cache",
        "there is no shared memory cache: L1 is per worker (caching.l1_cache.size) and L2 is "
        "Redis (caching.l2_cache.size)",
    ),
    ActedOn(
        "$.memory.gc_frequency",
        ("tragen_runtime.memory:apply_gc_policy",),
        "CPython's collector thresholds in every worker (optimized also freezes what start-up "
        "built)",
        "normal",
    ),
    NotActedOn(
        "$.memory.memory_pools",
        "CPython's own allocator is used as it is; no memory pool is set up",
    ),
    NotActedOn("$.memory.memory_mapping", "nothing is memory-mapped in this release"),
    NotActedOn(
        "$.memory.swap_management",
        "the toolkit does not change the hosts' swap",
    ),
    # -- cpu_scaling -------------------------------------------------------------------------
    ActedOn(
        "$.cpu_scaling.single_process.workers",
        _PROFILE,
        f"gunicorn workers per app server {_CHOSEN}, within 1..2 x cores + 1 and at most "
        "production.concurrent_analyses",
        "required in the profile (1 worker without cpu_scaling)",
    ),
    ActedOn(
        "$.cpu_scaling.single_process.threads_per_worker",
        _PROFILE,
        f"gunicorn threads per worker {_CHOSEN}, at least 4 so health probes never queue",
        "4",
    ),
    NotActedOn(
        "$.cpu_scaling.single_process.async_tasks",
        "each worker's engine runs its analyses one by one in one thread; there are no async "
        "tasks to switch on",
    ),
    ActedOn(
        "$.cpu_scaling.multi_process.workers",
        _PROFILE,
        f"gunicorn workers per app server {_CHOSEN}, within 1..2 x cores + 1 and at most "
        "production.concurrent_analyses",
        "required in the profile (1 worker without cpu_scaling)",
    ),
    ActedOn(
        "$.cpu_scaling.multi_process.threads_per_worker",
        _PROFILE,
        f"gunicorn threads per worker {_CHOSEN}, at least 4 so health probes never queue",
        "4",
    ),
    NotActedOn(
        "$.cpu_scaling.multi_process.process_pools",
        "gunicorn's workers are the only processes; no process pool is started",
    ),
    NotActedOn(
        "$.cpu_scaling.multi_process.load_balancing",
        "the kernel hands connections to gunicorn's workers and leases spread the agents "
        "evenly; no strategy is chosen inside a server",
    ),
    NotActedOn(
        "$.cpu_scaling.distributed.servers",
        "the inventory's app_servers group decides how many servers run; this count is not read",
    ),
    ActedOn(
        "$.cpu_scaling.distributed.workers_per_server",
        _PROFILE,
        f"gunicorn workers per app server {_CHOSEN} (4 threads each), within 1..2 x cores + 1 "
        "and at most production.concurrent_analyses",
        "required in the profile",
    ),
    NotActedOn(
        "$.cpu_scaling.distributed.task_queue",
        "agents are shared out by leases in the database; there is no task queue (Redis is "
        "the L2 cache only)",
    ),
    NotActedOn("$.cpu_scaling.distributed.auto_scaling", _NO_AUTO_SCALING),
    # -- caching -----------------------------------------------------------------------------
    ActedOn(
        "$.caching.*.type",
        ("tragen_runtime.settings:_redis", "tragen_runtime.cache:RedisCache"),
        "redis on any level turns the Redis L2 cache on (with runtime.redis, which tragen_app "
        "writes from the cache group)",
        "no Redis",
        IgnoredWhen(
            "type", ("memory", "database"),
            "memory and database change nothing: L1 is always in the worker's memory and the "
            "database always backs the cache",
        ),
    ),
    ActedOn(
        "$.caching.l1_cache.size",
        ("tragen_runtime.settings:_l1_entries", "tragen_runtime.cache:TTLCache"),
        "L1 holds at most size / 4 KB entries (1,000..1,000,000) per worker",
        "10,000 entries",
    ),
    ActedOn(
        "$.caching.l2_cache.size",
        ("roles/tragen_redis/defaults/main.yml:tragen_redis_size",
         "roles/tragen_redis/vars/main.yml:tragen_redis_maxmemory_mb"),
        "Redis's maxmemory (capped to half the cache host's memory, allkeys-lru)",
        "256MB",
    ),
    NotActedOn(
        "$.caching.*.size",
        "only the sizes of l1_cache (entries in each worker) and l2_cache (Redis's maxmemory) "
        "are read",
    ),
    NotActedOn(
        "$.caching.*.ttl",
        "every cache use sets its own lifetime: API answers stay 1 s in L1, what the engine "
        "shares through Redis 3 ticks (at least 5 s), and the database is read fresh",
    ),
    ActedOn(
        "$.caching.*.data",
        ("tragen_runtime.settings:_l2_data", "tragen_runtime.engine:Engine.run_tick",
         "tragen_runtime.api:get_agent"),
        "on the redis level: which of indicators, analysis_results and current_prices the "
        "engine writes to Redis each tick (other names are ignored; GET /api/v1/agents/ID reads "
        "analysis results back)",
        "all three",
        IgnoredWhen(
            "type", ("memory", "database"),
            "only the data list of the redis level is read",
        ),
    ),
    # -- api ---------------------------------------------------------------------------------
    ActedOn(
        "$.api.connection_pools.database.min_connections",
        ("tragen_runtime.settings:_database", "tragen_runtime.storage.db:pool_sizes"),
        "PostgreSQL connections an app server's workers keep open together at least",
        "1",
    ),
    ActedOn(
        "$.api.connection_pools.database.max_connections",
        ("tragen_runtime.settings:_database", "tragen_runtime.storage.db:pool_sizes"),
        "caps the PostgreSQL connections one app server opens (the lower of it and "
        "database.connection_pool)",
        "database.connection_pool (20)",
    ),
    ActedOn(
        "$.api.connection_pools.database.connection_lifetime",
        ("tragen_runtime.settings:_database", "tragen_runtime.storage.db:PostgresDatabase"),
        "seconds after which the pool replaces a PostgreSQL connection",
        "3600",
    ),
    NotActedOn(
        "$.api.connection_pools.database.retry_strategy",
        "no retry policy is applied: a failed database call is reported and tried again on the "
        "engine's next round",
    ),
    *_not_acted_on(
        "$.api.connection_pools.*",
        ("min_connections", "max_connections", "connection_lifetime", "retry_strategy"),
        _OTHER_API_POOL,
    ),
    *_not_acted_on(
        "$.api.request_batching", ("enabled", "batch_size", "batch_timeout"),
        "requests are answered one by one; nothing batches them",
    ),
    ActedOn(
        "$.api.compression.enabled",
        ("tragen_runtime.settings:_gzip_min_size", "tragen_runtime.wsgi:Application.__call__",
         f"{_NGINX}:tragen_nginx_gzip_enabled", "roles/tragen_nginx/templates/nginx.conf.j2"),
        "true: the runtime and nginx gzip answers of at least min_size bytes",
        "false",
    ),
    ActedOn(
        "$.api.compression.algorithm",
        ("tragen_runtime.settings:_gzip_min_size",),
        "gzip: the runtime compresses; deflate or br: the runtime does not, and nginx still "
        "gzips (it has no other)",
        "gzip",
        _COMPRESSION_OFF,
    ),
    ActedOn(
        "$.api.compression.min_size",
        ("tragen_runtime.settings:_gzip_min_size", f"{_NGINX}:tragen_nginx_gzip_min_length"),
        "smallest answer (bytes) the runtime and nginx compress",
        "1024",
        _COMPRESSION_OFF,
    ),
    # -- portfolio_risk ----------------------------------------------------------------------
    ActedOn(
        "$.portfolio_risk.diversification.max_agents_per_strategy",
        ("tragen_runtime.safety.diversification:diversification_problems",
         "tragen_runtime.config.rules:diversification_within_limits",
         "tragen_runtime.safety.activation:ActivationGuard.cap"),
        "the gate refuses pools that give one template (strategy) a larger share of the agents; "
        "the runtime keeps active auto-scaling agents within it",
        "no limit",
    ),
    ActedOn(
        "$.portfolio_risk.diversification.max_agents_per_timeframe",
        ("tragen_runtime.safety.diversification:diversification_problems",
         "tragen_runtime.config.rules:diversification_within_limits",
         "tragen_runtime.safety.activation:ActivationGuard.cap"),
        "the same for the timeframe of each agent's analysis style "
        "(safety.diversification.TIMEFRAMES)",
        "no limit",
    ),
    ActedOn(
        "$.portfolio_risk.diversification.correlation_limits",
        ("tragen_runtime.safety.diversification:correlated_with",
         "tragen_runtime.safety.activation:ActivationGuard.refusal"),
        "an agent opens no position while its symbol's returns (last 30 ticks) correlate above "
        "it with those of an agent of its pool that holds one, fleet-wide (the refusal is its "
        "last reason, an event and tragen_orders_refused_total{check=\"correlation_limits\"})",
        "no limit",
    ),
    ActedOn(
        "$.portfolio_risk.aggregate_limits.total_portfolio_risk",
        (_SAFETY_CONFIG, "tragen_runtime.safety.orders:portfolio_risk_refusal",
         "tragen_runtime.engine:Engine._portfolio_risk_guard"),
        "an opening order that would take the fleet's open risk (qty x price x stop distance) "
        "beyond this share of its equity is refused inside its own transaction",
        "no limit",
    ),
    ActedOn(
        "$.portfolio_risk.aggregate_limits.daily_loss_limit",
        (_SAFETY_CONFIG, _EVALUATE, _JUDGE),
        "the loss since the start-of-day snapshot (UTC, persisted) as a share of that day's "
        "starting equity; at the limit no new positions for the rest of the day",
        "no limit",
    ),
    ActedOn(
        "$.portfolio_risk.aggregate_limits.monthly_loss_limit",
        (_SAFETY_CONFIG, _EVALUATE, _JUDGE),
        "the same against the start-of-month snapshot, for the rest of the month",
        "no limit",
    ),
    ActedOn(
        "$.portfolio_risk.emergency_procedures.auto_halt_threshold",
        (_SAFETY_CONFIG, _EVALUATE, _VIEW, _REFUSAL, "tragen_runtime.safety.store:"
         "SafetyStore.resume_all"),
        "at this loss of capital every strategy order stops until an operator resumes "
        f"(POST /api/v1/admin/resume-all); {_FLEET}",
        "0.10",
    ),
    ActedOn(
        "$.portfolio_risk.emergency_procedures.position_reduction_threshold",
        (_SAFETY_CONFIG, _EVALUATE, _VIEW, _PROCEDURES),
        "at this loss of capital every position is reduced by correlation_spike's "
        "reduction_factor once per trip, and no new ones open",
        "0.05",
    ),
    ActedOn(
        "$.portfolio_risk.emergency_procedures.agent_shutdown_threshold",
        (_SAFETY_CONFIG, _PROCEDURES, "tragen_runtime.engine:Engine._shut_down", _REFUSAL),
        "an agent that lost this share of its starting cash is halted (persisted) and its "
        "position closed",
        "0.03",
    ),
    # -- circuit_breakers --------------------------------------------------------------------
    *_breaker_entries("portfolio_breakers", "total_loss"),
    *_breaker_entries("portfolio_breakers", "correlation_spike"),
    *_breaker_entries("system_breakers", "api_failure_rate"),
    *_breaker_entries("system_breakers", "memory_usage"),
    # -- auto_scaling ------------------------------------------------------------------------
    *_not_acted_on(
        "$.auto_scaling.cpu_scaling",
        ("scale_up_threshold", "scale_down_threshold", "min_instances", "max_instances",
         "cooldown_period"),
        _NO_AUTO_SCALING,
    ),
    *_not_acted_on(
        "$.auto_scaling.memory_scaling",
        ("scale_up_threshold", "scale_down_threshold", "scale_factor"),
        _NO_AUTO_SCALING,
    ),
    *_not_acted_on(
        "$.auto_scaling.agent_scaling",
        ("performance_based", "scale_up_profit_threshold", "scale_down_loss_threshold",
         "evaluation_period"),
        "agents are not scaled by profit or loss; auto-scaling pools follow their scale_metric "
        "(agent_pools.strategy_pools)",
    ),
    # -- cost_monitoring ---------------------------------------------------------------------
    *(
        ActedOn(
            f"$.cost_monitoring.resource_costs.{key}",
            ("tragen_runtime.config.planning:_cost",),
            f"`tragen-config plan` prices the guide's allocation per day at it{when}; nothing "
            "watches real spend",
            "0",
        )
        for key, when in (
            ("cpu_hour", ""), ("memory_gb_hour", ""), ("storage_gb_month", ""),
            ("api_call", " (with --api-calls-per-day)"),
        )
    ),
    *(
        ActedOn(
            f"$.cost_monitoring.cost_alerts.{key}",
            ("tragen_runtime.config.planning:_budgets",),
            f"`tragen-config plan` fails when the planned {what} exceeds it; nothing watches "
            "real spend",
            "not checked",
        )
        for key, what in (
            ("daily_budget", "daily cost"), ("monthly_budget", "30-day cost"),
            ("agent_cost_limit", "daily cost per agent"),
        )
    ),
    ActedOn(
        "$.cost_monitoring.cost_alerts.alert_thresholds",
        ("tragen_runtime.config.planning:_budgets",),
        "`tragen-config plan` lists which fractions of daily_budget the planned cost reaches; "
        "no alert is sent",
        "not listed",
    ),
    NotActedOn(
        "$.cost_monitoring.optimization_rules.shutdown_unprofitable_agents",
        "no agent is stopped for being unprofitable; only agent_shutdown_threshold stops an "
        "agent's new positions",
    ),
    NotActedOn(
        "$.cost_monitoring.optimization_rules.reduce_resources_low_volume",
        "the inventory fixes the resources; nothing shrinks them when volume is low",
    ),
    NotActedOn(
        "$.cost_monitoring.optimization_rules.scale_down_weekends",
        "nothing scales down by the day of the week",
    ),
    # -- system_kpis, business_kpis ----------------------------------------------------------
    *(
        ActedOn(
            f"$.{section}.*.*.{key}",
            ("tragen_runtime.monitoring.alerts:kpi_alerts",
             "tragen_runtime.monitoring.recording:kpi_page_records", "tragen_runtime.api:kpis"),
            f"{what} (over aggregation_window, in the KPI's direction); the fleet page shows it "
            "beside the figure, and GET /api/v1/kpis echoes it",
            "no alert",
            needs_group="monitoring",
        )
        for section in ("system_kpis", "business_kpis")
        for key, what in (("target", "a warning alert while the figure misses it"),
                          ("critical", "a critical alert once the figure reaches it"))
    ),
    *(
        NotActedOn(f"$.{section}.{group}.{name}.{key}", _KPI)
        for section, group, name in (
            ("system_kpis", "reliability", "data_accuracy_percentage"),
            ("business_kpis", "profitability", "portfolio_profit_factor"),
            ("business_kpis", "profitability", "win_rate_percentage"),
            ("business_kpis", "profitability", "sharpe_ratio"),
            ("business_kpis", "risk_management", "var_percentage"),
            ("business_kpis", "efficiency", "agent_productivity"),
        )
        for key in ("target", "critical")
    ),
    # -- runtime (Tragen deploy's own section; tragen_app writes most of it) -----------------
    ActedOn(
        "$.runtime.release_id",
        ("tragen_runtime.settings:settings_from_config", "tragen_runtime.api:version",
         "tragen_runtime.storage.leases:LeaseManager.heartbeat"),
        "the release GET /version answers and every worker's row records (TRAGEN_RELEASE_ID "
        "wins)",
        "dev",
    ),
    NotActedOn(
        "$.runtime.environment",
        "an informational label: the runtime keeps it and nothing reads it",
    ),
    ActedOn(
        "$.runtime.market.source",
        ("tragen_runtime.market:price_source",),
        "simulator: seeded random walks; csv: replays <csv_dir>/<SYMBOL>.csv in a loop",
        "simulator",
    ),
    ActedOn(
        "$.runtime.market.seed",
        ("tragen_runtime.market:Simulator",),
        "the simulator's random seed (the same seed gives the same prices everywhere)",
        "42",
        IgnoredWhen("source", ("csv",), "a csv market replays files and draws nothing"),
    ),
    ActedOn(
        "$.runtime.market.symbols",
        ("tragen_runtime.market:price_source", "tragen_runtime.agents:build_agents"),
        "the symbols traded; agents are spread over them round robin",
        "AAPL, MSFT, NVDA, BTC-USD, ETH-USD, EUR-USD (csv: every file in csv_dir)",
    ),
    ActedOn(
        "$.runtime.market.tick_interval",
        ("tragen_runtime.engine:Engine._run",),
        "seconds between market ticks (one analysis per agent each)",
        "1",
    ),
    ActedOn(
        "$.runtime.market.csv_dir",
        ("tragen_runtime.market:CsvReplay",),
        "the directory whose <SYMBOL>.csv files (a close column) are replayed",
        "required for csv",
        IgnoredWhen("source", ("simulator", ABSENT), "the simulator reads no files"),
    ),
    ActedOn(
        "$.runtime.market.scenario",
        ("tragen_runtime.market:price_source", "tragen_runtime.market:Simulator.price",
         "tragen_runtime.market:scenario_factor"),
        "shapes the simulator's prices from scenario_starts_at on: rise_crash_recovery (+5 % "
        "over 30 ticks, down to -30 % over 10, held 30, back to the start over 60), crash (-30 "
        "% over 10 ticks, for good) or correlated (one common walk for every symbol); none: "
        "the plain simulator",
        "none",
    ),
    ActedOn(
        "$.runtime.market.scenario_starts_at",
        ("tragen_runtime.market:scenario_start_tick", "tragen_runtime.market:Simulator.price"),
        "the UNIX time the scenario starts at (its first tick is this time // tick_interval); "
        "before it prices are the plain simulator's (scenario none: nothing to start)",
        "0 (the scenario has run since 1970)",
    ),
    ActedOn(
        "$.runtime.broker.fee_rate",
        ("tragen_runtime.broker:PaperBroker.fill", "tragen_runtime.risk:order_quantity"),
        "the paper broker's fee per fill, as a fraction of its value",
        "0.001",
    ),
    ActedOn(
        "$.runtime.broker.slippage_bps",
        ("tragen_runtime.broker:PaperBroker.fill",),
        "basis points every paper fill moves against the trader",
        "2",
    ),
    NotActedOn(
        "$.runtime.broker.live_adapter",
        "only the paper broker exists: no live adapter is ever loaded, and "
        "agents.paper_trading_only: false is refused at start-up whatever this names",
    ),
    ActedOn(
        "$.runtime.faults.market_data_failure_rate",
        ("tragen_runtime.faults:FaultPlan.from_config", "tragen_runtime.faults:FaultyFeed.advance"),
        "the share of market data calls (one symbol's price at a new tick) that fail on purpose, "
        "for tests and drills of the api_failure_rate breaker (an operator's POST "
        "/api/v1/admin/faults overrides it)",
        "0",
    ),
    ActedOn(
        "$.runtime.faults.broker_failure_rate",
        ("tragen_runtime.faults:FaultPlan.from_config", "tragen_runtime.faults:FaultyBroker.fill"),
        "the share of broker calls (fills) that fail on purpose, for tests and drills of the "
        "api_failure_rate breaker (an operator's POST /api/v1/admin/faults overrides it)",
        "0",
    ),
    ActedOn(
        "$.runtime.faults.api_error_rate",
        ("tragen_runtime.faults:FaultPlan.from_config", "tragen_runtime.faults:ApiFaults"),
        "the share of the API's answers (/api/...) that fail with 500 on purpose, so a release "
        "can be ready and still bad: what a rollout's metric gate must stop (the release's "
        "configuration only; no admin override)",
        "0",
    ),
    ActedOn(
        "$.runtime.faults.api_added_latency_ms",
        ("tragen_runtime.faults:FaultPlan.from_config", "tragen_runtime.faults:ApiFaults"),
        "milliseconds added to every API answer (/api/...) on purpose, for tests of a rollout's "
        "latency gate (the release's configuration only; no admin override)",
        "0",
    ),
    *(
        ActedOn(
            f"$.runtime.redis.{key}",
            ("tragen_runtime.settings:_redis", "tragen_runtime.cache:RedisCache"),
            f"the Redis {what} of the L2 cache (used only when a caching level is redis)",
            default,
        )
        for key, what, default in (
            ("host", "host", "localhost"), ("port", "port", "6379"),
            ("user", "ACL user", "none (the default user)"), ("db", "database number", "0"),
        )
    ),
    ActedOn(
        "$.runtime.redis.sentinel.master_name",
        ("tragen_runtime.settings:_redis", "tragen_runtime.cache:RedisCache"),
        "the Sentinel master whose current address the L2 cache asks for",
        "no Sentinel (runtime.redis.host)",
    ),
    ActedOn(
        "$.runtime.redis.sentinel.hosts",
        ("tragen_runtime.settings:_redis", "tragen_runtime.cache:RedisCache"),
        "the Sentinels (host:port) asked for the master",
        "no Sentinel (runtime.redis.host)",
    ),
    ActedOn(
        "$.runtime.database.port",
        ("tragen_runtime.storage.db:_conninfo",),
        "the PostgreSQL port of the primary and the replicas",
        "5432",
    ),
    ActedOn(
        "$.runtime.database.user",
        ("tragen_runtime.storage.db:_conninfo",),
        "the PostgreSQL role the runtime logs in as (password from TRAGEN_DATABASE_PASSWORD)",
        "tragen",
    ),
    ActedOn(
        "$.runtime.database.replica_max_lag_seconds",
        ("tragen_runtime.storage.db:PostgresDatabase.refresh_replicas",),
        "a replica whose replay lag exceeds it gets no reads until it catches up",
        "5",
    ),
    ActedOn(
        "$.runtime.leases.ttl_seconds",
        ("tragen_runtime.storage.leases:LeaseManager.run_round",),
        "an agent's lease expires this long after its worker last renewed it; another worker "
        "then takes the agent",
        "15",
    ),
    ActedOn(
        "$.runtime.leases.renew_interval_seconds",
        ("tragen_runtime.engine:Engine._run",),
        "seconds between a worker's lease rounds (heartbeat, renew, rebalance, breakers)",
        "ttl_seconds / 3",
    ),
    ActedOn(
        "$.runtime.http.bind",
        ("tragen_runtime/gunicorn_conf.py:bind", "tragen_runtime.runtime:server_prefix"),
        "gunicorn's listen address (TRAGEN_BIND wins, as tragen_app's service sets it)",
        "127.0.0.1:8000",
    ),
)

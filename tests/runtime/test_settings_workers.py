from typing import Any

import pytest

from tragen_runtime.configsource import ConfigError, config_digest
from tragen_runtime.settings import settings_from_config
from tragen_runtime.workers import choose_profile, worker_plan

CPU_SCALING = {
    "single_process": {"workers": 1, "threads_per_worker": 4, "async_tasks": True},
    "multi_process": {"workers": 4, "threads_per_worker": 8, "process_pools": True,
                      "load_balancing": "round_robin"},
    "distributed": {"servers": 8, "workers_per_server": 8, "task_queue": "redis",
                    "auto_scaling": True},
}


def test_profile_follows_stage_and_override() -> None:
    assert choose_profile({"cpu_scaling": CPU_SCALING, "production": {"max_agents": 5}},
                          {})["workers"] == 1
    assert choose_profile({"cpu_scaling": CPU_SCALING, "production": {"max_agents": 100}},
                          {})["workers"] == 4
    assert "workers_per_server" in choose_profile(
        {"cpu_scaling": CPU_SCALING, "production": {"max_agents": 1000, "distributed": True}}, {})
    assert choose_profile({"cpu_scaling": CPU_SCALING},
                          {"TRAGEN_CPU_PROFILE": "multi_process"})["threads_per_worker"] == 8
    with pytest.raises(ConfigError, match="no such cpu_scaling profile"):
        choose_profile({"cpu_scaling": CPU_SCALING}, {"TRAGEN_CPU_PROFILE": "nope"})


def test_workers_capped_by_cores_and_concurrent_analyses() -> None:
    config: dict[str, Any] = {"cpu_scaling": CPU_SCALING,
                              "production": {"max_agents": 100, "concurrent_analyses": 32}}
    settings = settings_from_config(config, env={})
    assert worker_plan(settings, host_cores=1, env={}) == {"workers": 3, "threads": 8}
    assert worker_plan(settings, host_cores=16, env={}) == {"workers": 4, "threads": 8}
    config["production"]["concurrent_analyses"] = 2
    assert worker_plan(settings_from_config(config, env={}), 16, env={})["workers"] == 2
    assert worker_plan(settings, 16, env={"TRAGEN_WORKERS": "2"})["workers"] == 2


def test_settings_secrets_from_env_only_and_hidden() -> None:
    settings = settings_from_config(
        {"database": {"type": "postgresql", "host": "db.internal", "database": "tragen_prod"},
         "runtime": {"database": {"port": 6432, "user": "app"}}},
        env={"TRAGEN_ADMIN_TOKEN": "tok", "TRAGEN_RELEASE_ID": "r42"})
    assert settings.release_id == "r42" and settings.admin_token == "tok"
    assert settings.database.port == 6432 and settings.database.user == "app"
    assert "tok" not in repr(settings)


def test_problems_are_listed_together() -> None:
    with pytest.raises(ConfigError) as info:
        settings_from_config({"agents": {"paper_trading_only": False},
                              "runtime": {"leases": {"ttl_seconds": 5,
                                                     "renew_interval_seconds": 6}}}, env={})
    text = str(info.value)
    assert "live_adapter" in text and "renew_interval_seconds" in text


def test_digest_is_canonical() -> None:
    assert config_digest({"a": 1, "b": [1, 2]}) == config_digest({"b": [1, 2], "a": 1})
    assert config_digest({"a": 1}) != config_digest({"a": 2})


def test_pool_sizes_share_the_server_budget_between_its_workers() -> None:
    from tragen_runtime.storage.db import pool_sizes

    medium = settings_from_config({
        "database": {"type": "postgresql", "host": "db", "connection_pool": 50},
        "api": {"connection_pools": {"database": {"min_connections": 10, "max_connections": 100,
                                                  "connection_lifetime": 3600}}}}, env={})
    assert pool_sizes(medium.database, workers=4) == (3, 12)
    enterprise = settings_from_config({
        "servers": {"app_servers": 8, "db_servers": 5, "cache_servers": 3},
        "database": {"type": "postgresql_cluster", "primary": "p", "replicas": ["r"],
                     "max_connections": 200, "connection_pool": True}}, env={})
    assert pool_sizes(enterprise.database, workers=8) == (1, 2)
    assert 8 * pool_sizes(enterprise.database, workers=8)[1] <= 20  # the role's per-server pool


def test_additional_safety_checks_need_an_admin_token_to_serve() -> None:
    from tragen_runtime.settings import serving_problems

    config: dict[str, Any] = {"agents": {"additional_safety_checks": True}}
    (problem,) = serving_problems(settings_from_config(config, env={}))
    assert "agents.additional_safety_checks is true but TRAGEN_ADMIN_TOKEN is not set" in problem
    assert serving_problems(settings_from_config(config, env={"TRAGEN_ADMIN_TOKEN": "t"})) == []
    assert serving_problems(settings_from_config({}, env={})) == []

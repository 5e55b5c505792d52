"""check_inventory: groups, addresses, secrets and quorum sizes of a stage's inventory."""

from __future__ import annotations

from typing import Any

from tragen_runtime.config import Problem, check_inventory

CLUSTER = {"database": {"type": "postgresql_cluster", "primary": "db1", "replicas": ["db2"]}}
SECRETS = {
    "tragen_db_password": "s3cret",
    "tragen_db_replication_password": "r3pl",
    "tragen_redis_password": "r3dis",
    "tragen_redis_sentinel_password": "s3ntinel",
    "tragen_admin_token": "t0ken",
}


def inventory(stage: str, groups: dict[str, list[str]], **extra: Any) -> dict[str, Any]:
    hosts = [host for members in groups.values() for host in members]
    hostvars = {
        host: {
            "tragen_stage": stage,
            "tragen_private_address": f"127.0.4.{index + 10}",
            **SECRETS,
            **extra.get(host, {}),
        }
        for index, host in enumerate(dict.fromkeys(hosts))
    }
    return {"groups": groups, "hostvars": hostvars}


ENTERPRISE = {
    "app_servers": ["app1", "app2"],
    "db_primary": ["db1"],
    "db_replicas": ["db2"],
    "cache": ["cache1"],
    "lb": ["lb1"],
    "monitoring": [],
}


def locations(problems: list[Problem]) -> list[str]:
    return [problem.location for problem in problems]


def test_a_complete_enterprise_inventory_passes() -> None:
    assert check_inventory(inventory("enterprise", ENTERPRISE), CLUSTER) == []


def test_required_groups_per_stage() -> None:
    groups = {"app_servers": ["app1"], "db_primary": [], "lb": []}
    assert check_inventory(inventory("single", groups), {}) == []
    assert check_inventory(inventory("small", groups), {}) == []
    assert locations(check_inventory(inventory("medium", groups), {})) == [
        "inventory.groups.db_primary",
        "inventory.groups.lb",
    ]
    assert locations(check_inventory(inventory("enterprise", groups), {}))[:4] == [
        "inventory.groups.db_primary",
        "inventory.groups.db_replicas",
        "inventory.groups.cache",
        "inventory.groups.lb",
    ]


def test_a_cluster_needs_a_replica_host() -> None:
    groups = {"app_servers": ["app1"], "db_primary": ["db1"], "lb": ["lb1"]}
    problems = check_inventory(inventory("medium", groups), CLUSTER)
    assert locations(problems) == ["inventory.groups.db_replicas"]


def test_db_primary_has_exactly_one_host() -> None:
    groups = {**ENTERPRISE, "db_primary": ["db1", "db9"]}
    problems = check_inventory(inventory("enterprise", groups), CLUSTER)
    assert problems == [
        Problem("inventory.groups.db_primary", "expected exactly one host, found 2: db1, db9")
    ]


def test_addresses_present_unique_and_own() -> None:
    data = inventory("enterprise", ENTERPRISE)
    data["hostvars"]["app2"]["tragen_private_address"] = "127.0.4.10"  # app1's
    del data["hostvars"]["cache1"]["tragen_private_address"]
    data["hostvars"]["lb1"]["tragen_private_address"] = "0.0.0.0"
    data["hostvars"]["db2"]["tragen_private_address"] = "db2.internal"
    assert check_inventory(data, CLUSTER) == [
        Problem(
            "inventory.hosts.app2.tragen_private_address",
            "expected an address of its own, found 127.0.4.10 of app1",
        ),
        Problem(
            "inventory.hosts.db2.tragen_private_address",
            "expected an IP address, found 'db2.internal'",
        ),
        Problem(
            "inventory.hosts.cache1.tragen_private_address",
            "expected the host's private address, found none",
        ),
        Problem(
            "inventory.hosts.lb1.tragen_private_address",
            "expected an address of this host alone (services bind to it), found 0.0.0.0",
        ),
    ]


def test_placeholder_secrets_are_refused_once_per_value() -> None:
    extra = {host: {"tragen_db_password": "CHANGE_ME"} for host in ("app1", "app2", "db1", "db2")}
    problems = check_inventory(inventory("enterprise", ENTERPRISE, **extra), CLUSTER)
    assert problems == [
        Problem(
            "inventory.hosts.app1.tragen_db_password",
            "expected a real secret, found the placeholder 'CHANGE_ME' (also on app2, db1, db2)",
        )
    ]


def test_secrets_of_unused_components_are_not_needed() -> None:
    groups = {"app_servers": ["app1"]}
    placeholders = {
        "app1": {name: "CHANGE_ME_LATER" for name in SECRETS if name != "tragen_admin_token"}
    }
    assert check_inventory(inventory("single", groups, **placeholders), {}) == []
    missing = inventory("single", groups)
    del missing["hostvars"]["app1"]["tragen_admin_token"]
    assert check_inventory(missing, {}) == [
        Problem("inventory.hosts.app1.tragen_admin_token", "expected a secret, found none")
    ]


def test_sentinel_count_is_odd() -> None:
    extra = {"cache1": {"tragen_redis_sentinel_count": 2}}
    problems = check_inventory(inventory("enterprise", ENTERPRISE, **extra), CLUSTER)
    assert locations(problems) == ["inventory.hosts.cache1.tragen_redis_sentinel_count"]
    assert "odd" in problems[0].message


def test_stage_must_be_known_and_agreed() -> None:
    data = inventory("huge", {"app_servers": ["app1"]})
    assert locations(check_inventory(data, {})) == ["inventory.vars.tragen_stage"]
    data = inventory("single", {"app_servers": ["app1", "app2"]})
    data["hostvars"]["app2"]["tragen_stage"] = "small"
    assert check_inventory(data, {})[0].message == (
        "expected one stage for all hosts, found ['single', 'small']"
    )


def test_sqlite_serves_one_app_server() -> None:
    two = {"app_servers": ["app1", "app2"], "lb": ["lb1"]}
    sqlite = {"database": {"type": "sqlite", "path": "/var/lib/tragen/tragen.db"}}
    for doc in (sqlite, {}):
        problems = check_inventory(inventory("small", two), doc)
        assert locations(problems) == ["inventory.groups.app_servers"]
        assert "app1, app2" in problems[0].message
    assert check_inventory(inventory("small", {"app_servers": ["app1"]}), sqlite) == []

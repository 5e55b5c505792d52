"""The medium stage end to end: nginx spreads requests over every app server, trades land in
PostgreSQL and reach the replica, the app rides out a Redis restart, and rerunning site.yml
changes nothing (molecule/medium's idempotence step checks that), and no service
listens beyond its own host address."""

from __future__ import annotations

import subprocess
import time

import pytest

from tests.sandbox.sandbox import Sandbox, run
from tests.stage.stage import addresses, container, groups, http_get, psql, request_count, wait_for
from tools.loadgen import LoadGenerator

pytestmark = pytest.mark.sandbox

DATABASE = "tragen_prod"
# Ports of the stage's services (monitoring and exporters included); none may listen on a
# wildcard or on 127.0.0.1.
SERVICE_PORTS = {80, 443, 5432, 6379, 8000, 8081, 26379,
                 9090, 9093, 9094, 9095, 9096, 9100, 9113, 9121, 9187}


def listeners() -> list[tuple[str, int]]:
    result = subprocess.run(["ss", "-ltnH"], capture_output=True, text=True, check=True)
    found = []
    for line in result.stdout.splitlines():
        address, _, port = line.split()[3].rpartition(":")
        found.append((address.strip("[]"), int(port)))
    return found


def test_services_listen_only_on_their_host_address(medium: Sandbox) -> None:
    own = set(addresses(medium).values())
    ours = [(address, port) for address, port in listeners() if port in SERVICE_PORTS]
    exposed = [(a, p) for a, p in ours if a in {"0.0.0.0", "*", "::", "127.0.0.1", "::1"}]
    assert exposed == []
    assert {a for a, _ in ours} & own, "the stage's services are not listening at all"


def test_every_app_server_is_ready_on_its_own_address(medium: Sandbox) -> None:
    address = addresses(medium)
    for host in groups(medium)["app_servers"]:
        status, body = http_get(address[host], "/readyz")
        assert status == 200, f"{host}: {body}"


def test_requests_through_nginx_reach_every_app_server(medium: Sandbox) -> None:
    address = addresses(medium)
    apps = groups(medium)["app_servers"]
    lb = address[groups(medium)["lb"][0]]
    before = {host: request_count(address[host], "/api/v1/portfolio") for host in apps}
    for index in range(48):
        status, body = http_get(
            lb, "/api/v1/portfolio", port=443 if index % 2 else 80, tls=bool(index % 2)
        )
        assert status == 200, body
    after = {host: request_count(address[host], "/api/v1/portfolio") for host in apps}
    assert all(after[host] > before[host] for host in apps), (before, after)


def test_trades_land_in_postgresql_and_show_on_the_replica(medium: Sandbox) -> None:
    primary = groups(medium)["db_primary"][0]
    replica = groups(medium)["db_replicas"][0]

    def trades_on(host: str) -> int:
        return int(psql(medium, host, DATABASE, "SELECT count(*) FROM trades") or 0)

    committed = wait_for(lambda: trades_on(primary), timeout=120, interval=3)
    assert committed > 0, "no trade was committed on the primary within two minutes"
    assert wait_for(lambda: trades_on(replica) >= committed, timeout=30)
    recovery = psql(medium, replica, DATABASE, "SELECT pg_is_in_recovery()")
    assert recovery == "t"


def test_the_app_rides_out_a_redis_restart(medium: Sandbox) -> None:
    address = addresses(medium)
    lb = address[groups(medium)["lb"][0]]
    cache = groups(medium)["cache"][0]
    with LoadGenerator(f"http://{lb}", rate=20, workers=4) as load:
        time.sleep(2)
        restarted = run(
            ["podman", "exec", container(medium, cache), "systemctl", "restart", "redis-server"]
        )
        assert restarted.returncode == 0, restarted.stderr
        time.sleep(5)
    print(f"\nredis restart under load: {load.tally.summary()}")
    assert load.tally.total > 0
    assert load.tally.failed == 0, load.tally.summary()
    for host in groups(medium)["app_servers"]:
        status, body = http_get(address[host], "/readyz")
        assert status == 200, f"{host}: {body}"

"""Facts about a deployed stage sandbox that the stage tests need: host addresses, HTTP and
SQL probes, run through the same podman connection Ansible uses."""

from __future__ import annotations

import http.client
import json
import re
import ssl
import time
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from tests.sandbox.sandbox import REPO, Sandbox, run

APP_PORT = 8000


def addresses(sandbox: Sandbox) -> dict[str, str]:
    overlay = yaml.safe_load((REPO / ".sandbox" / sandbox.name / "hosts.yml").read_text())
    return {
        host: vars_["tragen_private_address"] for host, vars_ in overlay["all"]["hosts"].items()
    }


def groups(sandbox: Sandbox) -> dict[str, list[str]]:
    inventory = yaml.safe_load(Path(REPO / "inventories" / sandbox.stage / "hosts.yml").read_text())
    children = inventory["all"]["children"]
    return {name: list((group.get("hosts") or {}).keys()) for name, group in children.items()}


def app_servers(sandbox: Sandbox) -> list[str]:
    return groups(sandbox)["app_servers"]


def address(sandbox: Sandbox, host: str) -> str:
    return addresses(sandbox)[host]


def lb_url(sandbox: Sandbox) -> str:
    """The first load balancer, as clients reach the stage."""
    return f"http://{address(sandbox, groups(sandbox)['lb'][0])}"


def get_json(url: str, timeout: float = 3.0) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (loopback only)
        data: dict[str, Any] = json.loads(response.read())
        return data


def output(result: Any) -> str:
    """What a playbook run printed, stdout then stderr."""
    return str(result.stdout) + str(result.stderr)


def http_get(address: str, path: str, port: int = APP_PORT, tls: bool = False) -> tuple[int, str]:
    if tls:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        connection: http.client.HTTPConnection = http.client.HTTPSConnection(
            address, port, timeout=10, context=context
        )
    else:
        connection = http.client.HTTPConnection(address, port, timeout=10)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


def version(address: str) -> dict[str, Any]:
    status, body = http_get(address, "/version")
    assert status == 200, body
    return dict(json.loads(body))


def request_count(address: str, route: str) -> float:
    """Requests the app server at ``address`` answered on ``route``, over all its workers."""
    _, body = http_get(address, "/metrics")
    pattern = re.compile(
        r'^tragen_http_requests_total\{[^}]*route="' + re.escape(route) + r'"[^}]*\} ([0-9.e+]+)$',
        re.M,
    )
    return sum(float(value) for value in pattern.findall(body))


def container(sandbox: Sandbox, host: str) -> str:
    return f"tragen-{sandbox.name}-{host}"


def psql(sandbox: Sandbox, host: str, database: str, sql: str) -> str:
    result = run(
        [
            "podman",
            "exec",
            container(sandbox, host),
            "runuser",
            "-u",
            "postgres",
            "--",
            "psql",
            "-d",
            database,
            "-tAc",
            sql,
        ]
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def wait_for(predicate: Any, timeout: float, interval: float = 1.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)

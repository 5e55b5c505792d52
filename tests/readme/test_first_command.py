"""The README's first command, run as a newcomer runs it, for the default stage and for small.

`./scripts/sandbox.sh up [STAGE]` exactly as the README writes it; then what a user does with
what it printed: /readyz at the URL it names, an analysis POSTed, trades listed, the admin
token read from where it says and used; `up` again reports no change; `down --yes` leaves no
container, network, volume or listener of the stage. These tests own the stage's sandbox name
(`single`, `small`), so they refuse to run while an operator's sandbox of that name is up.

    ./scripts/test.sh readme        (CI runs it as part of ./scripts/test.sh)
"""

from __future__ import annotations

import json
import re
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.sandbox.sandbox import REPO, run

pytestmark = pytest.mark.sandbox

SANDBOX = ["./scripts/sandbox.sh"]
UP_TIMEOUT = 1500
TRADES_WITHIN = 180.0
# The stage's own loopback range (playbooks/sandbox/vars/sandbox.yml).
OCTETS = {"single": 1, "small": 2}


@dataclass(frozen=True)
class Welcome:
    """What `up` told the newcomer."""

    url: str
    token_file: Path
    output: str


def read_welcome(output: str) -> Welcome:
    url = re.search(r"^\s+URL\s+(\S+)", output, re.M)
    token = re.search(r"^\s+admin token\s+(\S+)", output, re.M)
    assert url and token, f"up printed no URL or admin token:\n{output[-3000:]}"
    return Welcome(url=url.group(1), token_file=REPO / token.group(1), output=output)


def request(
    url: str, method: str = "GET", body: Any = None, token: str = ""
) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    # The balancer of larger stages serves a self-signed certificate, as the welcome says.
    context = ssl._create_unverified_context() if url.startswith("https") else None
    try:
        with urllib.request.urlopen(req, timeout=10, context=context) as response:  # noqa: S310
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def journal(stage: str) -> str:
    logs = run([*SANDBOX, "logs", stage], timeout=60)
    return f"\n--- ./scripts/sandbox.sh logs {stage} ---\n{logs.stdout}{logs.stderr}"


def containers(stage: str) -> list[str]:
    listed = run(["podman", "ps", "--all", "--format", "{{.Names}}",
                  "--filter", f"label=tragen.sandbox={stage}"])
    return listed.stdout.split()


def listeners(stage: str) -> list[str]:
    prefix = f"127.0.{OCTETS[stage]}."
    sockets = run(["ss", "-Htln"]).stdout.splitlines()
    return [line for line in sockets if f" {prefix}" in f" {line.split()[3]}"]


def podman_names(kind: str) -> set[str]:
    return set(run(["podman", kind, "ls", "--format", "{{.Name}}"]).stdout.split())


@pytest.fixture(scope="module", params=["single", "small"])
def stage(request: pytest.FixtureRequest) -> Iterator[tuple[str, Welcome]]:
    name: str = request.param
    if containers(name):
        pytest.skip(f"a {name} sandbox is up; this test would replace it "
                    f"(./scripts/sandbox.sh down {name} first)")
    networks, volumes = podman_names("network"), podman_names("volume")
    # The README writes the default stage without a name.
    command = [*SANDBOX, "up"] + ([] if name == "single" else [name])
    try:
        up = run(command, timeout=UP_TIMEOUT)
        output = up.stdout + up.stderr
        assert up.returncode == 0, f"{' '.join(command)} failed:\n{output[-8000:]}"
        yield name, read_welcome(output)
    finally:
        down = run([*SANDBOX, "down", "--yes", name] if name != "single"
                   else [*SANDBOX, "down", "--yes"], timeout=300)
        assert down.returncode == 0, down.stdout[-3000:] + down.stderr[-2000:]
    assert containers(name) == []
    assert not (REPO / ".sandbox" / name).exists()
    assert podman_names("network") <= networks
    assert podman_names("volume") <= volumes
    assert listeners(name) == []


def test_the_stage_answers_and_trades_at_the_printed_url(stage: tuple[str, Welcome]) -> None:
    name, welcome = stage
    status, ready = request(f"{welcome.url}readyz")
    assert status == 200, f"/readyz: {status} {ready}{journal(name)}"

    status, analysis = request(f"{welcome.url}api/v1/analyses", "POST", {"symbol": "AAPL"})
    assert status == 202 and analysis["created"] is True, f"{status} {analysis}{journal(name)}"

    deadline = time.monotonic() + TRADES_WITHIN
    trades: list[dict[str, Any]] = []
    while not trades:
        status, listed = request(f"{welcome.url}api/v1/trades?limit=5")
        assert status == 200, f"{status} {listed}{journal(name)}"
        trades = listed["trades"]
        assert trades or time.monotonic() < deadline, (
            f"no trade listed within {TRADES_WITHIN} s{journal(name)}")
        time.sleep(2)
    assert {"trade_id", "agent_id", "symbol", "side", "qty", "price"} <= set(trades[0])

    status, refused = request(f"{welcome.url}api/v1/trades?limit=-1")
    assert status == 400 and "1 to 1000" in refused["error"], refused


def test_the_admin_token_is_where_the_output_says(stage: tuple[str, Welcome]) -> None:
    name, welcome = stage
    token = welcome.token_file.read_text().strip()
    assert len(token) >= 32
    status, agents = request(f"{welcome.url}api/v1/agents")
    assert status == 200, agents
    agent = agents["agents"][0]["agent_id"]
    halt = f"{welcome.url}api/v1/agents/{agent}/halt"
    assert request(halt, "POST", {})[0] == 401
    status, halted = request(halt, "POST", {}, token=token)
    assert status == 200, f"{status} {halted}{journal(name)}"
    status, resumed = request(f"{welcome.url}api/v1/agents/{agent}/resume", "POST", {}, token)
    assert status == 200, resumed


def test_the_welcome_says_what_to_try_and_how_to_go_on(stage: tuple[str, Welcome]) -> None:
    name, welcome = stage
    for said in ("readyz", "api/v1/analyses", "api/v1/trades",
                 "./scripts/sandbox.sh logs", "./scripts/sandbox.sh down"):
        assert said in welcome.output, said


def test_up_again_reports_no_change(stage: tuple[str, Welcome]) -> None:
    name, _ = stage
    again = run([*SANDBOX, "up"] + ([] if name == "single" else [name]), timeout=UP_TIMEOUT)
    output = again.stdout + again.stderr
    assert again.returncode == 0, output[-6000:]
    assert f"no change: the {name} stage was already up to date" in output, output[-6000:]


def test_a_stage_name_is_checked_before_anything_runs() -> None:
    wrong = subprocess.run([*SANDBOX, "down", "--yes", "mediun"], cwd=REPO,
                           capture_output=True, text=True, timeout=60)
    assert wrong.returncode != 0
    assert "unknown stage 'mediun'" in wrong.stderr

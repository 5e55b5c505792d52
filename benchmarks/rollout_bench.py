"""How long a rolling update takes, against its floor, for 2 and 8 app servers (and medium).

    .venv/bin/python benchmarks/rollout_bench.py [--sizes 2,8] [--medium pytest-medium] [--keep]

The floor of a rolling update is the sum over its batches of one app server's restart-to-ready
time (stop, start, until /readyz answers 200), which the rollout's summary records per batch;
everything above it is the rollout's own work (drain, reload nginx, wait for in-flight
requests, check, restore, check through the balancer). Goal (issue 14): the roll within 2.5x of
`service`, the same restarts by systemd's own clock.
The stage phase (wheels installed into a new virtual environment on every host, in parallel)
comes before the first batch and is reported apart.

For 2 and 8 app servers it brings up a sandbox of its own, `bench-rollout` at 127.0.47.x:
eight app servers, a PostgreSQL primary, a Redis host and one nginx load balancer with the
`medium` stage's configuration (each app server's connection pool cut to 20 so that eight fit
PostgreSQL's max_connections). It deploys release b1 with site.yml, then rolls a new release to
app1-2 (an inventory of two app servers and the other tiers) and to app1-8, in batches of 25 %
(1 and 2 servers). With --medium NAME it also rolls the medium sandbox NAME (4 app servers; it
must be up and deployed). It prints a table and asserts nothing about time. The sandbox is
removed at the end unless --keep.
A full run takes about 8-9 minutes on a 2-core machine, most of it installing packages and
virtual environments.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
NAME = "bench-rollout"
OCTET = 47
# Eight app servers x 20 connections stay within medium's max_connections (250).
POOL_PER_SERVER = 20
BATCH = re.compile(
    r"^\s*batch (\d+)(?: \([^)]*\))?: (.+?) - ([\d.]+) s "
    r"\(restart to ready ([\d.]+) s\) - (.+)$",
    re.M,
)


def environment() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{REPO / '.venv' / 'bin'}:{env.get('PATH', '')}"
    env["CONTAINERS_CONF"] = str(REPO / "sandbox" / "containers.conf")
    env["ANSIBLE_NOCOLOR"] = "1"
    return env


def run(args: list[str], log: Path | None = None) -> tuple[int, str, float]:
    started = time.monotonic()
    result = subprocess.run(args, cwd=REPO, env=environment(), capture_output=True, text=True,
                            timeout=3600, check=False)
    text = result.stdout + result.stderr
    if log is not None:
        # down.yml removes the sandbox's directory, logs included.
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(text)
    return result.returncode, text, time.monotonic() - started


def must(args: list[str], what: str, log: Path) -> float:
    code, text, seconds = run(args, log)
    if code != 0:
        sys.exit(f"{what} failed (exit {code}); see {log}\n{text[-3000:]}")
    print(f"  {what}: {seconds:.0f} s", flush=True)
    return seconds


@dataclass
class Rollout:
    label: str
    servers: int
    total: float
    # (number, hosts, seconds, restart to ready, service restart, result) per batch
    batches: list[tuple[int, str, float, float, float, str]] = field(default_factory=list)

    @property
    def roll(self) -> float:
        return sum(b[2] for b in self.batches)

    @property
    def floor(self) -> float:
        return sum(b[3] for b in self.batches)

    @property
    def service(self) -> float:
        return sum(b[4] for b in self.batches)


def rolling_update(label: str, servers: int, inventory: list[str], release: str, batch: str,
                   logs: Path) -> Rollout:
    log = logs / f"rolling_update-{label}.log"
    code, text, seconds = run(
        ["ansible-playbook", *inventory, "playbooks/rolling_update.yml",
         "-e", f"tragen_app_release_id={release}", "-e", f"tragen_deploy_batch_size={batch}"], log)
    if code != 0:
        sys.exit(f"the rolling update of {label} failed (exit {code}); see {log}\n{text[-3000:]}")
    rollout = Rollout(label, servers, seconds)
    restarts = service_restarts(inventory)
    rollout.batches = [
        (int(n), hosts, float(s), float(r),
         max((restarts.get(host, 0.0) for host in hosts.split(", ")), default=0.0), result)
        for n, hosts, s, r, result in BATCH.findall(text)
    ]
    print(f"  rolling update {label}: {seconds:.0f} s", flush=True)
    return rollout


def service_restarts(inventory: list[str]) -> dict[str, float]:
    """Each app server's last restart by systemd's clock: from the old gunicorn leaving `active`
    (its stop begins) to the new one entering it (READY=1, sent once it serves)."""
    code, text, _ = run(["ansible", *inventory, "app_servers", "-m", "ansible.builtin.command",
                         "-a", "systemctl show tragen -p ActiveExitTimestampMonotonic "
                         "-p ActiveEnterTimestampMonotonic"])
    if code != 0:
        print(f"  (could not read the service restart times: exit {code})", flush=True)
        return {}
    restarts: dict[str, float] = {}
    for host, body in re.findall(r"^(\S+) \| \w+ \| rc=0 >>\n((?:\w+=\d+\n?)+)", text, re.M):
        stamps = dict(line.split("=", 1) for line in body.split())
        entered, left = int(stamps["ActiveEnterTimestampMonotonic"]), int(
            stamps["ActiveExitTimestampMonotonic"])
        if entered > left > 0:
            restarts[host] = (entered - left) / 1e6
    return restarts


def write_inventory(directory: Path, apps: int) -> None:
    """A `medium` stage of `apps` app servers, one PostgreSQL primary, one Redis, one balancer."""
    group_vars = directory / "group_vars" / "all"
    group_vars.mkdir(parents=True, exist_ok=True)
    medium = REPO / "inventories" / "medium" / "group_vars" / "all"
    shutil.copy(medium / "secrets.yml", group_vars / "secrets.yml")
    stage = yaml.safe_load((medium / "tragen.yml").read_text())
    stage["tragen_config"]["database"]["connection_pool"] = POOL_PER_SERVER
    (group_vars / "tragen.yml").write_text(
        "# Generated by benchmarks/rollout_bench.py: medium's configuration, smaller pools.\n"
        + yaml.safe_dump(stage, sort_keys=False))

    def hosts(names: list[str], first: int) -> dict[str, dict[str, object]]:
        return {name: {"tragen_private_address": f"10.20.3.{first + i}"}
                for i, name in enumerate(names)}

    inventory = {
        "all": {
            "vars": {"ansible_user": "deploy", "ansible_become": True},
            "children": {
                "app_servers": {"hosts": hosts([f"app{i}" for i in range(1, apps + 1)], 11)},
                "db_primary": {"hosts": hosts(["db1"], 31)},
                "db_replicas": {"hosts": {}},
                "cache": {"hosts": hosts(["cache1"], 32)},
                "lb": {"hosts": hosts(["lb1"], 33)},
                "monitoring": {"hosts": {}},
            },
        }
    }
    (directory / "hosts.yml").write_text(
        "# Generated by benchmarks/rollout_bench.py.\n"
        + yaml.safe_dump(inventory, sort_keys=False))


def base_packages() -> list[str]:
    path = REPO / "roles" / "tragen_base" / "defaults" / "main.yml"
    defaults = yaml.safe_load(path.read_text())
    return list(defaults["tragen_base_packages"])


def bench_sandbox(sizes: list[int], keep: bool, logs: Path) -> list[Rollout]:
    root = REPO / ".sandbox" / NAME
    most = max(sizes)
    for size in sizes:
        write_inventory(root / f"stage-{size}", size)
    overlay = ["-i", str(root / "hosts.yml")]
    sandbox_vars = ["-e", f"tragen_sandbox_name={NAME}", "-e", f"tragen_sandbox_octet={OCTET}"]
    widest = ["-i", str(root / f"stage-{most}")]
    print(f"sandbox {NAME}: {most} app servers + lb1 at 127.0.{OCTET}.x", flush=True)
    rollouts: list[Rollout] = []
    try:
        must(["ansible-playbook", *widest, "playbooks/sandbox/up.yml", *sandbox_vars], "up",
             logs / "up.log")
        # The sandbox hosts share one apt archive directory; apt-get runs on several hosts at
        # once fail on its lock, so the base packages go in one host at a time first.
        must(["ansible", *widest, *overlay, "all", "-f", "1", "-m", "ansible.builtin.apt", "-a",
              f"name={','.join(base_packages())} update_cache=true cache_valid_time=86400"],
             "base packages, one host at a time", logs / "packages.log")
        must(["ansible", *widest, *overlay, "lb", "-m", "ansible.builtin.apt", "-a", "name=nginx"],
             "nginx package", logs / "nginx.log")
        must(["ansible-playbook", *widest, *overlay, "playbooks/site.yml",
              "-e", "tragen_app_release_id=b1"], "site.yml (release b1)", logs / "site.log")
        stamp = time.strftime("%H%M%S", time.gmtime())
        for size in sizes:
            inventory = ["-i", str(root / f"stage-{size}"), *overlay]
            rollouts.append(rolling_update(f"{size} app servers", size, inventory,
                                           f"b{size}-{stamp}", "25%", logs))
    finally:
        if not keep:
            run(["ansible-playbook", *widest, "playbooks/sandbox/down.yml",
                 "-e", "tragen_sandbox_confirm=yes", *sandbox_vars], logs / "down.log")
    return rollouts


def table(rollouts: list[Rollout]) -> str:
    lines = [
        f"{'stage':<22} {'servers':>7} {'batches':>7} {'playbook s':>10} {'roll s':>7} "
        f"{'floor s':>7} {'roll/floor':>10} {'service s':>9} {'roll/service':>12}"
        "  per batch: seconds (restart to ready)",
    ]
    for r in rollouts:
        ratio = f"{r.roll / r.floor:.2f}x" if r.floor else "-"
        service = f"{r.roll / r.service:.2f}x" if r.service else "-"
        detail = ", ".join(f"{b[2]:.1f} ({b[3]:.1f})" for b in r.batches)
        lines.append(f"{r.label:<22} {r.servers:>7} {len(r.batches):>7} {r.total:>10.0f} "
                     f"{r.roll:>7.1f} {r.floor:>7.1f} {ratio:>10} {r.service:>9.1f} {service:>12}"
                     f"  {detail}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="2,8", help="app server counts of the light sandbox")
    parser.add_argument("--medium", default="",
                        help="also roll this medium sandbox (up and deployed)")
    parser.add_argument("--keep", action="store_true", help="leave the light sandbox up")
    args = parser.parse_args(argv)
    sizes = sorted({int(s) for s in args.sizes.split(",") if s.strip()})
    logs = REPO / ".sandbox" / NAME / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    rollouts: list[Rollout] = []
    if args.medium:
        inventory = ["-i", "inventories/medium", "-i", f".sandbox/{args.medium}/hosts.yml"]
        rollouts.append(rolling_update("medium (PostgreSQL)", 4, inventory,
                                       f"bm-{time.strftime('%H%M%S', time.gmtime())}", "2", logs))
    if sizes:
        rollouts.extend(bench_sandbox(sizes, args.keep, logs))
    print()
    print(table(rollouts))
    print("roll: the batches' wall time (drain, in-flight, switch, restart, check, restore, check "
          "through nginx); playbook: the whole run with the gate, lock, staging and summary;\n"
          "floor: the sum over batches of one app server's restart-to-ready time as the rollout "
          "measures it (tragen_app_switch: restart, /readyz polled every 0.2 s);\n"
          "service: the same sum by systemd's clock (stop of the old release to the new one "
          "reporting ready). "
          "Goal: roll/service <= 2.5.")
    print(f"logs: {logs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

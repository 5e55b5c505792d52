"""Drive the local sandbox from tests: bring a stage's hosts up under a test-only name and
address range, run playbooks against them, and tear them down again."""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
RECAP = re.compile(
    r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M
)


def environment() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{REPO / '.venv' / 'bin'}:{env.get('PATH', '')}"
    env["CONTAINERS_CONF"] = str(REPO / "sandbox" / "containers.conf")
    env["ANSIBLE_FORCE_COLOR"] = "0"
    env["ANSIBLE_NOCOLOR"] = "1"
    return env


def run(args: list[str], timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, cwd=REPO, env=environment(), capture_output=True, text=True, timeout=timeout
    )


def recap(output: str) -> dict[str, dict[str, int]]:
    """PLAY RECAP counters per host: {'app1': {'changed': 0, 'failed': 0, ...}}."""
    return {
        host: {"ok": int(ok), "changed": int(changed), "unreachable": int(unr), "failed": int(f)}
        for host, ok, changed, unr, f in RECAP.findall(output)
    }


@dataclass(frozen=True)
class Sandbox:
    """A copy of a stage's hosts as containers, named ``tragen-<name>-<host>``."""

    stage: str
    name: str
    octet: int

    @property
    def extra_vars(self) -> list[str]:
        return [
            "-e",
            f"tragen_sandbox_name={self.name}",
            "-e",
            f"tragen_sandbox_octet={self.octet}",
        ]

    @property
    def inventory(self) -> list[str]:
        return ["-i", f"inventories/{self.stage}", "-i", f".sandbox/{self.name}/hosts.yml"]

    def up(self) -> subprocess.CompletedProcess[str]:
        return run(
            ["ansible-playbook", "-i", f"inventories/{self.stage}", "playbooks/sandbox/up.yml"]
            + self.extra_vars
        )

    def down(self) -> subprocess.CompletedProcess[str]:
        return run(
            [
                "ansible-playbook",
                "-i",
                f"inventories/{self.stage}",
                "playbooks/sandbox/down.yml",
                "-e",
                "tragen_sandbox_confirm=yes",
            ]
            + self.extra_vars
        )

    def playbook(
        self, playbook: str, *args: str, timeout: float = 1800
    ) -> subprocess.CompletedProcess[str]:
        return run(["ansible-playbook", *self.inventory, playbook, *args], timeout=timeout)

    def ansible(self, pattern: str, *args: str) -> subprocess.CompletedProcess[str]:
        return run(["ansible", *self.inventory, pattern, *args])

    def containers(self) -> list[str]:
        result = run(
            [
                "podman",
                "ps",
                "--all",
                "--format",
                "{{.Names}}",
                "--filter",
                f"label=tragen.sandbox={self.name}",
            ]
        )
        return result.stdout.split()

    def address_prefix(self) -> str:
        return f"127.0.{self.octet}."

"""Run Prometheus' and Alertmanager's own checkers (Debian's prometheus and
prometheus-alertmanager, installed by the README's commands) on generated files."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml


def tool(name: str) -> str:
    path = shutil.which(name)
    assert path, f"{name} is missing: ./scripts/test.sh installs it (Debian's prometheus packages)"
    return path


def run(*argv: str) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, f"{' '.join(argv)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_rules(tmp_path: Path, groups: list[dict[str, Any]], tests: list[dict[str, Any]],
               interval: str = "5s") -> None:
    """`promtool test rules` of `tests` against a rule file holding `groups`."""
    rules = tmp_path / "rules.yml"
    rules.write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
    spec = tmp_path / "tests.yml"
    spec.write_text(yaml.safe_dump({"rule_files": [str(rules)], "evaluation_interval": interval,
                                    "tests": tests}, sort_keys=False))
    run(tool("promtool"), "test", "rules", str(spec))


test_rules.__test__ = False  # type: ignore[attr-defined]  # a helper, not a pytest test

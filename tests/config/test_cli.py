"""tragen-config: exit codes 0/1/2, one problem per line on stderr, every problem reported."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tragen_runtime.config.cli import main

REPO = Path(__file__).resolve().parents[2]
GUIDE = REPO / "tests" / "fixtures" / "guide"

BAD = """\
production:
  max_agent: 5
  memory_limit: 4 GB
portfolio_risk:
  emergency_procedures:
    auto_halt_threshold: 0.01
    position_reduction_threshold: 0.05
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_valid_files_exit_0_with_a_line_each(capsys: pytest.CaptureFixture[str]) -> None:
    paths = [str(GUIDE / "single_agent.yaml"), str(GUIDE / "enterprise.yaml")]
    assert main(["validate", *paths]) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert [line for line in lines if "not acted on" not in line] == [
        f"{paths[0]}: valid (2 sections)",
        f"{paths[1]}: valid (3 sections)",
        f"{paths[1]}: $.load_balancing.type: note: nginx_plus is deployed as open-source nginx: "
        "health checks are passive (an app server is taken out after failed requests, "
        "max_fails/fail_timeout) plus the deploy's own /readyz checks, not NGINX Plus active "
        "probes",
    ]
    assert [line.split(": note: ")[0] for line in lines if "not acted on" in line] == [
        f"{paths[0]}: $.monitoring.check_interval",
        f"{paths[0]}: $.monitoring.detailed_logging",
        f"{paths[1]}: $.servers.db_servers",
        f"{paths[1]}: $.servers.cache_servers",
        f"{paths[1]}: $.load_balancing.failover",
    ]
    assert err == ""


def test_invalid_file_exits_1_with_every_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = write(tmp_path, "bad.yaml", BAD)
    assert main(["validate", str(bad)]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert sorted(err.splitlines()) == sorted(
        [
            f"{bad}: $.production.max_agent: unknown key 'max_agent'; did you mean 'max_agents'?",
            f'{bad}: $.production.memory_limit: expected a positive size such as "4GB", "500MB" '
            "or \"25MB\" (units B, KB, MB, GB, TB), found string '4 GB'",
            f"{bad}: $.portfolio_risk.emergency_procedures.auto_halt_threshold: expected a value "
            "greater than position_reduction_threshold (0.05), found 0.01",
        ]
    )


def test_syntax_error_exits_1_with_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = write(tmp_path, "bad.yaml", "production:\n  max_agents: [5\n")
    assert main(["validate", str(bad)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"{bad}: line 3, column 1: invalid YAML:")
    assert len(err.splitlines()) == 1


def test_unreadable_file_exits_2_and_others_are_still_checked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = write(tmp_path, "bad.yaml", BAD)
    missing = tmp_path / "missing.yaml"
    assert main(["validate", str(missing), str(bad)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0] == f"{missing}: cannot read: No such file or directory"
    assert len(err) == 4


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert main(["validate"]) == 2
    assert main(["frobnicate"]) == 2
    assert main(["plan"]) == 2
    assert "usage:" in capsys.readouterr().err
    assert main(["--help"]) == 0


def test_validate_with_stage_and_var(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "tragen.yml", "tragen_stage: medium\ntragen_config:\n  production:\n"
                 "    max_agents: 100\n")  # fmt: skip
    assert main(["validate", "--var", "tragen_config", str(path)]) == 0
    assert main(["validate", "--var", "tragen_config", "--stage", "medium", str(path)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert f"{path}: $.agents: stage 'medium' needs a 'agents' section; found none" in err
    assert main(["validate", "--var", "nothing", str(path)]) == 1


def inventory(root: Path, max_agents: int, budget: int = 100, secret: str = "s3cret") -> Path:
    (root / "group_vars" / "all").mkdir(parents=True)
    (root / "hosts.yml").write_text(
        "all:\n  children:\n    app_servers:\n      hosts:\n"
        "        app1: {tragen_private_address: 127.0.6.11, tragen_host_cores: 4,"
        " tragen_host_memory_gb: 8}\n"
    )
    (root / "group_vars" / "all" / "tragen.yml").write_text(
        f"tragen_stage: small\ntragen_admin_token: {secret}\ntragen_config:\n"
        f"  production: {{max_agents: {max_agents}}}\n  agents: {{max_count: {max_agents}}}\n"
        "  cost_monitoring:\n"
        "    resource_costs: {cpu_hour: 0.05, memory_gb_hour: 0.01, storage_gb_month: 0.1,"
        " api_call: 0.001}\n"
        f"    cost_alerts: {{daily_budget: {budget}, monthly_budget: 2500,"
        " alert_thresholds: [0.7, 0.9, 1.0]}\n"
    )
    return root


def test_check_an_inventory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = inventory(tmp_path / "good", 25)
    assert main(["check", str(good)]) == 0
    assert capsys.readouterr().out == f"{good}: ready to deploy (stage small, 1 hosts)\n"
    bad = inventory(tmp_path / "bad", 25, secret="CHANGE_ME")
    assert main(["check", str(bad)]) == 1
    assert capsys.readouterr().err == (
        f"{bad}: inventory.hosts.app1.tragen_admin_token: expected a real secret, "
        "found the placeholder 'CHANGE_ME'\n"
    )
    assert main(["check", str(tmp_path / "none")]) == 2


def test_plan_that_fits(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = inventory(tmp_path / "small", 25)
    assert main(["plan", "--inventory", str(root), "--api-calls-per-day", "1000"]) == 0
    out = capsys.readouterr().out
    assert "resources (guide's allocate_resources): 2 cores, 4 GB memory, 20 GB storage" in out
    assert "app servers: 1 (app1): 4 cores, 8 GB memory" in out
    assert "daily cost: $4.43 (cpu 2.40, memory 0.96, storage 0.07, api calls 1.00)" in out
    assert "cost alerts that would fire: none" in out


def test_plan_that_does_not_fit_or_exceeds_the_budget(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = inventory(tmp_path / "small", 100, budget=10)
    assert main(["plan", "--inventory", str(root)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err == [
        f"{root}: inventory.groups.app_servers: expected at least 10 cores for the agents, found 4",
        f"{root}: inventory.groups.app_servers: expected at least 10 GB memory for the agents, "
        "found 8",
        f"{root}: $.cost_monitoring.cost_alerts.daily_budget: expected daily cost at most $10, "
        "found $14.57",
    ]


def test_plan_from_a_config_file(capsys: pytest.CaptureFixture[str]) -> None:
    config = str(GUIDE / "enterprise.yaml")
    assert main(["plan", config, "--stage", "enterprise"]) == 0
    assert "app servers: 8 (app1, app2, app3, app4, app5, app6, app7, app8): 256 cores" in (
        capsys.readouterr().out
    )
    assert (
        main(["plan", config, "--stage", "enterprise", "--app-servers", "1", "--cores", "64"]) == 1
    )
    assert main(["plan", config]) == 2


def installed_command(tmp_path: Path) -> tuple[list[str], dict[str, str]]:
    """The console script: the venv's when the package is installed there, else the
    project installed (from a freshly built wheel) into a scratch directory."""
    script = Path(sys.executable).with_name("tragen-config")
    if script.exists():
        return [str(script)], dict(os.environ)
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target",
         str(target), str(REPO)],
        check=True,
        cwd=tmp_path,
    )  # fmt: skip
    assert sorted(p.name for p in (target / "tragen_runtime" / "schemas").iterdir()) == sorted(
        p.name for p in (REPO / "schemas").glob("*.json")
    ), "the installed package does not carry the schemas"
    return [str(target / "bin" / "tragen-config")], {**os.environ, "PYTHONPATH": str(target)}


def test_the_installed_console_script(tmp_path: Path) -> None:
    command, env = installed_command(tmp_path)
    bad = write(tmp_path, "bad.yaml", BAD)
    good = GUIDE / "medium_deployment.yaml"
    result = subprocess.run(
        [*command, "validate", str(good), str(bad)],
        capture_output=True, text=True, env=env, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert result.stdout.splitlines() == [
        f"{good}: valid (3 sections)",
        f"{good}: $.load_balancing.enabled: note: not acted on in this release: nginx is deployed "
        "whenever the inventory's lb group has hosts; this switch is not read",
    ]
    assert len(result.stderr.splitlines()) == 3
    assert all(line.startswith(f"{bad}: $.") for line in result.stderr.splitlines())
    usage = subprocess.run([*command], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert usage.returncode == 2


def test_plan_of_an_unparseable_config_reports_the_syntax_error_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = write(tmp_path, "bad.yaml", "production: [\n")
    assert main(["plan", str(bad), "--stage", "single"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith(f"{bad}: line 2, column 1: invalid YAML")

"""What the validator says about keys nothing acts on: `validate` and `check` notices, the
`explain` command and the README's table."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tragen_runtime.config.acted_on import not_acted_on
from tragen_runtime.config.cli import main
from tragen_runtime.config.explain import not_acted_on_table

REPO = Path(__file__).resolve().parents[2]
STAGES = ("single", "small", "medium", "enterprise")

CHECK_INTERVAL = ("not acted on in this release: the runtime's checks (lease rounds, /readyz) "
                  "keep their own schedule and Prometheus scrapes at "
                  "metrics_collection.frequency; nothing reads this interval")


def stage_file(stage: str) -> Path:
    return REPO / "inventories" / stage / "group_vars" / "all" / "tragen.yml"


def stage_config(stage: str) -> dict[str, object]:
    config: dict[str, object] = yaml.safe_load(stage_file(stage).read_text())["tragen_config"]
    return config


@pytest.mark.parametrize("stage", STAGES)
def test_validate_notes_every_key_of_a_stage_nothing_acts_on(
    stage: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / f"{stage}.yaml"  # what the before-stop hook validates
    path.write_text(yaml.safe_dump(stage_config(stage)))
    assert main(["validate", str(path)]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    notes = [line for line in out.splitlines() if "not acted on" in line.lower()]
    expected = not_acted_on(yaml.safe_load(path.read_text()))
    assert notes == [f"{path}: {note.location}: note: {note.message}" for note in expected]
    assert all(": note: not acted on in this release: " in line for line in notes)
    locations = {note.location for note in expected}
    assert "$.monitoring.check_interval" in locations
    # the breakers, limits and procedures act (issue: safety)
    assert not {loc for loc in locations
                if loc.startswith(("$.circuit_breakers", "$.portfolio_risk"))}
    assert not {"$.production.max_agents", "$.agents.paper_trading_only"} & locations


def test_conditions_follow_the_values_beside_the_key() -> None:
    single = {note.location for note in not_acted_on(stage_config("single"))}
    medium = {note.location for note in not_acted_on(stage_config("medium"))}
    enterprise = {note.location for note in not_acted_on(stage_config("enterprise"))}
    assert "$.database.max_connections" in single  # sqlite
    assert "$.database.max_connections" not in medium  # postgresql
    assert "$.caching.l2_cache.data" not in medium and "$.caching.l1_cache.data" in medium
    # the conservative pool does not auto-scale: its max_agents and scale_metric go unused
    assert {
        "$.agent_pools.strategy_pools.conservative.max_agents",
        "$.agent_pools.strategy_pools.conservative.scale_metric",
    } <= enterprise
    assert "$.agent_pools.strategy_pools.scalping.max_agents" not in enterprise


def test_one_key_nothing_acts_on_gives_one_note(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "one.yaml"
    path.write_text(
        "production:\n  max_agents: 5\nagents:\n  max_count: 5\n"
        "monitoring:\n  check_interval: 30\n  alerting:\n    escalation_levels:\n"
        "    - {threshold: warning, notify: [email]}\n    - {threshold: critical, notify: [sms]}\n"
    )
    assert main(["validate", str(path)]) == 0
    # the escalation levels become Alertmanager's routes: no note for them
    assert capsys.readouterr().out.splitlines() == [
        f"{path}: valid (3 sections)",
        f"{path}: $.monitoring.check_interval: note: {CHECK_INTERVAL}",
    ]


def test_an_invalid_file_gets_problems_and_no_notes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("agents:\n  additional_safety_check: true\n")
    assert main(["validate", str(path)]) == 1
    out, err = capsys.readouterr()
    assert out == "" and "not acted on" not in err


def test_check_prints_the_notes_after_ready_to_deploy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "small"
    (root / "group_vars" / "all").mkdir(parents=True)
    (root / "hosts.yml").write_text(
        "all:\n  children:\n    app_servers:\n      hosts:\n"
        "        app1: {tragen_private_address: 127.0.6.11}\n"
    )
    (root / "group_vars" / "all" / "tragen.yml").write_text(
        "tragen_stage: small\ntragen_admin_token: s3cret\ntragen_config:\n"
        "  production: {max_agents: 5}\n  agents: {max_count: 5}\n"
        "  monitoring: {check_interval: 30}\n"
    )
    assert main(["check", str(root)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"{root}: ready to deploy (stage small, 1 hosts)",
        f"{root}: $.monitoring.check_interval: note: {CHECK_INTERVAL}",
    ]


def test_explain_a_key_that_is_acted_on(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "$.production.max_agents"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "$.production.max_agents"
    assert "    tragen_runtime.agents:max_agents" in out
    assert any(line.startswith("  rule: caps the agents built") for line in out)
    assert "  default: 5 (or agents.max_count)" in out


def test_explain_a_concrete_path_through_its_wildcard_entry(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["explain", "$.agent_pools.conservative"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "$.agent_pools.conservative (registry entry $.agent_pools.*)"
    assert main(["explain", "$.agent_templates['swing.yaml'].personality.analysis_style"]) == 0
    assert "tragen_runtime.strategies:strategy_for" in capsys.readouterr().out


def test_explain_a_key_nothing_acts_on(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "$.monitoring.check_interval"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "$.monitoring.check_interval", f"  {CHECK_INTERVAL}"]


def test_explain_a_condition_and_a_section(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "$.database.max_connections"]) == 0
    assert (
        "  not acted on in this release while type is sqlite: a sqlite database is a file: it "
        "has no connection limit or pool"
    ) in capsys.readouterr().out.splitlines()
    assert main(["explain", "$.circuit_breakers.system_breakers.memory_usage"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "$.circuit_breakers.system_breakers.memory_usage: 6 keys"
    assert len(out) == 7


def test_explain_an_unknown_path_suggests_a_close_one(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "$.production.max_agent"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (
        "$.production.max_agent: no such key in the configuration schemas; did you mean "
        "'$.production.max_agents'?\n"
    )
    assert main(["explain", "$.caching.l1_cache.tll"]) == 1
    assert "did you mean '$.caching.l1_cache.ttl'?" in capsys.readouterr().err


def test_explain_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain"]) == 2
    assert main(["explain", "$.production", "--not-acted-on"]) == 2
    assert main(["explain", "production.max_agents"]) == 2
    assert "expected a JSON path starting with '$'" in capsys.readouterr().err


def test_the_readme_table_is_the_registry(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "--not-acted-on"]) == 0
    table = capsys.readouterr().out
    assert table == not_acted_on_table()
    assert table.startswith("| section | keys | why nothing acts on them |\n")
    assert "| `circuit_breakers` |" not in table and "| `portfolio_risk` |" not in table
    assert "| `runtime` |" in table
    assert table in (REPO / "README.md").read_text(), (
        "README.md's table of keys not acted on is out of date: replace it with the output of "
        "`tragen-config explain --not-acted-on`"
    )

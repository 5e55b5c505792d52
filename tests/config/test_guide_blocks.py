"""Every configuration block of the scaling guide is kept as a fixture and validates.

Fixtures live in tests/fixtures/guide/, one per configuration example of the guide; the first
line of each names the guide block it stands for. ``GUIDE_FIXTURES`` below says how a fixture
becomes a document: a whole document, a document per value, or one section.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tragen_runtime.config import validate_document

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "guide"
GUIDE = REPO.parent / "shared" / "spec" / "scaling-guide.md"

# fixture file -> (guide block key, how the fixture forms documents)
# A YAML block's key is the file it names in its first comment line; a Python block's key is
# "NAME #n" for the n-th dict assigned to NAME. "document": the fixture is a document;
# "documents": each value is one; any other word: the fixture is that section.
GUIDE_FIXTURES: dict[str, tuple[str, str]] = {
    "single_agent.yaml": ("config/single_agent.yaml", "document"),
    "small_portfolio.yaml": ("config/small_portfolio.yaml", "document"),
    "medium_deployment.yaml": ("config/medium_deployment.yaml", "document"),
    "enterprise.yaml": ("config/enterprise.yaml", "document"),
    "agent_templates.yaml": ("templates/agent_configs/", "agent_templates"),
    "environments.yaml": ("config/environments/", "documents"),
    "database_config_1.yaml": ("DATABASE_CONFIG #1", "database"),
    "database_config_2.yaml": ("DATABASE_CONFIG #2", "database"),
    "database_config_3.yaml": ("DATABASE_CONFIG #3", "database"),
    "memory_config_1.yaml": ("MEMORY_CONFIG #1", "memory"),
    "memory_config_2.yaml": ("MEMORY_CONFIG #2", "memory"),
    "memory_config_3.yaml": ("MEMORY_CONFIG #3", "memory"),
    "cpu_scaling_1.yaml": ("CPU_SCALING #1", "cpu_scaling"),
    "agent_pools_1.yaml": ("AGENT_POOLS #1", "agent_pools"),
    "caching_config_1.yaml": ("CACHING_CONFIG #1", "caching"),
    "api_config_1.yaml": ("API_CONFIG #1", "api"),
    "portfolio_risk_1.yaml": ("PORTFOLIO_RISK #1", "portfolio_risk"),
    "circuit_breaker_scaling_1.yaml": ("CIRCUIT_BREAKER_SCALING #1", "circuit_breakers"),
    "monitoring_config_1.yaml": ("MONITORING_CONFIG #1", "monitoring"),
    "auto_scaling_1.yaml": ("AUTO_SCALING #1", "auto_scaling"),
    "cost_monitoring_1.yaml": ("COST_MONITORING #1", "cost_monitoring"),
    "system_kpis_1.yaml": ("SYSTEM_KPIS #1", "system_kpis"),
    "business_kpis_1.yaml": ("BUSINESS_KPIS #1", "business_kpis"),
}


def guide_blocks(text: str) -> dict[str, Any]:
    """Block key -> data of every configuration block of the guide. Python blocks without a
    dict assigned at module level (functions, classes) are not configuration and skipped."""
    blocks: dict[str, Any] = {}
    seen: dict[str, int] = {}
    for language, body in re.findall(r"```(yaml|python)\n(.*?)```", text, re.S):
        if language == "yaml":
            key = body.splitlines()[0].lstrip("#").strip()
            blocks[key] = yaml.safe_load(body)
            continue
        for node in ast.parse(body).body:
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Dict):
                target = node.targets[0]
                assert isinstance(target, ast.Name)
                seen[target.id] = seen.get(target.id, 0) + 1
                blocks[f"{target.id} #{seen[target.id]}"] = ast.literal_eval(node.value)
    return blocks


def load_fixture(name: str) -> Any:
    return yaml.safe_load((FIXTURES / name).read_text(encoding="utf-8"))


def documents(name: str) -> list[Any]:
    data = load_fixture(name)
    kind = GUIDE_FIXTURES[name][1]
    if kind == "document":
        return [data]
    if kind == "documents":
        return list(data.values())
    return [{kind: data}]


def test_every_guide_block_has_an_identical_fixture() -> None:
    if not GUIDE.exists():
        pytest.skip(f"{GUIDE} is not there")
    blocks = guide_blocks(GUIDE.read_text(encoding="utf-8"))
    by_key = {key: name for name, (key, _kind) in GUIDE_FIXTURES.items()}
    assert blocks, "no configuration block found in the guide"
    for key, data in blocks.items():
        assert key in by_key, f"no fixture for guide block {key!r}"
        assert load_fixture(by_key[key]) == data, f"{by_key[key]} differs from {key!r}"
    assert set(by_key) == set(blocks), "a fixture stands for no block of the guide"


def test_every_fixture_is_listed() -> None:
    assert {path.name for path in FIXTURES.glob("*.yaml")} == set(GUIDE_FIXTURES)


def test_fixtures_name_their_block() -> None:
    for name, (key, _kind) in GUIDE_FIXTURES.items():
        first = (FIXTURES / name).read_text(encoding="utf-8").splitlines()[0]
        assert first.startswith("# Guide block:") and key.split(" #")[0] in first, name


def _only_missing_safety_keys(problems: list[Any]) -> bool:
    """The guide's production environment turns `agents.additional_safety_checks` on; alone,
    without the breakers and limits of other blocks, the gate names each one missing."""
    return bool(problems) and all(
        "while agents.additional_safety_checks is true" in p.message for p in problems)


@pytest.mark.parametrize("name", sorted(GUIDE_FIXTURES))
def test_guide_block_validates(name: str) -> None:
    for document in documents(name):
        problems = validate_document(document)
        if (document.get("agents") or {}).get("additional_safety_checks"):
            assert _only_missing_safety_keys(problems), problems
        else:
            assert problems == []


def test_all_guide_sections_validate_together() -> None:
    """The stage 4 configuration a deploy would use: every section at once. The guide's own
    pools break its own diversification limits (every agent of the merged document is a
    scalper against max_agents_per_strategy 0.3); the gate says so, and nothing else."""
    merged: dict[str, Any] = {}
    for name in sorted(GUIDE_FIXTURES):
        for document in documents(name):
            for section, value in document.items():
                merged.setdefault(section, value)
    problems = validate_document(merged)
    assert problems and {p.location for p in problems} <= {
        "$.portfolio_risk.diversification.max_agents_per_strategy",
        "$.portfolio_risk.diversification.max_agents_per_timeframe"}, problems
    del merged["portfolio_risk"]["diversification"]
    assert validate_document(merged) == []


@pytest.mark.parametrize("name", sorted(GUIDE_FIXTURES))
def test_guide_block_validates_against_its_section_file(name: str) -> None:
    """Each <section>.schema.json works on its own, as other tools would use it."""
    from tragen_runtime.config.schemas import validator

    for document in documents(name):
        for section, value in document.items():
            errors = list(validator(f"{section}.schema.json").iter_errors(value))
            assert errors == [], f"{name}: {section}"

"""Parsing, loading and the problem records of tragen_runtime.config."""

from __future__ import annotations

from pathlib import Path

import pytest

from tragen_runtime.config import (
    InvalidConfiguration,
    Problem,
    load_document,
    load_valid_config,
    validate_document,
)
from tragen_runtime.config.parsing import parse_text
from tragen_runtime.config.problem import json_path
from tragen_runtime.config.schemas import load_schemas, section_keys, validator

SECTIONS = [
    "production", "monitoring", "agent_pools", "database", "load_balancing", "servers",
    "agents", "agent_templates", "memory", "cpu_scaling", "caching", "api", "portfolio_risk",
    "circuit_breakers", "auto_scaling", "cost_monitoring", "system_kpis", "business_kpis",
]  # fmt: skip


def test_one_schema_file_per_section_and_one_for_the_document() -> None:
    names = set(load_schemas())
    assert {f"{key}.schema.json" for key in [*SECTIONS, "runtime"]} <= names
    assert "tragen-config.schema.json" in names
    assert section_keys() == [*SECTIONS, "runtime"]


def test_every_schema_refuses_unknown_keys_at_every_depth() -> None:
    def open_objects(node: object, where: str) -> list[str]:
        found = []
        if isinstance(node, dict):
            if node.get("type") == "object" and "additionalProperties" not in node:
                found.append(where)
            for key, value in node.items():
                found += open_objects(value, f"{where}/{key}")
        elif isinstance(node, list):
            for index, value in enumerate(node):
                found += open_objects(value, f"{where}/{index}")
        return found

    for name, schema in load_schemas().items():
        assert open_objects(schema, name) == []


def test_the_format_checker_is_really_used() -> None:
    assert validator().format_checker is not None
    problems = validate_document({"database": {"type": "postgresql", "host": "db..internal"}})
    assert problems == [
        Problem(
            "$.database.host",
            "expected a host name such as \"db.internal\", found string 'db..internal'",
        )
    ]


def test_yaml_syntax_error_names_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("production:\n  max_agents: 5\n  memory_limit: [4GB\nmonitoring: {}\n")
    doc, problems = load_document(path)
    assert doc is None
    assert len(problems) == 1
    assert problems[0].location.startswith("line 4, column")
    assert problems[0].message.startswith("invalid YAML:")


def test_duplicate_keys_are_refused_with_their_line() -> None:
    doc, problems = parse_text("production:\n  max_agents: 5\n  max_agents: 50\n")
    assert doc is None
    assert problems == [
        Problem(
            "line 3, column 3",
            "duplicate key: found key 'max_agents' a second time (while constructing a mapping)",
        )
    ]


def test_json_syntax_error_names_line_and_column() -> None:
    doc, problems = parse_text('{"production": {"max_agents": 5,}}', "tragen.json")
    assert doc is None
    assert problems[0].location == "line 1, column 33"


def test_a_document_must_be_a_mapping() -> None:
    assert validate_document(None) == [
        Problem("$", "expected a mapping of sections, found an empty document")
    ]
    assert validate_document(["production"]) == [
        Problem("$", "expected a mapping of sections, found list")
    ]


def test_keys_must_be_text() -> None:
    problems = validate_document({"agent_pools": {1: 5}})
    assert Problem("$.agent_pools[1]", "expected a text key, found integer 1") in problems


def test_load_valid_config_returns_the_document(tmp_path: Path) -> None:
    path = tmp_path / "ok.yaml"
    path.write_text("production:\n  max_agents: 5\n")
    assert load_valid_config(path) == {"production": {"max_agents": 5}}


def test_invalid_configuration_lists_every_problem(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("production:\n  max_agent: 5\n  memory_limit: 4\n")
    with pytest.raises(InvalidConfiguration) as raised:
        load_valid_config(path)
    error = raised.value
    assert error.path == str(path)
    assert len(error.problems) == 2
    assert str(error).splitlines() == [f"{path}: {p.location}: {p.message}" for p in error.problems]


def test_an_unreadable_file_raises_oserror(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        load_document(tmp_path / "missing.yaml")


def test_json_path_quotes_keys_that_are_not_names() -> None:
    assert json_path(["a", 0, "b.yaml", "c d"]) == "$.a[0]['b.yaml']['c d']"

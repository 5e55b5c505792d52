"""What a deploy of each stage needs beyond a valid document."""

from __future__ import annotations

from tragen_runtime.config import Problem, check_stage_requirements

SQLITE = {"type": "sqlite", "path": "tragen.db"}
POSTGRES = {"type": "postgresql", "host": "db.internal"}
BASE = {"production": {"max_agents": 5}, "agents": {"max_count": 5}}


def test_single_and_small_need_production_agents_and_sqlite_or_none() -> None:
    for stage in ("single", "small"):
        assert check_stage_requirements(BASE, stage) == []
        assert check_stage_requirements({**BASE, "database": SQLITE}, stage) == []
        assert check_stage_requirements({**BASE, "database": POSTGRES}, stage) == [
            Problem(
                "$.database.type", f"stage {stage!r} expects a sqlite database, found 'postgresql'"
            )
        ]
    assert check_stage_requirements({}, "single") == [
        Problem("$.production", "stage 'single' needs a 'production' section; found none"),
        Problem("$.agents", "stage 'single' needs a 'agents' section; found none"),
    ]


def test_medium_needs_a_server_database_and_load_balancing() -> None:
    assert [p.location for p in check_stage_requirements(BASE, "medium")] == [
        "$.database",
        "$.load_balancing",
    ]
    document = {**BASE, "database": SQLITE, "load_balancing": {"enabled": True}}
    assert [p.location for p in check_stage_requirements(document, "medium")] == ["$.database.type"]
    document["database"] = POSTGRES
    assert check_stage_requirements(document, "medium") == []


def test_enterprise_also_needs_servers() -> None:
    document = {**BASE, "database": POSTGRES, "load_balancing": {}}
    assert [p.location for p in check_stage_requirements(document, "enterprise")] == ["$.servers"]


def test_unknown_stage() -> None:
    assert check_stage_requirements(BASE, "huge")[0].message.startswith("expected a stage of")

"""The key registry against the schemas and the code: no schema key without an entry, no
entry without a schema key, no actor that does not exist."""

from __future__ import annotations

import importlib
import re
from collections import Counter
from pathlib import Path

import pytest
import yaml

from tragen_runtime.config.acted_on import is_key, lookup
from tragen_runtime.config.keypaths import (
    ANY_ITEM,
    ANY_KEY,
    KeyPath,
    PathSyntaxError,
    compatible,
    parse,
    render,
)
from tragen_runtime.config.problem import json_path
from tragen_runtime.config.registry import REGISTRY, ActedOn, NotActedOn
from tragen_runtime.config.schema_paths import leaf_paths
from tragen_runtime.monitoring.alerts import kpis
from tragen_runtime.monitoring.catalog import KPI_MEASURES

REPO = Path(__file__).resolve().parents[2]
LEAVES = leaf_paths()
ENTRY_PATHS = [entry.path for entry in REGISTRY]


def test_the_schema_walk_finds_leaves_behind_refs_maps_lists_and_any_of() -> None:
    found = {render(leaf) for leaf in LEAVES}
    assert {
        "$.production.max_agents",
        "$.agent_pools.*",
        "$.agent_pools.strategy_pools.*.min_agents",
        "$.agent_templates.*.personality.risk_tolerance",
        "$.caching.*.ttl",
        "$.database.connection_pool",
        "$.monitoring.alerting.escalation_levels[*].notify",
        "$.monitoring.metrics_collection.agent_metrics",
        "$.system_kpis.throughput.trades_per_second.target",
        "$.runtime.redis.sentinel.hosts",
    } <= found
    # an if/then selects and a mapping holds keys: neither is a leaf itself
    assert not {"$", "$.database", "$.runtime.market", "$.system_kpis.throughput"} & found
    assert len(LEAVES) == len(set(LEAVES)) > 150


@pytest.mark.parametrize("leaf", LEAVES, ids=render)
def test_every_schema_key_has_an_entry(leaf: KeyPath) -> None:
    assert is_key(leaf, lookup(leaf)), (
        f"{render(leaf)} has no entry in tragen_runtime/config/registry.py: add what acts on "
        "it (ActedOn) or why nothing does (NotActedOn)"
    )


@pytest.mark.parametrize("entry", REGISTRY, ids=lambda entry: entry.path)
def test_every_entry_names_a_schema_key(entry: ActedOn | NotActedOn) -> None:
    path = parse(entry.path)
    assert render(path) == entry.path, "write the path as keypaths.render writes it"
    assert any(compatible(path, leaf) for leaf in LEAVES), (
        f"{entry.path} is no key of the schemas (stale entry): remove it or fix its path"
    )


def test_entries_are_unique() -> None:
    doubled = [path for path, count in Counter(ENTRY_PATHS).items() if count > 1]
    assert doubled == []


def _python_actor_exists(actor: str) -> bool:
    module_name, _, qualname = actor.partition(":")
    target: object = importlib.import_module(module_name)
    for name in qualname.split("."):
        if not hasattr(target, name):
            return False
        target = getattr(target, name)
    return True


def _file_actor_exists(actor: str) -> bool:
    relative, _, name = actor.partition(":")
    path = REPO / relative
    if not path.is_file():
        return False
    # a variable is named where it is defined: `name:` in YAML, `name =` in Python
    return not name or bool(re.search(rf"^\s*{re.escape(name)}\s*[:=]", path.read_text(), re.M))


ACTORS = sorted(
    {actor for entry in REGISTRY if isinstance(entry, ActedOn) for actor in entry.actors}
)


@pytest.mark.parametrize("actor", ACTORS)
def test_every_actor_exists(actor: str) -> None:
    exists = _file_actor_exists(actor) if "/" in actor else _python_actor_exists(actor)
    assert exists, f"{actor} does not exist: point the registry at what acts on the key now"


@pytest.mark.parametrize("entry", REGISTRY, ids=lambda entry: entry.path)
def test_every_entry_says_something(entry: ActedOn | NotActedOn) -> None:
    texts = [entry.reason] if isinstance(entry, NotActedOn) else [entry.rule, entry.default]
    if isinstance(entry, ActedOn):
        assert entry.actors, "an entry that is acted on names what acts on it"
        if entry.ignored_when is not None:
            texts.append(entry.ignored_when.reason)
    for text in texts:
        assert text.strip() and "\n" not in text and "|" not in text
        assert "not acted on" not in text.lower()  # the notice says it once, itself


@pytest.mark.parametrize(
    "entry",
    [entry for entry in REGISTRY if isinstance(entry, ActedOn) and entry.ignored_when],
    ids=lambda entry: entry.path,
)
def test_a_condition_names_a_sibling_key(entry: ActedOn) -> None:
    assert entry.ignored_when is not None
    sibling = (*parse(entry.path)[:-1], entry.ignored_when.sibling)
    assert any(compatible(sibling, leaf) for leaf in LEAVES)


def test_the_most_literal_entry_answers() -> None:
    def entry_of(text: str) -> str:
        matches = lookup(parse(text))
        assert len(matches) == 1
        return matches[0].entry.path

    assert entry_of("$.circuit_breakers.portfolio_breakers.total_loss.threshold") == (
        "$.circuit_breakers.portfolio_breakers.total_loss.threshold"
    )
    assert entry_of("$.caching.l1_cache.size") == "$.caching.l1_cache.size"
    assert entry_of("$.caching.l3_cache.size") == "$.caching.*.size"
    assert entry_of("$.agent_pools.scalping") == "$.agent_pools.*"
    assert entry_of("$.system_kpis.latency.api_response_ms.critical") == (
        "$.system_kpis.*.*.critical"
    )
    below = lookup(parse("$.agent_pools.strategy_pools"))
    assert [match.entry.path for match in below] == [
        "$.agent_pools.strategy_pools.*.min_agents",
        "$.agent_pools.strategy_pools.*.max_agents",
        "$.agent_pools.strategy_pools.*.auto_scale",
        "$.agent_pools.strategy_pools.*.scale_metric",
    ]
    assert lookup(parse("$.nothing")) == ()


def test_paths_read_as_json_path_writes_them() -> None:
    for parts in (("a", "b"), ("agent_templates", "x.yaml", "personality"), ("a", 0, "b")):
        assert parse(json_path(parts)) == parts
    assert parse("$.a.*[*]") == ("a", ANY_KEY, ANY_ITEM)
    assert render(("a", ANY_KEY, ANY_ITEM, "it's")) == "$.a.*[*][\"it's\"]"
    for bad in ("production.max_agents", "$.a..b", "$.a[x]", "$.a[*"):
        with pytest.raises(PathSyntaxError):
            parse(bad)


def test_the_kpis_said_to_have_no_series_are_exactly_the_unmeasured_ones() -> None:
    """Every KPI the stages configure is measured (catalog.KPI_MEASURES) or said not to be;
    a KPI that gains a measure loses its NotActedOn entry."""
    configured = {(section, group, name)
                  for stage in ("single", "small", "medium", "enterprise")
                  for section, group, name, _ in kpis(yaml.safe_load(
                      (REPO / "inventories" / stage / "group_vars/all/tragen.yml").read_text()
                  )["tragen_config"])}
    said = {tuple(entry.path.split(".")[1:4]) for entry in REGISTRY
            if isinstance(entry, NotActedOn) and entry.path.split(".")[1] in
            ("system_kpis", "business_kpis")}
    assert said == {kpi for kpi in configured if kpi[2] not in KPI_MEASURES}

"""filter_plugins/tragen.py through Ansible's entry point, the FilterModule class."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from ansible.errors import AnsibleFilterError

REPO = Path(__file__).resolve().parents[2]


def load_filters() -> dict[str, Callable[..., Any]]:
    spec = importlib.util.spec_from_file_location(
        "tragen_filters", REPO / "filter_plugins" / "tragen.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    filters: dict[str, Callable[..., Any]] = module.FilterModule().filters()
    return filters


FILTERS = load_filters()


def test_the_plugin_offers_every_filter() -> None:
    assert sorted(FILTERS) == [
        "tragen_allocate_resources",
        "tragen_bytes_to_size",
        "tragen_check_inventory",
        "tragen_colour_port",
        "tragen_config_notice_summary",
        "tragen_deploy_analysis_kpis",
        "tragen_deploy_batch_record",
        "tragen_deploy_blue_green_plan",
        "tragen_deploy_canary_plan",
        "tragen_deploy_canary_weights",
        "tragen_deploy_earlier_unfinished",
        "tragen_deploy_failure",
        "tragen_deploy_judge",
        "tragen_deploy_plan",
        "tragen_deploy_summary",
        "tragen_gunicorn_workers",
        "tragen_monitoring_app_targets",
        "tragen_monitoring_files",
        "tragen_monitoring_missing_channels",
        "tragen_other_colour",
        "tragen_postgresql_memory",
        "tragen_release_id",
        "tragen_release_wheelhouse_refusal",
        "tragen_size_to_bytes",
        "tragen_stage_requirements",
        "tragen_validate_config",
    ]


def test_sizes() -> None:
    assert FILTERS["tragen_size_to_bytes"]("4GB") == 4 * 1024**3
    assert FILTERS["tragen_bytes_to_size"](4 * 1024**3) == "4GB"
    assert FILTERS["tragen_bytes_to_size"]("1048576") == "1MB"
    with pytest.raises(AnsibleFilterError, match="tragen_size_to_bytes: expected a size"):
        FILTERS["tragen_size_to_bytes"]("four gigs")


def test_allocation_workers_and_postgresql_memory() -> None:
    assert FILTERS["tragen_allocate_resources"](100) == {
        "cpu_cores": 10, "memory_gb": 10.0, "storage_gb": 50.0,
    }  # fmt: skip
    assert FILTERS["tragen_allocate_resources"](100, {"avg_profit_factor": 2})["cpu_cores"] == 12
    profile = {"workers": 4, "threads_per_worker": 8, "process_pools": True}
    assert FILTERS["tragen_gunicorn_workers"](profile, "1") == {"workers": 3, "threads": 8}
    memory = FILTERS["tragen_postgresql_memory"]("64GB", 8 * 1024**3)
    assert memory["shared_buffers"] == "2048MB"
    with pytest.raises(AnsibleFilterError):
        FILTERS["tragen_postgresql_memory"]("lots")


class TaggedStr(str):
    """Stands for Ansible's tagged/unsafe strings."""


class LazyHostVars(Mapping[str, Any]):
    """Stands for Ansible's HostVars: each host's variables are templated when read."""

    def __init__(self, data: dict[str, dict[str, Any]]) -> None:
        self.data = data

    def __getitem__(self, host: str) -> Any:
        return LazyVars(self.data[host])

    def __iter__(self) -> Iterator[str]:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)


class LazyVars(Mapping[str, Any]):
    """A host's variables, with one that fails to template (as an undefined would)."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = {**data, "broken": None}

    def __getitem__(self, name: str) -> Any:
        if name == "broken":
            raise AssertionError("a variable the checks do not need was read")
        return self.data[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)


def test_validate_config_returns_location_and_message_lines() -> None:
    assert FILTERS["tragen_validate_config"]({"production": {TaggedStr("max_agents"): 5}}) == []
    assert FILTERS["tragen_validate_config"]({"production": {"max_agent": 5}}) == [
        "$.production.max_agent: unknown key 'max_agent'; did you mean 'max_agents'?"
    ]


def test_the_gate_counts_the_keys_nothing_acts_on_per_section() -> None:
    doc = {"production": {TaggedStr("max_agents"): 5},
           "monitoring": {"check_interval": 30},
           "load_balancing": {"type": "nginx_plus"}}
    lines = FILTERS["tragen_config_notice_summary"](doc, "inventories/enterprise")
    assert lines[0].startswith("$.load_balancing.type: nginx_plus is deployed as open-source")
    assert lines[1] == (
        "1 keys are accepted but nothing acts on them in this release (monitoring 1): "
        "tragen-config check inventories/enterprise lists each with the reason")
    assert len(lines) == 2
    assert FILTERS["tragen_config_notice_summary"]({"production": {"max_agents": 5}}, "x") == []


def test_stage_requirements() -> None:
    assert FILTERS["tragen_stage_requirements"]({"production": {}}, TaggedStr("single")) == [
        "$.agents: stage 'single' needs a 'agents' section; found none"
    ]


def test_check_inventory_reads_only_the_variables_it_needs() -> None:
    hostvars = LazyHostVars(
        {
            "app1": {
                "tragen_stage": "single",
                "tragen_private_address": TaggedStr("127.0.7.11"),
                "tragen_admin_token": "CHANGE_ME",
            }
        }
    )
    inventory = {"groups": {"all": ["app1"], "app_servers": ["app1"]}, "hostvars": hostvars}
    assert FILTERS["tragen_check_inventory"](inventory, {}) == [
        "inventory.hosts.app1.tragen_admin_token: expected a real secret, "
        "found the placeholder 'CHANGE_ME'"
    ]


def test_canary_filters_plan_the_steps_and_weigh_the_batch() -> None:
    plan = FILTERS["tragen_deploy_canary_plan"]
    assert plan([10, 12.5], ["lb1"]) == {
        "steps": [10, 12.5], "refused": "",
        "text": "The first batch is a canary: 10 %, 12.5 % of the traffic, each step analysed."}
    assert "needs a load balancer" in plan([10], [])["refused"]
    assert FILTERS["tragen_deploy_canary_weights"](["app1"], ["app2"], 25) == {"app1": 1, "app2": 3}
    with pytest.raises(AnsibleFilterError, match="both sides"):
        FILTERS["tragen_deploy_canary_weights"](["app1"], [], 25)


def test_the_kpi_filter_names_the_kpis_or_says_why_not() -> None:
    kpis = FILTERS["tragen_deploy_analysis_kpis"]
    system_kpis = {"latency": {"api_response_ms": {"target": 50, "critical": 200}}}
    assert kpis(["api_response_ms"], system_kpis, "true") == {
        "refused": "",
        "text": "Each analysis also holds the batch to its KPIs: api_response_ms < 200."}
    assert kpis([], {}, False) == {"refused": "", "text": ""}
    assert "needs tragen_deploy_analysis=true" in kpis(["api_response_ms"], system_kpis,
                                                        False)["refused"]
    assert "is not a KPI a canary can be held to" in kpis(["uptime"], system_kpis,
                                                          True)["refused"]


def test_the_blue_green_filters_plan_and_give_ports() -> None:
    app = {"app1": {"live": "", "releases": {"blue": "", "green": ""}, "single": "r1"}}
    chosen = FILTERS["tragen_deploy_blue_green_plan"](app, {"lb1": ""}, "r2", "false", "8000")
    assert (chosen["target"], chosen["first"], chosen["refused"]) == ("green", True, "")
    assert FILTERS["tragen_colour_port"]("green", "8000") == 8001
    others = [FILTERS["tragen_other_colour"](c) for c in ("blue", "green", "")]
    assert others == ["green", "blue", ""]
    with pytest.raises(AnsibleFilterError, match="'red' is not a colour"):
        FILTERS["tragen_other_colour"]("red")
    targets = FILTERS["tragen_monitoring_app_targets"](
        {"app_servers": ["app1"], "lb": ["lb1"]}, {"app1": "127.0.3.11", "lb1": "127.0.3.16"},
        "8000", "green")
    assert targets == [{"targets": ["127.0.3.11:8001"],
                        "labels": {"host": "app1", "group": "app_servers", "colour": "green"}}]
    with pytest.raises(AnsibleFilterError, match="not a colour"):
        FILTERS["tragen_colour_port"]("red", 8000)

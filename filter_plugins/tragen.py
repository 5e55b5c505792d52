"""Jinja2 filters of Tragen deploy: thin calls into ``tragen_runtime``.

    {{ '4GB' | tragen_size_to_bytes }}                     -> 4294967296
    {{ 4294967296 | tragen_bytes_to_size }}                -> '4GB'
    {{ 100 | tragen_allocate_resources({'avg_profit_factor': 1.2}) }}
    {{ tragen_config.cpu_scaling.multi_process | tragen_gunicorn_workers(ansible_processor_vcpus) }}
    {{ '64GB' | tragen_postgresql_memory(ansible_memtotal_mb * 1048576) }}
    {{ tragen_config | tragen_validate_config }}           -> ['location: message', ...]
    {{ tragen_config | tragen_stage_requirements(tragen_stage) }}
    {{ {'groups': groups, 'hostvars': hostvars} | tragen_check_inventory(tragen_config) }}
    {{ tragen_config | tragen_config_notice_summary(inventory_dir) }}  -> ['N keys ... ']
    {{ source_digest | tragen_release_id(documents) }}     -> 'r1a2b3c4d5e-9f8e7d6c'
    {{ marker | tragen_release_wheelhouse_refusal(id, source, wheelhouse, root) }}  -> '' or why not
    {{ tragen_config | tragen_monitoring_files(inventory) }}  -> rules, prometheus.yml, ...
    {{ groups_ | tragen_monitoring_app_targets(addresses, 8000, 'green') }}  -> file_sd targets
    {{ groups.app_servers | tragen_deploy_plan(size, min_healthy) }}  -> batch_size, text, refused
    {{ steps | tragen_deploy_canary_plan(groups.lb) }}   -> steps, text, refused
    {{ batch | tragen_deploy_canary_weights(others, 10) }}  -> nginx weights: 10 % to batch
    {{ hostvars | tragen_deploy_judge(batch, ansible_play_batch) }}   -> {host: why it failed}
    {{ batch | tragen_deploy_batch_record(hostvars) }}     -> the batch as the summary shows it
    {{ rollout | tragen_deploy_summary }} / {{ rollout | tragen_deploy_failure(lock_host) }}
    {{ colours | tragen_deploy_blue_green_plan(lb_colours, release, switch_back, 8000) }}
    {{ 'green' | tragen_colour_port(8000) }}                -> 8001
    {{ 'green' | tragen_other_colour }}                     -> blue

Problems come back as ``"location: message"`` strings, ready for an ``assert``'s message.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

try:
    import tragen_runtime.config  # noqa: F401  (probe: is the package importable?)
except ImportError:  # ansible runs from the venv, where the package may not be installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ansible.errors import AnsibleFilterError
from ansible.module_utils.parsing.convert_bool import boolean

from tragen_runtime import release, sizing
from tragen_runtime.config import (
    Problem,
    check_inventory,
    check_stage_requirements,
    notices,
    validate_document,
)
from tragen_runtime.config.inventory_checks import HOST_VARS
from tragen_runtime.config.notices import gate_summary
from tragen_runtime.deploy import analysis, batches, blue_green, canary, plan, summary
from tragen_runtime.monitoring import files as monitoring
from tragen_runtime.monitoring import scrape


def plain(value: Any) -> Any:
    """Ansible's (tagged, lazy) containers and strings as plain Python data."""
    if isinstance(value, str):
        return str(value)
    if isinstance(value, bool | int | float) or value is None:
        return value
    if isinstance(value, Mapping):
        return {
            str(key) if isinstance(key, str) else key: plain(item) for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    return value


def _lines(problems: list[Problem]) -> list[str]:
    return [str(problem) for problem in problems]


def size_to_bytes(text: str) -> int:
    try:
        return sizing.parse_size(plain(text))
    except ValueError as error:
        raise AnsibleFilterError(f"tragen_size_to_bytes: {error}") from error


def bytes_to_size(size: int) -> str:
    try:
        return sizing.format_size(int(size))
    except (TypeError, ValueError) as error:
        raise AnsibleFilterError(f"tragen_bytes_to_size: {error}") from error


def allocate_resources(
    agent_count: int, performance_history: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    history = plain(performance_history) or {"avg_profit_factor": 1.0}
    return sizing.allocate_resources(int(agent_count), history)


def gunicorn_workers(profile: Mapping[str, Any], host_cores: int) -> dict[str, int]:
    return sizing.gunicorn_workers(plain(profile), int(host_cores))


def postgresql_memory(
    memory_limit: str, host_memory_bytes: int | None = None, max_connections: int = 100
) -> dict[str, str]:
    try:
        host = None if host_memory_bytes is None else int(host_memory_bytes)
        return sizing.postgresql_memory(plain(memory_limit), host, int(max_connections))
    except ValueError as error:
        raise AnsibleFilterError(f"tragen_postgresql_memory: {error}") from error


def validate_config(doc: Any) -> list[str]:
    return _lines(validate_document(plain(doc)))


def stage_requirements(doc: Any, stage: str) -> list[str]:
    return _lines(check_stage_requirements(plain(doc), str(stage)))


def config_notice_summary(doc: Any, inventory: str,
                          groups: Mapping[str, Any] | None = None) -> list[str]:
    """The gate's short form of the notes: keys not acted on counted per section; with the
    inventory's ``groups``, those only an empty group's hosts act on too."""
    return gate_summary(notices(plain(doc), plain(groups) if groups is not None else None),
                        str(plain(inventory)))


def check_inventory_filter(inventory: Mapping[str, Any], doc: Any) -> list[str]:
    """``inventory`` holds Ansible's ``groups`` and ``hostvars``; only the variables the
    checks read are fetched from the (lazy, templated) hostvars."""
    groups = plain(inventory.get("groups") or {})
    raw_hostvars = inventory.get("hostvars") or {}
    hosts = {host for members in groups.values() for host in members}
    hostvars = {}
    for host in hosts:
        try:
            values = raw_hostvars[host]
        except KeyError:
            continue
        hostvars[host] = {name: plain(values[name]) for name in HOST_VARS if name in values}
    return _lines(check_inventory({"groups": groups, "hostvars": hostvars}, plain(doc) or {}))


def wheelhouse_refusal(marker: Any, release_name: Any, source_now: Any, wheelhouse: Any,
                       app_root: Any) -> str:
    """Why a release id may not reuse its wheelhouse, "" when it may."""
    return release.wheelhouse_refusal(str(release_name), str(marker or ""), str(source_now),
                                      str(wheelhouse), str(app_root))


def release_id(source_digest: str, documents: Any) -> str:
    """``documents``: every app server's rendered configuration (a list of mappings)."""
    docs = plain(documents)
    wrong = [d for d in docs if not isinstance(d, Mapping)] if isinstance(docs, list) else [docs]
    try:
        if wrong:  # a mapping given for the list would be read key by key
            raise TypeError("documents must be a list of mappings, found a "
                            f"{type(wrong[0]).__name__}")
        return release.release_id(str(plain(source_digest)).strip(), release.config_digest(docs))
    except (TypeError, ValueError) as error:
        raise AnsibleFilterError(f"tragen_release_id: {error}") from error


def monitoring_files(doc: Any, inventory: Mapping[str, Any]) -> dict[str, Any]:
    """``inventory``: groups, addresses, ports, stage, auth and notifier, as
    ``tragen_runtime.monitoring.files.monitoring_files`` takes them."""
    args = plain(inventory)
    try:
        return monitoring.monitoring_files(plain(doc) or {}, **args)
    except (KeyError, TypeError, ValueError) as error:
        raise AnsibleFilterError(f"tragen_monitoring_files: {error!r}") from error


def monitoring_app_targets(groups: Any, addresses: Any, app_port: Any,
                           colour: Any = "") -> list[dict[str, Any]]:
    """The runtime's scrape targets at the port of ``colour`` ('' without blue-green)."""
    try:
        hosts = scrape.hosts_by_group(plain(groups), plain(addresses))
        return scrape.app_targets(hosts, int(plain(app_port)), str(plain(colour) or ""))
    except (KeyError, TypeError, ValueError) as error:
        raise AnsibleFilterError(f"tragen_monitoring_app_targets: {error}") from error


def missing_channels(doc: Any, endpoints: Mapping[str, Any]) -> list[str]:
    return monitoring.missing_channels(plain(doc) or {}, plain(endpoints) or {})


def deploy_plan(hosts: Any, batch_size: Any, min_healthy: Any = "") -> dict[str, Any]:
    """The batch plan, or ``refused``: why not, ready for an ``assert``'s message."""
    try:
        chosen = plan.plan_batches(plain(hosts), plain(batch_size), plain(min_healthy))
    except plan.PlanRefused as error:
        return {"refused": str(error), "batch_size": 0, "min_in_service": 0, "text": ""}
    return {
        "refused": "",
        "batch_size": chosen.batch_size,
        "min_in_service": chosen.min_in_service,
        "batches": chosen.batches,
        "text": chosen.describe(),
    }


def deploy_canary_plan(setting: Any, balancers: Any) -> dict[str, Any]:
    """The canary's steps (percentages), or ``refused``: why not, for an ``assert``."""
    try:
        steps = canary.steps(plain(setting), len(plain(balancers) or []))
    except canary.CanaryRefused as error:
        return {"steps": [], "refused": str(error), "text": ""}
    # Whole percentages read as such in task names ("10", not "10.0").
    return {"steps": [int(step) if step.is_integer() else step for step in steps], "refused": "",
            "text": canary.describe(steps)}


def deploy_analysis_kpis(chosen: Any, system_kpis: Any, analysed: Any) -> dict[str, str]:
    """The plan's line for the chosen KPIs, or ``refused``: why not, for an ``assert``."""
    try:
        text = analysis.kpi_plan([str(name) for name in plain(chosen) or []],
                                 plain(system_kpis) or {}, boolean(analysed))
    except ValueError as error:
        return {"refused": str(error), "text": ""}
    return {"refused": "", "text": text}


def deploy_blue_green_plan(app: Any, balancers: Any, release: Any, switch_back: Any,
                          base_port: Any) -> dict[str, Any]:
    """The blue-green plan from each app server's colours and each balancer's colour."""
    return blue_green.plan_from_facts(plain(app) or {}, plain(balancers) or {},
                                      str(release or ""), boolean(switch_back), int(base_port))


def colour_port(colour: Any, base_port: Any) -> int:
    try:
        return blue_green.colour_port(int(base_port), str(colour))
    except blue_green.BlueGreenRefused as error:
        raise AnsibleFilterError(str(error)) from None


def other_colour(colour: Any) -> str:
    """The other colour; '' for '' (a balancer that never switched colours)."""
    if not plain(colour):
        return ""
    try:
        return blue_green.other(str(colour))
    except ValueError:
        raise AnsibleFilterError(f"tragen_other_colour: {colour!r} is not a colour") from None


def deploy_canary_weights(batch: Any, stable: Any, percent: Any) -> dict[str, int]:
    try:
        return canary.weights(plain(batch), plain(stable), float(percent))
    except canary.CanaryRefused as error:
        raise AnsibleFilterError(str(error)) from None


def deploy_earlier_unfinished(play_hosts: Any, batch: Any, finished: Any) -> list[str]:
    return batches.earlier_unfinished(plain(play_hosts), plain(batch), plain(finished) or [])


# The batch's facts on each host, under the names batches.HostOutcome gives them.
_OUTCOME_FACTS = {
    "result": "tragen_deploy_host_result",
    "error": "tragen_deploy_host_error",
    "back": "tragen_deploy_back_result",
    "restart_seconds": "tragen_deploy_restart_seconds",
}


def _outcomes(hostvars: Mapping[str, Any], hosts: list[str]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for host in hosts:
        facts = hostvars[host]
        found[host] = {
            key: plain(facts[fact]) for key, fact in _OUTCOME_FACTS.items() if fact in facts
        }
    return found


def deploy_judge(hostvars: Mapping[str, Any], batch: Any, reachable: Any) -> dict[str, str]:
    hosts = plain(reachable)
    return batches.judge(plain(batch), hosts, _outcomes(hostvars, hosts))


def deploy_batch_record(batch: Mapping[str, Any], hostvars: Mapping[str, Any]) -> dict[str, Any]:
    """``batch``: number, operation, target, hosts, reachable, started and ended (Unix times)."""
    args = plain(batch)
    return dict(
        batches.record(
            number=int(args["number"]),
            operation=str(args["operation"]),
            target=str(args["target"]),
            batch=args["hosts"],
            reachable=args["reachable"],
            outcomes=_outcomes(hostvars, args["reachable"]),
            started=float(args["started"]),
            ended=float(args["ended"]),
        )
    )


def _rollout(args: Mapping[str, Any]) -> summary.Rollout:
    values = plain(args)
    return summary.Rollout(
        operation=str(values["operation"]),
        target=str(values["target"]),
        batches=values.get("batches") or [],
        app_servers=values["app_servers"],
        finished=values.get("finished") or [],
        stop_reason=str(values.get("stop_reason") or "").strip(),
        stopped=bool(values.get("stopped")),
        has_balancer=bool(values.get("has_balancer", True)),
    )


def deploy_summary(rollout: Mapping[str, Any]) -> str:
    return summary.text(_rollout(rollout))


def deploy_failure(rollout: Mapping[str, Any], lock_host_unreachable: str = "") -> str:
    return summary.failure(_rollout(rollout), lock_host_unreachable=plain(lock_host_unreachable))


class FilterModule:
    """Ansible's entry point."""

    def filters(self) -> dict[str, Callable[..., Any]]:
        return {
            "tragen_size_to_bytes": size_to_bytes,
            "tragen_bytes_to_size": bytes_to_size,
            "tragen_allocate_resources": allocate_resources,
            "tragen_gunicorn_workers": gunicorn_workers,
            "tragen_postgresql_memory": postgresql_memory,
            "tragen_validate_config": validate_config,
            "tragen_stage_requirements": stage_requirements,
            "tragen_check_inventory": check_inventory_filter,
            "tragen_config_notice_summary": config_notice_summary,
            "tragen_release_id": release_id,
            "tragen_release_wheelhouse_refusal": wheelhouse_refusal,
            "tragen_monitoring_files": monitoring_files,
            "tragen_monitoring_missing_channels": missing_channels,
            "tragen_monitoring_app_targets": monitoring_app_targets,
            "tragen_deploy_plan": deploy_plan,
            "tragen_deploy_canary_plan": deploy_canary_plan,
            "tragen_deploy_canary_weights": deploy_canary_weights,
            "tragen_deploy_earlier_unfinished": deploy_earlier_unfinished,
            "tragen_deploy_judge": deploy_judge,
            "tragen_deploy_batch_record": deploy_batch_record,
            "tragen_deploy_summary": deploy_summary,
            "tragen_deploy_analysis_kpis": deploy_analysis_kpis,
            "tragen_deploy_failure": deploy_failure,
            "tragen_deploy_blue_green_plan": deploy_blue_green_plan,
            "tragen_colour_port": colour_port,
            "tragen_other_colour": other_colour,
        }

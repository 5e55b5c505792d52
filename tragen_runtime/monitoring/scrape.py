"""prometheus.yml from the configuration and the inventory.

One job per kind of target, each target labelled with its inventory `host` and `group`
(rules and the fleet page select by them). The runtime's /metrics answers on each app server's
own address; the exporters listen on their host's own address; Prometheus and Alertmanager are
scraped and reached over TLS with basic auth, like an operator reaches them.

The runtime's targets are a file (file_sd), not part of prometheus.yml: on a blue-green fleet
they follow the colour the balancers send traffic to (blue on the app port, green on the next),
and blue-green's switch rewrites that file alone, which Prometheus re-reads by itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tragen_runtime.deploy.blue_green import colour_port

from .schedule import Schedule

# job -> the inventory groups whose hosts it scrapes (the node exporter runs everywhere)
JOB_GROUPS: dict[str, tuple[str, ...]] = {
    "tragen_app": ("app_servers",),
    "postgres": ("db_primary", "db_replicas"),
    "redis": ("cache",),
    "nginx": ("lb",),
    "nginx_log": ("lb",),  # mtail over the balancer's upstream log
    "prometheus": ("monitoring",),
    "alertmanager": ("monitoring",),
    "notifier": ("monitoring",),
}
SECURED_JOBS = frozenset({"prometheus", "alertmanager"})


@dataclass(frozen=True)
class Host:
    name: str  # inventory hostname
    address: str  # tragen_private_address
    group: str


@dataclass(frozen=True)
class WebAuth:
    """How Prometheus reaches the TLS and basic-auth endpoints of the monitoring host."""

    username: str
    password_file: str
    ca_file: str


def hosts_by_group(groups: Mapping[str, Sequence[str]],
                   addresses: Mapping[str, str]) -> list[Host]:
    """Every host once, with the first tier group it is in (the inventory's order)."""
    seen: dict[str, Host] = {}
    for group in ("app_servers", "db_primary", "db_replicas", "cache", "lb", "monitoring"):
        for name in groups.get(group) or ():
            seen.setdefault(name, Host(name, addresses[name], group))
    return list(seen.values())


def app_targets(hosts: Sequence[Host], app_port: int, colour: str = "") -> list[dict[str, Any]]:
    """The runtime's targets (the file_sd file): every app server at the port of `colour`, the
    colour its balancers send traffic to ("" while the fleet runs its single unit, on the app
    port), labelled with it."""
    port = colour_port(app_port, colour) if colour else app_port
    extra = {"colour": colour} if colour else {}
    return [{"targets": [f"{h.address}:{port}"],
             "labels": {"host": h.name, "group": h.group, **extra}}
            for h in hosts if h.group in JOB_GROUPS["tragen_app"]]


def prometheus_config(config: Mapping[str, Any], hosts: Sequence[Host],
                      ports: Mapping[str, int], *, stage: str, auth: WebAuth,
                      rule_files: Sequence[str], app_targets_file: str) -> dict[str, Any]:
    """The whole prometheus.yml. `ports` maps every job and `node` to its port; the runtime's
    targets are read from `app_targets_file` (see app_targets)."""
    schedule = Schedule.from_config(config)
    jobs = [_job("node", hosts, ports["node"])]
    for job, groups in JOB_GROUPS.items():
        members = [h for h in hosts if h.group in groups]
        if job == "tragen_app" and members:
            jobs.append({"job_name": job, "file_sd_configs": [{"files": [app_targets_file]}]})
        elif members:
            jobs.append(_job(job, members, ports[job], auth if job in SECURED_JOBS else None))
    monitors = [h for h in hosts if h.group == "monitoring"]
    return {
        "global": {"scrape_interval": f"{schedule.scrape_seconds}s",
                   "evaluation_interval": f"{schedule.scrape_seconds}s",
                   "scrape_timeout": f"{max(1, min(10, schedule.scrape_seconds - 1))}s",
                   "external_labels": {"stage": stage}},
        "rule_files": list(rule_files),
        "alerting": {"alertmanagers": [{
            **_secured(auth),
            "static_configs": [{"targets": [f"{h.address}:{ports['alertmanager']}"
                                            for h in monitors]}],
        }]},
        "scrape_configs": jobs,
    }


def _secured(auth: WebAuth) -> dict[str, Any]:
    return {"scheme": "https",
            "basic_auth": {"username": auth.username, "password_file": auth.password_file},
            "tls_config": {"ca_file": auth.ca_file}}


def _job(job: str, hosts: Sequence[Host], port: int,
         auth: WebAuth | None = None) -> dict[str, Any]:
    return {
        "job_name": job,
        **(_secured(auth) if auth else {}),
        "static_configs": [{"targets": [f"{h.address}:{port}"],
                            "labels": {"host": h.name, "group": h.group}} for h in hosts],
    }

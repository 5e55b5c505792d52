"""The plan of a blue-green deploy: which colour is live, which one the release goes to, and
what the run will do, from what each app server and balancer says (pure: no I/O).

Each app server runs one gunicorn unit per colour (`tragen@blue`, `tragen@green`), blue on the
app port and green on the next one; its live-colour file says which colour takes agent leases
(tragen_runtime.colours), and each balancer's colour file says which colour's port its upstream
sends traffic to. A fleet that never ran blue-green has no colour anywhere: its single
`tragen.service` is handed over at the first switch.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tragen_runtime.colours import COLOURS


class BlueGreenRefused(ValueError):
    """The fleet's colours or the request make a blue-green run unsafe; nothing has changed."""


def colour_port(base_port: int, colour: str) -> int:
    """Blue listens on the app port, green on the next one."""
    if colour not in COLOURS:
        raise BlueGreenRefused(f"{colour!r} is not a colour; expected one of {', '.join(COLOURS)}")
    return int(base_port) + COLOURS.index(colour)


def other(colour: str) -> str:
    return COLOURS[1 - COLOURS.index(colour)]


@dataclass(frozen=True)
class AppServer:
    """What one app server says: its live-colour file ("" when it has none), the release each
    colour's link names ("" for none), and the release of the single unit's `current` link."""

    live: str = ""
    releases: Mapping[str, str] = field(default_factory=dict)
    single: str = ""


@dataclass(frozen=True)
class BlueGreenPlan:
    live: str  # "" while the fleet runs its single unit
    target: str  # the colour the run makes live
    releases: Mapping[str, str]  # app server -> the release the target colour runs
    switch_back: bool

    @property
    def first(self) -> bool:
        """The first blue-green run: the single unit hands over at the switch."""
        return not self.live

    def describe(self, base_port: int) -> str:
        port = colour_port(base_port, self.target)
        hosts = len(self.releases)
        named = sorted(set(self.releases.values()))
        if self.switch_back:
            return (f"Switch back: {self.live} is live; every balancer switches to {self.target} "
                    f"(port {port}), which runs {', '.join(named)} on {hosts} app servers and "
                    f"takes the agents over through their leases. {self.live} stays ready.")
        if self.first:
            return (f"Blue-green, first run: release {named[0]} goes to {self.target} (port "
                    f"{port}) on {hosts} app servers and is checked directly and through each "
                    f"balancer's preview listener; then every balancer switches to it, "
                    f"tragen.service stops and its release comes up in {other(self.target)} "
                    f"(port {colour_port(base_port, other(self.target))}), idle, ready for a "
                    "switch back.")
        return (f"Blue-green: {self.live} is live; release {named[0]} goes to {self.target} "
                f"(port {port}) on {hosts} app servers and is checked directly and through each "
                f"balancer's preview listener; then every balancer switches to it. {self.live} "
                "stays ready for a switch back.")


def live_colour(app: Mapping[str, AppServer], balancers: Mapping[str, str]) -> str:
    """The fleet's live colour ("" for none), refused when the hosts disagree: a switch that
    stopped half-way, or hand edits."""
    said = {**{host: state.live for host, state in app.items()}, **balancers}
    colours = sorted(set(said.values()))
    if len(colours) == 1 and colours[0] in ("", *COLOURS):
        return colours[0]
    if not any(state.live for state in app.values()) and set(balancers.values()) <= {"", "blue"}:
        return ""  # a first run that stopped before its switch: blue's port is the single unit's
    bad = sorted(f"{host} {colour!r}" for host, colour in said.items()
                 if colour not in ("", *COLOURS))
    if bad:
        raise BlueGreenRefused(f"a colour file names no colour: {', '.join(bad)}; expected "
                               f"{' or '.join(COLOURS)}")
    by_colour = {c or "none": sorted(h for h, s in said.items() if s == c) for c in colours}
    raise BlueGreenRefused(
        "the hosts disagree on the live colour ("
        + "; ".join(f"{c}: {', '.join(hosts)}" for c, hosts in by_colour.items())
        + "). A switch stopped half-way: when every balancer serves one colour, run "
        "blue_green.yml -e tragen_switch_back=true to put every host on the other one, then "
        "deploy again.")


def plan(app: Mapping[str, AppServer], balancers: Mapping[str, str], release: str,
         switch_back: bool) -> BlueGreenPlan:
    """What a run does: a deploy puts `release` in the idle colour (green on the first run), a
    switch back makes the idle colour live again with the release it still runs."""
    if not app:
        raise BlueGreenRefused("the inventory has no app servers")
    try:
        live = live_colour(app, balancers)
    except BlueGreenRefused:
        served = set(balancers.values())
        if not (switch_back and len(served) == 1 and served <= set(COLOURS)):
            raise
        live = served.pop()  # a switch stopped half-way: what the balancers serve is live
    if switch_back:
        if not live:
            raise BlueGreenRefused("nothing to switch back to: this fleet has not run "
                                   "blue-green yet (no host has a live colour)")
        target = other(live)
        releases = {host: state.releases.get(target, "") for host, state in app.items()}
        empty = sorted(host for host, name in releases.items() if not name)
        if empty:
            raise BlueGreenRefused(f"{target} holds no release on {', '.join(empty)}: "
                                   "nothing to switch back to there")
        return BlueGreenPlan(live, target, releases, switch_back=True)
    if not release:
        raise BlueGreenRefused("no release id: give -e tragen_app_release_id or let the "
                               "playbook derive it")
    if not live:
        bare = sorted(host for host, state in app.items() if not state.single)
        if bare:
            raise BlueGreenRefused(f"{', '.join(bare)} run no release yet: run site.yml first, "
                                   "then blue_green.yml for the next release")
    target = other(live) if live else COLOURS[1]
    return BlueGreenPlan(live, target, {host: release for host in app}, switch_back=False)


def plan_from_facts(app: Mapping[str, Mapping[str, Any]], balancers: Mapping[str, str],
                    release: str, switch_back: bool, base_port: int) -> dict[str, object]:
    """The plan for a playbook from each app server's tragen_app_colours {live, releases,
    single}: {live, target, idle, back, releases, first, ports, text, done, switched_back,
    refused}."""
    servers = {host: AppServer(live=str(facts.get("live") or ""),
                               releases={str(c): str(r or "") for c, r in
                                         (facts.get("releases") or {}).items()},
                               single=str(facts.get("single") or ""))
               for host, facts in app.items()}
    try:
        chosen = plan(servers, balancers, release, switch_back)
    except BlueGreenRefused as refused:
        return {"refused": f"Blue-green refused, nothing changed: {refused}"}
    back = chosen.live or other(chosen.target)
    named = ", ".join(sorted(set(chosen.releases.values())))
    return {"live": chosen.live, "target": chosen.target, "idle": other(chosen.target),
            "back": back, "releases": dict(chosen.releases), "first": chosen.first,
            "ports": {c: colour_port(base_port, c) for c in COLOURS},
            "text": chosen.describe(base_port), "refused": "",
            "done": (f"{chosen.target} is live with release {named} on {len(chosen.releases)} "
                     f"app servers; {back} stays ready, idle: switch back with "
                     "playbooks/blue_green.yml -e tragen_switch_back=true."),
            "switched_back": (f"Switched back: {back} is live again; {chosen.target} keeps "
                              f"release {named}, idle, for a look at what failed.")}

"""The blue-green plan (tragen_runtime.deploy.blue_green), case by case."""

from __future__ import annotations

import pytest

from tragen_runtime.deploy.blue_green import (
    AppServer,
    BlueGreenRefused,
    colour_port,
    plan,
    plan_from_facts,
)

SINGLE = {"app1": AppServer(single="r1"), "app2": AppServer(single="r1")}


def coloured(live: str, blue: str = "r1", green: str = "r2") -> dict[str, AppServer]:
    return {host: AppServer(live=live, releases={"blue": blue, "green": green}, single="r0")
            for host in ("app1", "app2")}


def test_ports_blue_on_the_app_port_green_on_the_next() -> None:
    assert colour_port(8000, "blue") == 8000
    assert colour_port(8000, "green") == 8001
    with pytest.raises(BlueGreenRefused, match="'red' is not a colour"):
        colour_port(8000, "red")


def test_first_run_goes_to_green_and_hands_the_single_unit_over() -> None:
    chosen = plan(SINGLE, {"lb1": ""}, "r2", switch_back=False)
    assert (chosen.live, chosen.target, chosen.first) == ("", "green", True)
    assert chosen.releases == {"app1": "r2", "app2": "r2"}
    text = chosen.describe(8000)
    assert "first run" in text and "tragen.service stops" in text and "blue (port 8000)" in text


def test_a_deploy_goes_to_the_idle_colour() -> None:
    assert plan(coloured("green"), {"lb1": "green"}, "r3", switch_back=False).target == "blue"
    chosen = plan(coloured("blue"), {"lb1": "blue", "lb2": "blue"}, "r3", switch_back=False)
    assert (chosen.live, chosen.target, chosen.first) == ("blue", "green", False)
    assert "blue stays ready for a switch back" in chosen.describe(8000)


def test_switch_back_makes_the_idle_colour_live_with_the_release_it_runs() -> None:
    chosen = plan(coloured("green", blue="r1"), {"lb1": "green"}, "", switch_back=True)
    assert (chosen.target, chosen.switch_back) == ("blue", True)
    assert chosen.releases == {"app1": "r1", "app2": "r1"}
    assert chosen.describe(8000).startswith("Switch back: green is live")


def test_switch_back_refused_without_colours_or_without_a_release_in_the_idle_colour() -> None:
    with pytest.raises(BlueGreenRefused, match="not run blue-green yet"):
        plan(SINGLE, {"lb1": ""}, "", switch_back=True)
    with pytest.raises(BlueGreenRefused, match="blue holds no release on app1, app2"):
        plan(coloured("green", blue=""), {"lb1": "green"}, "", switch_back=True)


def test_hosts_that_disagree_are_refused_with_who_says_what() -> None:
    half = {"app1": AppServer(live="green", releases={"blue": "r1", "green": "r2"}),
            "app2": AppServer(live="blue", releases={"blue": "r1", "green": "r2"})}
    with pytest.raises(BlueGreenRefused, match=r"blue: app2; green: app1, lb1\). .* run "
                       r"blue_green.yml -e tragen_switch_back=true to put every host on the "
                       r"other one, then deploy again"):
        plan(half, {"lb1": "green"}, "r3", switch_back=False)
    # a switch back after a half-way switch goes to the colour the balancers do not serve
    assert plan(half, {"lb1": "green"}, "", switch_back=True).target == "blue"
    with pytest.raises(BlueGreenRefused, match="names no colour: app1 'red'"):
        plan({"app1": AppServer(live="red")}, {}, "r3", switch_back=False)


def test_first_run_refused_on_a_server_without_a_release() -> None:
    with pytest.raises(BlueGreenRefused, match="app2 run no release yet: run site.yml first"):
        plan({"app1": AppServer(single="r1"), "app2": AppServer()}, {}, "r2", switch_back=False)
    with pytest.raises(BlueGreenRefused, match="no release id"):
        plan(SINGLE, {}, "", switch_back=False)


def test_plan_from_facts_for_the_playbook() -> None:
    facts = {"app1": {"live": "", "releases": {"blue": "", "green": ""}, "single": "r1"}}
    chosen = plan_from_facts(facts, {"lb1": ""}, "r2", switch_back=False, base_port=8000)
    assert chosen["refused"] == ""
    assert (chosen["target"], chosen["idle"], chosen["first"]) == ("green", "blue", True)
    assert chosen["ports"] == {"blue": 8000, "green": 8001}
    assert chosen["back"] == "blue"  # the single unit's release comes up in blue
    assert str(chosen["done"]).startswith("green is live with release r2 on 1 app servers; blue")
    refused = plan_from_facts(facts, {"lb1": ""}, "", switch_back=True, base_port=8000)
    assert str(refused["refused"]).startswith("Blue-green refused, nothing changed: nothing to")


def test_a_first_run_that_stopped_before_its_switch_is_still_a_first_run() -> None:
    # the balancers took blue (the single unit's port) for their preview listener, nothing more
    chosen = plan(SINGLE, {"lb1": "blue", "lb2": ""}, "r2", switch_back=False)
    assert (chosen.live, chosen.target, chosen.first) == ("", "green", True)

"""``tragen-config``: validate configurations, check an inventory, plan a stage.

    tragen-config validate PATH [PATH ...] [--stage STAGE] [--var NAME]
    tragen-config check INVENTORY_DIR
    tragen-config explain '$.json.path' | --not-acted-on
    tragen-config plan --inventory INVENTORY_DIR [--avg-profit-factor F] [--api-calls-per-day N]
    tragen-config plan CONFIG --stage STAGE [--app-servers N] [--cores N] [--memory-gb N] ...

Exit 0: all good. Exit 1: a file is invalid or cannot be parsed, an inventory check failed,
or a plan does not fit or exceeds a budget. Exit 2: usage error or a file that cannot be read.
Problems go to standard error, one per line: ``PATH: <location>: <message>``. A valid file's
notes (keys not acted on in this release among them) go to standard output, one per line:
``PATH: <location>: note: <message>``. ``explain`` exits 0 for a known key, 1 for an unknown one.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .explain import explain, not_acted_on_table
from .inventory import InventoryError, read_inventory
from .inventory_checks import check_inventory
from .keypaths import PathSyntaxError
from .notices import notices
from .parsing import read_document
from .planning import Host, app_hosts, default_hosts, make_plan
from .problem import Problem, json_path
from .stages import STAGES, check_stage_requirements
from .validation import validate_document

OK, INVALID, USAGE = 0, 1, 2


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # argparse exits 2 on a usage error, 0 after --help
        return stop.code if isinstance(stop.code, int) else USAGE
    status: int = args.run(args)
    return status


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tragen-config", description="Validate and plan Tragen configurations."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    validate = commands.add_parser("validate", help="validate configuration files")
    validate.add_argument("paths", nargs="+", metavar="PATH", help="YAML or JSON file")
    validate.add_argument(
        "--stage", choices=list(STAGES), help="also check what a deploy of this stage needs"
    )
    validate.add_argument(
        "--var",
        metavar="NAME",
        help="validate the value of this variable of each file "
        "(e.g. tragen_config in an inventory's group_vars)",
    )
    validate.set_defaults(run=_validate)

    check = commands.add_parser(
        "check", help="validate an inventory's configuration, stage needs and hosts"
    )
    check.add_argument("inventory", type=Path, metavar="INVENTORY_DIR")
    check.set_defaults(run=_check)

    explainer = commands.add_parser(
        "explain", help="what acts on a configuration key, or why nothing does"
    )
    explainer.add_argument(
        "path", nargs="?", metavar="PATH", help="a JSON path such as '$.production.max_agents'"
    )
    explainer.add_argument(
        "--not-acted-on",
        action="store_true",
        help="print the markdown table of the keys nothing acts on in this release",
    )
    explainer.set_defaults(run=_explain)

    plan = commands.add_parser("plan", help="resources, cost and fit of a stage")
    plan.add_argument("config", nargs="?", type=Path, metavar="CONFIG", help="a config file")
    plan.add_argument("--inventory", type=Path, metavar="DIR", help="an inventory directory")
    plan.add_argument("--stage", choices=list(STAGES), help="the stage (with CONFIG)")
    plan.add_argument("--app-servers", type=_positive_int, metavar="N", help="(with CONFIG)")
    plan.add_argument("--cores", type=_positive_float, metavar="N", help="cores per app server")
    plan.add_argument(
        "--memory-gb", type=_positive_float, metavar="N", help="memory (GB) per app server"
    )
    plan.add_argument("--avg-profit-factor", type=float, default=1.0, metavar="F")
    plan.add_argument("--api-calls-per-day", type=_positive_int, metavar="N")
    plan.set_defaults(run=_plan)
    return parser


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a whole number > 0, found {text}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, found {text}")
    return value


def _report(source: object, problems: Iterable[Problem]) -> None:
    for problem in problems:
        print(f"{source}: {problem.location}: {problem.message}", file=sys.stderr)


def _validate(args: argparse.Namespace) -> int:
    status = OK
    for path in args.paths:
        try:
            doc, problems = read_document(path)
        except OSError as error:
            print(f"{path}: cannot read: {error.strerror or error}", file=sys.stderr)
            status = USAGE
            continue
        if not problems and args.var:
            doc, problems = _variable(doc, args.var)
        if not problems:
            problems = validate_document(doc)
            if args.stage and isinstance(doc, Mapping):
                problems += check_stage_requirements(doc, args.stage)
        if problems:
            _report(path, problems)
            status = max(status, INVALID)
        else:
            sections = len(doc) if isinstance(doc, Mapping) else 0
            print(f"{path}: valid ({sections} section{'s' if sections != 1 else ''})")
            _notes(path, doc)
    return status


def _notes(source: object, doc: object,
           groups: Mapping[str, list[str]] | None = None) -> None:
    for note in notices(doc, groups):
        print(f"{source}: {note.location}: note: {note.message}")


def _variable(doc: object, name: str) -> tuple[object, list[Problem]]:
    if isinstance(doc, Mapping) and name in doc:
        return doc[name], []
    return None, [Problem(json_path((name,)), f"expected variable {name!r}, found none")]


def _check(args: argparse.Namespace) -> int:
    try:
        inventory = read_inventory(args.inventory)
    except InventoryError as error:
        print(error, file=sys.stderr)
        return USAGE
    config = inventory.config
    problems = validate_document(config)
    if isinstance(config, Mapping):
        problems += check_stage_requirements(config, inventory.stage)
        problems += check_inventory(inventory.as_mapping(), config)
    if problems:
        _report(args.inventory, problems)
        return INVALID
    hosts = len(inventory.groups.get("all", []))
    print(f"{args.inventory}: ready to deploy (stage {inventory.stage}, {hosts} hosts)")
    _notes(args.inventory, config, inventory.groups)
    return OK


def _explain(args: argparse.Namespace) -> int:
    if (args.path is not None) == args.not_acted_on:
        print(
            "tragen-config explain: give either a JSON path such as '$.production.max_agents' "
            "or --not-acted-on",
            file=sys.stderr,
        )
        return USAGE
    if args.not_acted_on:
        print(not_acted_on_table(), end="")
        return OK
    try:
        explanation = explain(args.path)
    except PathSyntaxError as error:
        print(f"tragen-config explain: {error}", file=sys.stderr)
        return USAGE
    for line in explanation.lines:
        print(line, file=sys.stdout if explanation.known else sys.stderr)
    return OK if explanation.known else INVALID


def _plan(args: argparse.Namespace) -> int:
    if (args.inventory is None) == (args.config is None):
        print("tragen-config plan: give either --inventory DIR or CONFIG", file=sys.stderr)
        return USAGE
    if args.config is not None and args.stage is None:
        print("tragen-config plan: CONFIG needs --stage", file=sys.stderr)
        return USAGE
    try:
        source, stage, config, hosts = (
            _from_inventory(args) if args.inventory else _from_config(args)
        )
    except (InventoryError, OSError) as error:
        print(error, file=sys.stderr)
        return USAGE
    except _Unparseable as error:
        _report(args.config, error.problems)
        return INVALID
    problems = validate_document(config)
    if problems or not isinstance(config, Mapping):
        _report(source, problems)
        return INVALID
    plan = make_plan(config, hosts, args.avg_profit_factor, args.api_calls_per_day)
    print(f"{source}: plan for stage {stage}")
    for line in plan.lines:
        print(f"  {line}")
    _report(source, plan.problems)
    return INVALID if plan.problems else OK


def _from_inventory(args: argparse.Namespace) -> tuple[str, str, object, list[Host]]:
    inventory = read_inventory(args.inventory)
    stage = inventory.stage
    if stage not in STAGES:
        raise InventoryError(
            f"{args.inventory}: expected a stage of {', '.join(STAGES)}, found {stage!r}"
        )
    hosts = app_hosts(stage, inventory.groups, inventory.hostvars)
    return str(args.inventory), stage, inventory.config, _resized(hosts, args)


class _Unparseable(Exception):
    def __init__(self, problems: list[Problem]) -> None:
        super().__init__()
        self.problems = problems


def _from_config(args: argparse.Namespace) -> tuple[str, str, object, list[Host]]:
    doc, problems = read_document(args.config)
    if problems:
        raise _Unparseable(problems)
    servers = doc.get("servers") if isinstance(doc, Mapping) else None
    count = args.app_servers or _configured_servers(servers) or 1
    return str(args.config), args.stage, doc, _resized(default_hosts(args.stage, count), args)


def _configured_servers(servers: Any) -> int | None:
    value = servers.get("app_servers") if isinstance(servers, Mapping) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _resized(hosts: list[Host], args: argparse.Namespace) -> list[Host]:
    """Hosts with --cores/--memory-gb applied where given."""
    return [
        Host(host.name, args.cores or host.cores, args.memory_gb or host.memory_gb)
        for host in hosts
    ]


if __name__ == "__main__":
    sys.exit(main())

"""Read an inventory directory (``inventories/<stage>``) without Ansible.

Layout read: ``hosts.yml`` (YAML inventory: ``all`` with ``hosts``, ``vars``, ``children``),
``group_vars/<group>.yml`` or ``group_vars/<group>/*.yml`` and the same under ``host_vars``.
Variables merge in Ansible's order for these sources: inventory ``all`` vars, group_vars/all,
then per group (in file order) inventory group vars and group_vars/<group>, then inline host
vars, then host_vars/<host>. Jinja expressions are left as written; ``!vault`` values are kept
as their (encrypted) text.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .inventory_checks import STAGE_VAR
from .parsing import StrictSafeLoader

CONFIG_VAR = "tragen_config"


class InventoryError(ValueError):
    """An inventory that cannot be read: a missing hosts.yml or a YAML syntax error."""


class _InventoryLoader(StrictSafeLoader):
    """Safe loader that accepts Ansible's ``!vault`` and ``!unsafe`` scalars as text."""


def _scalar(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    return loader.construct_scalar(node)  # type: ignore[arg-type]


_InventoryLoader.add_constructor("!vault", _scalar)
_InventoryLoader.add_constructor("!unsafe", _scalar)


@dataclass(frozen=True)
class Inventory:
    """Groups (with their hosts, children included) and the merged variables per host."""

    directory: Path
    groups: dict[str, list[str]]
    hostvars: dict[str, dict[str, Any]]
    all_vars: dict[str, Any] = field(default_factory=dict)

    def as_mapping(self) -> dict[str, Any]:
        """The ``{"groups": ..., "hostvars": ...}`` shape ``check_inventory`` reads."""
        return {"groups": self.groups, "hostvars": self.hostvars}

    @property
    def stage(self) -> str:
        """The ``tragen_stage`` group var, else the directory's name."""
        return str(self.all_vars.get(STAGE_VAR, self.directory.name))

    @property
    def config(self) -> object:
        """The Tragen configuration: the ``tragen_config`` group var (None when absent)."""
        return self.all_vars.get(CONFIG_VAR)


def load_yaml(path: Path) -> Any:
    """One YAML file of an inventory; InventoryError with its line on a syntax error."""
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_InventoryLoader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "?"
        raise InventoryError(f"{path}: {where}: invalid YAML: {error.problem}") from error
    except OSError as error:
        raise InventoryError(f"{path}: cannot read: {error.strerror}") from error


def _vars_in(folder: Path, name: str) -> dict[str, Any]:
    """Variables of ``<folder>/<name>.yml`` and ``<folder>/<name>/*.yml``, in name order."""
    merged: dict[str, Any] = {}
    candidates = [folder / f"{name}.yml", folder / f"{name}.yaml"]
    if (folder / name).is_dir():
        candidates += sorted((folder / name).glob("*.yml")) + sorted((folder / name).glob("*.yaml"))
    for path in candidates:
        if path.is_file():
            data = load_yaml(path)
            if isinstance(data, Mapping):
                merged.update(data)
            elif data is not None:
                raise InventoryError(f"{path}: expected a mapping of variables")
    return merged


@dataclass
class _Tree:
    """What hosts.yml says: members, inline vars and children of every group."""

    hosts: dict[str, list[str]] = field(default_factory=dict)
    group_vars: dict[str, dict[str, Any]] = field(default_factory=dict)
    host_vars: dict[str, dict[str, Any]] = field(default_factory=dict)
    children: dict[str, list[str]] = field(default_factory=dict)

    def walk(self, name: str, body: object) -> None:
        body = body if isinstance(body, Mapping) else {}
        self.hosts.setdefault(name, [])
        self.children.setdefault(name, [])
        self.group_vars.setdefault(name, {}).update(body.get("vars") or {})
        for host, values in (body.get("hosts") or {}).items():
            self.hosts[name].append(str(host))
            self.host_vars.setdefault(str(host), {}).update(values or {})
        for child, child_body in (body.get("children") or {}).items():
            self.children[name].append(str(child))
            self.walk(str(child), child_body)

    def members(self, group: str) -> list[str]:
        found = list(self.hosts.get(group, []))
        for child in self.children.get(group, []):
            found += self.members(child)
        return list(dict.fromkeys(found))


def read_inventory(directory: str | Path) -> Inventory:
    """Read ``hosts.yml`` and the group/host variables of an inventory directory."""
    root = Path(directory)
    hosts_file = next(
        (path for path in (root / "hosts.yml", root / "hosts.yaml") if path.is_file()), None
    )
    if hosts_file is None:
        raise InventoryError(f"{root}: expected a hosts.yml inventory, found none")
    data = load_yaml(hosts_file)
    tree = _Tree()
    tree.walk("all", data.get("all") if isinstance(data, Mapping) else {})
    group_names = [name for name in tree.hosts if name != "all"]
    groups = {name: tree.members(name) for name in group_names}
    groups["all"] = tree.members("all")
    all_vars = {**tree.group_vars.get("all", {}), **_vars_in(root / "group_vars", "all")}
    hostvars: dict[str, dict[str, Any]] = {}
    for host in groups["all"]:
        values = dict(all_vars)
        for name in group_names:
            if host in groups[name]:
                values.update(tree.group_vars.get(name, {}))
                values.update(_vars_in(root / "group_vars", name))
        values.update(tree.host_vars.get(host, {}))
        values.update(_vars_in(root / "host_vars", host))
        hostvars[host] = values
    return Inventory(root, groups, hostvars, all_vars)

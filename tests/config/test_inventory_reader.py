"""Reading an inventory directory: hosts.yml, group_vars and host_vars."""

from __future__ import annotations

from pathlib import Path

import pytest

from tragen_runtime.config.inventory import InventoryError, read_inventory

HOSTS = """\
all:
  vars:
    ansible_user: deploy
  children:
    app_servers:
      vars:
        tragen_host_cores: 8
      hosts:
        app1: {tragen_private_address: 127.0.5.11}
        app2:
          tragen_private_address: 127.0.5.12
          tragen_host_cores: 16
    db_primary:
      hosts:
        db1: {tragen_private_address: 127.0.5.21}
    db_replicas:
      hosts: {}
    databases:
      children:
        db_primary:
"""


def write_inventory(root: Path) -> Path:
    (root / "group_vars" / "all").mkdir(parents=True)
    (root / "host_vars").mkdir()
    (root / "hosts.yml").write_text(HOSTS)
    (root / "group_vars" / "all" / "tragen.yml").write_text(
        "tragen_stage: medium\ntragen_config:\n  production: {max_agents: 100}\n"
    )
    (root / "group_vars" / "all" / "secrets.yml").write_text(
        "tragen_admin_token: !vault |\n  $ANSIBLE_VAULT;1.1;AES256\n  6162\n"
    )
    (root / "group_vars" / "db_primary.yml").write_text("tragen_host_memory_gb: 64\n")
    (root / "host_vars" / "app1.yml").write_text("tragen_host_cores: 4\n")
    return root


def test_groups_vars_and_precedence(tmp_path: Path) -> None:
    inventory = read_inventory(write_inventory(tmp_path / "medium"))
    assert inventory.stage == "medium"
    assert inventory.config == {"production": {"max_agents": 100}}
    assert inventory.groups["app_servers"] == ["app1", "app2"]
    assert inventory.groups["db_replicas"] == []
    assert inventory.groups["databases"] == ["db1"]
    assert inventory.groups["all"] == ["app1", "app2", "db1"]
    assert inventory.hostvars["app1"]["tragen_host_cores"] == 4  # host_vars file
    assert inventory.hostvars["app2"]["tragen_host_cores"] == 16  # inline host var
    assert inventory.hostvars["db1"]["tragen_host_memory_gb"] == 64  # group_vars/<group>
    assert inventory.hostvars["db1"]["ansible_user"] == "deploy"
    assert str(inventory.hostvars["db1"]["tragen_admin_token"]).startswith("$ANSIBLE_VAULT")
    assert inventory.as_mapping()["groups"] is inventory.groups


def test_missing_hosts_file(tmp_path: Path) -> None:
    with pytest.raises(InventoryError, match="expected a hosts.yml"):
        read_inventory(tmp_path)


def test_yaml_error_in_group_vars_names_file_and_line(tmp_path: Path) -> None:
    root = write_inventory(tmp_path / "medium")
    (root / "group_vars" / "all" / "tragen.yml").write_text("tragen_config: [\n")
    with pytest.raises(InventoryError, match=r"tragen.yml: line 2, column 1: invalid YAML"):
        read_inventory(root)


REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("stage", ["single", "small", "medium", "enterprise"])
def test_the_projects_inventories_hold_valid_configurations(stage: str) -> None:
    from tragen_runtime.config import check_stage_requirements, validate_document

    root = REPO / "inventories" / stage
    if not (root / "hosts.yml").exists():
        pytest.skip(f"{root} is not there yet")
    inventory = read_inventory(root)
    assert inventory.stage == stage
    assert validate_document(inventory.config) == []
    assert check_stage_requirements(inventory.config, stage) == []

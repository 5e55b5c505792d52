"""The host layout (/opt/tragen, /etc/tragen, /var/lib/tragen, /var/log/tragen) is named once,
in roles/tragen_layout; every role that uses it depends on that role and derives from it."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROLES = Path(__file__).resolve().parents[2] / "roles"
LAYOUT = yaml.safe_load((ROLES / "tragen_layout/defaults/main.yml").read_text())
# A layout path as a whole word: /opt/tragen-notifier (the monitoring host's own) is another path.
NAMED = re.compile("|".join(re.escape(path) + r"(?![\w-])" for path in LAYOUT.values()
                           if path.startswith("/")))


def role_files() -> list[Path]:
    return sorted(path for path in ROLES.glob("*/**/*")
                  if path.is_file() and path.suffix in {".yml", ".j2", ".py"}
                  and path.relative_to(ROLES).parts[0] != "tragen_layout")


def test_the_layout_names_every_path_once() -> None:
    assert set(LAYOUT) == {"tragen_layout_app_root", "tragen_layout_config_dir",
                           "tragen_layout_state_dir", "tragen_layout_log_dir",
                           "tragen_layout_live_colour_file",
                           "tragen_layout_balancer_colour_file"}
    assert len(set(LAYOUT.values())) == len(LAYOUT)


def test_no_other_role_file_spells_a_layout_path() -> None:
    spelled = [f"{path.relative_to(ROLES)}:{number}: {line.strip()}"
               for path in role_files()
               for number, line in enumerate(path.read_text().splitlines(), start=1)
               if NAMED.search(line)]
    assert spelled == [], "derive these from tragen_layout_*:\n" + "\n".join(spelled)


def test_the_roles_that_use_the_layout_depend_on_it() -> None:
    users = {path.parts[len(ROLES.parts)] for path in role_files()
             if "tragen_layout_" in path.read_text()}
    assert users == {"tragen_base", "tragen_app", "tragen_deploy", "tragen_nginx",
                     "tragen_monitoring"}
    for role in users:
        meta = yaml.safe_load((ROLES / role / "meta/main.yml").read_text())
        assert {"role": "tragen_layout"} in meta["dependencies"], role

"""The `medium` stage deployed in the sandbox, shared by the stage tests of one session.

Set TRAGEN_STAGE_SANDBOX=<name> to run the tests against a medium sandbox that is already up
and deployed under that name (the sandbox's octet in TRAGEN_STAGE_OCTET); otherwise the session
brings up its own copy, deploys it with playbooks/site.yml, and removes it at the end.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.sandbox.conftest import sandbox_image  # noqa: F401  (session check for the image)
from tests.sandbox.sandbox import Sandbox, run

pytestmark = pytest.mark.sandbox

@pytest.fixture(scope="session")
def medium() -> Iterator[Sandbox]:
    given = os.environ.get("TRAGEN_STAGE_SANDBOX")
    if given:
        yield Sandbox(
            stage="medium", name=given, octet=int(os.environ.get("TRAGEN_STAGE_OCTET", "3"))
        )
        return
    sandbox = Sandbox(stage="medium", name="pytest-medium", octet=44)
    sandbox.down()
    up = sandbox.up()
    assert up.returncode == 0, up.stdout[-4000:]
    try:
        site = sandbox.playbook("playbooks/site.yml")
        assert site.returncode == 0, site.stdout[-6000:] + site.stderr[-2000:]
        yield sandbox
    finally:
        down = sandbox.down()
        assert down.returncode == 0, down.stdout[-3000:]
        assert sandbox.containers() == []
        assert run(["pgrep", "-f", f"tragen-{sandbox.name}-"]).stdout == ""

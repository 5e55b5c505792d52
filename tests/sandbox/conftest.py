from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.sandbox.sandbox import run


@pytest.fixture(scope="session", autouse=True)
def sandbox_image() -> None:
    """The sandbox tests need podman and the image that scripts/test.sh builds."""
    if shutil.which("podman") is None:
        pytest.fail("podman is not installed: run ./scripts/test.sh, which installs it")
    result = run(["podman", "image", "exists", "localhost/tragen-sandbox:latest"])
    if result.returncode != 0:
        raise subprocess.SubprocessError(
            "the sandbox image is missing: run sandbox/build-image.sh (scripts/test.sh does)"
        )

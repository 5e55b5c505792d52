"""The wheelhouse archive that tragen_app ships to each host (files/wheelhouse_complete.py)."""

from __future__ import annotations

import tarfile
from pathlib import Path
from types import ModuleType

import pytest

from tests.roles.role_files import load_role_file


@pytest.fixture(scope="module")
def script() -> ModuleType:
    return load_role_file("tragen_app/files/wheelhouse_complete.py")


@pytest.fixture
def wheelhouse(tmp_path: Path) -> Path:
    house = tmp_path / "v7"
    house.mkdir()
    for name in ("zeta-1.0-py3-none-any.whl", "alpha-2.0-py3-none-any.whl", ".complete"):
        (house / name).write_text(name)
    return house


def names(archive: Path) -> list[str]:
    with tarfile.open(archive) as tar:
        return tar.getnames()


def test_the_marker_is_packed_last(script: ModuleType, wheelhouse: Path) -> None:
    assert script.archive(wheelhouse) is True
    assert names(wheelhouse.with_name("v7.tar")) == [
        "alpha-2.0-py3-none-any.whl",
        "zeta-1.0-py3-none-any.whl",
        ".complete",
    ]


def test_an_up_to_date_archive_is_left_alone(script: ModuleType, wheelhouse: Path) -> None:
    script.archive(wheelhouse)
    written = wheelhouse.with_name("v7.tar").stat().st_mtime_ns
    assert script.archive(wheelhouse) is False
    assert wheelhouse.with_name("v7.tar").stat().st_mtime_ns == written


def test_a_wheel_added_for_a_host_is_packed_too(script: ModuleType, wheelhouse: Path) -> None:
    script.archive(wheelhouse)
    (wheelhouse / "async_timeout-4.0-py3-none-any.whl").write_text("added")
    assert script.archive(wheelhouse) is True
    assert "async_timeout-4.0-py3-none-any.whl" in names(wheelhouse.with_name("v7.tar"))
    assert not wheelhouse.with_name("v7.tar.partial").exists()

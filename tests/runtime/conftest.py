"""Session fixtures for the runtime's integration tests (real PostgreSQL and Redis)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from tests.runtime.services import (
    PG_BIN,
    Postgres,
    Redis,
    postgres_replica,
    postgres_server,
    redis_server,
)


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    if not (PG_BIN / "postgres").exists():
        pytest.skip(f"PostgreSQL binaries not found under {PG_BIN}")
    with postgres_server() as server:
        yield server


@pytest.fixture(scope="module")
def replica(postgres: Postgres) -> Iterator[Postgres]:
    """A streaming hot standby of the session's PostgreSQL."""
    with postgres_replica(postgres) as server:
        yield server


@pytest.fixture(scope="session")
def redis() -> Iterator[Redis]:
    if not shutil.which("redis-server") and not __import__("os").path.exists(
            "/usr/bin/redis-server"):
        pytest.skip("redis-server not installed")
    with redis_server() as server:
        yield server

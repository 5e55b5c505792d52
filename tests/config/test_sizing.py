"""tragen_runtime.sizing: pure arithmetic."""

from __future__ import annotations

import pytest

from tragen_runtime.config import Problem
from tragen_runtime.sizing import (
    allocate_resources,
    format_size,
    gunicorn_workers,
    parse_size,
    pool_budget,
    postgresql_memory,
)

GB = 1024**3


@pytest.mark.parametrize(
    ("text", "size"),
    [("4GB", 4 * GB), ("500MB", 500 * 1024**2), ("25MB", 25 * 1024**2), ("1TB", 1024 * GB),
     ("512B", 512), ("8KB", 8192), ("1.5GB", 3 * GB // 2), ("2gb", 2 * GB)],
)  # fmt: skip
def test_parse_size(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["4", "4 gigabytes", "GB", "-1GB", "4PB", ""])
def test_parse_size_refuses_what_is_not_a_size(text: str) -> None:
    with pytest.raises(ValueError, match="expected a size such as '4GB'"):
        parse_size(text)


def test_format_size_uses_the_largest_whole_unit() -> None:
    assert format_size(4 * GB) == "4GB"
    assert format_size(1536 * 1024**2) == "1536MB"
    assert format_size(0) == "0B"
    assert format_size(1000) == "1000B"
    assert parse_size(format_size(123 * 1024**2)) == 123 * 1024**2
    with pytest.raises(ValueError):
        format_size(-1)


def test_allocate_resources_is_the_guides_arithmetic() -> None:
    assert allocate_resources(5, {"avg_profit_factor": 1.0}) == {
        "cpu_cores": 2, "memory_gb": 4, "storage_gb": 20,
    }  # fmt: skip
    assert allocate_resources(100, {"avg_profit_factor": 1.5}) == {
        "cpu_cores": 10, "memory_gb": 10.0, "storage_gb": 50.0,
    }  # fmt: skip
    bonus = allocate_resources(1000, {"avg_profit_factor": 1.6})
    assert bonus == {"cpu_cores": 100 * 1.2, "memory_gb": 100.0 * 1.3, "storage_gb": 500.0}


def test_gunicorn_workers_from_each_profile() -> None:
    single = {"workers": 1, "threads_per_worker": 4, "async_tasks": True}
    multi = {"workers": 4, "threads_per_worker": 8}
    distributed = {"servers": 8, "workers_per_server": 8}
    assert gunicorn_workers(single, 2) == {"workers": 1, "threads": 4}
    assert gunicorn_workers(multi, 16) == {"workers": 4, "threads": 8}
    assert gunicorn_workers(distributed, 32) == {"workers": 8, "threads": 1}
    assert gunicorn_workers(distributed, 2) == {"workers": 5, "threads": 1}  # 2 * 2 + 1
    assert gunicorn_workers({"workers": 0}, 0) == {"workers": 1, "threads": 1}


def test_postgresql_memory_in_postgresql_units() -> None:
    assert postgresql_memory("64GB") == {
        "shared_buffers": "16384MB",
        "effective_cache_size": "49152MB",
        "work_mem": "163MB",
        "maintenance_work_mem": "2048MB",
    }
    capped = postgresql_memory("64GB", host_memory_bytes=4 * GB)
    assert capped["shared_buffers"] == "1024MB"
    assert capped["effective_cache_size"] == "3072MB"
    assert capped["maintenance_work_mem"] == "256MB"
    assert postgresql_memory("64MB")["work_mem"] == "4MB"


def test_pool_budget() -> None:
    assert pool_budget(4, 4, 10, 200) is None
    assert pool_budget(8, 8, 5, 200) == Problem(
        "$.database.max_connections",
        "expected at least 330 connections (8 app servers x 8 workers x pool of 5 + 10 reserved),"
        " found max_connections 200",
    )

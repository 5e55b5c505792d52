"""The README-style laptop run of docs/runtime.md, exactly (bind moved to 127.0.9.x)."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from tests.runtime.services import REPO, Gunicorn, free_port, run_cli, runtime_env, write_config


def test_laptop_run_with_sqlite(tmp_path: Path) -> None:
    config = tmp_path / "laptop.yaml"
    shutil.copy(REPO / "examples" / "laptop.yaml", config)
    bind = f"127.0.9.11:{free_port('127.0.9.11')}"
    env = runtime_env(config, bind, TRAGEN_DRAIN_SECONDS="0.5")
    migrated = run_cli(["migrate"], env, tmp_path)
    assert migrated.returncode == 0, migrated.stderr
    assert run_cli(["check"], env, tmp_path).returncode == 0
    app = Gunicorn(env, tmp_path)
    try:
        ready = app.wait_ready()
        assert ready["checks"]["agents"]["configured"] == 5
        status, agents = app.get("/api/v1/agents")
        assert status == 200 and len(agents["agents"]) == 5
        status, version = app.get("/version")
        assert version["release_id"] == "laptop" and len(version["config_digest"]) == 64
        status, text = app.get("/metrics")
        assert "tragen_analyses_total" in text and "tragen_agent_trade_count" in text
        assert (tmp_path / "tragen.db").exists()
        started = time.monotonic()
    finally:
        code = app.stop()
    assert code == 0, app.log()
    assert time.monotonic() - started < 20


def test_refuses_to_start_on_invalid_config(tmp_path: Path) -> None:
    config = write_config(tmp_path / "bad.yaml", {
        "production": {"max_agent": 5},
        "agents": {"max_count": 5, "paper_trading_only": False}})
    env = runtime_env(config, f"127.0.9.11:{free_port('127.0.9.11')}")
    app = Gunicorn(env, tmp_path)
    code = app.proc.wait(30)
    app.stop()
    assert code != 0
    assert "refusing to start" in app.log() and "max_agent" in app.log()


def test_live_trading_without_adapter_is_refused(tmp_path: Path) -> None:
    config = write_config(tmp_path / "live.yaml", {
        "agents": {"max_count": 5, "paper_trading_only": False}})
    result = run_cli(["check"], runtime_env(config, "127.0.9.11:1"), tmp_path)
    assert result.returncode == 3
    assert "live_adapter" in result.stderr and "paper_trading_only" in result.stderr

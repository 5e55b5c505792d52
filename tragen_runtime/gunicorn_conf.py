"""gunicorn settings for the Tragen runtime.

    gunicorn -c python:tragen_runtime.gunicorn_conf tragen_runtime.wsgi:application

Read in the gunicorn master at start: it validates the configuration and refuses to start
(exit 3, every problem listed) on an invalid one. Workers and threads come from the config's
`cpu_scaling` profile and the host's cores; workers are capped at
`production.concurrent_analyses` (each worker runs one analysis at a time).

Environment: TRAGEN_CONFIG, TRAGEN_BIND, TRAGEN_RELEASE_ID, TRAGEN_HOST_CORES,
TRAGEN_WORKERS / TRAGEN_THREADS (overrides), TRAGEN_CPU_PROFILE, TRAGEN_GRACEFUL_TIMEOUT
(default 20; systemd's TimeoutStopSec must be this + 5), TRAGEN_DRAIN_SECONDS (default 2:
how long a worker keeps answering, with /readyz 503, after SIGTERM), PROMETHEUS_MULTIPROC_DIR.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import tempfile
import threading
from typing import Any

from tragen_runtime.configsource import ConfigError
from tragen_runtime.settings import Settings, load_settings, serving_problems
from tragen_runtime.workers import worker_plan


def _env_number(name: str, default: float) -> float:
    text = os.environ.get(name)
    try:
        value = float(text) if text else default
    except ValueError:
        value = -1.0
    if value < 0:
        sys.stderr.write(f"tragen-runtime: refusing to start: {name}={text!r} is not a number "
                         ">= 0 (seconds)\n")
        raise SystemExit(3)
    return value


GRACEFUL_TIMEOUT = max(1, int(_env_number("TRAGEN_GRACEFUL_TIMEOUT", 20)))
# The drain takes part of the graceful timeout, never all of it.
DRAIN_SECONDS = min(_env_number("TRAGEN_DRAIN_SECONDS", 2), GRACEFUL_TIMEOUT / 2)
# nginx's upstream keepalive_timeout is 60s; gunicorn must keep idle connections longer so
# nginx never reuses a connection gunicorn has just closed.
KEEPALIVE = 75


def _settings_or_exit() -> Settings:
    from tragen_runtime.agents import build_agents
    from tragen_runtime.market import price_source

    try:
        settings = load_settings()
        problems = serving_problems(settings)
        if problems:
            raise ConfigError("; ".join(problems))
        m = settings.market
        build_agents(settings.config, price_source(m.source, m.seed, m.symbols, m.csv_dir).symbols)
        return settings
    except (ConfigError, ValueError) as exc:
        sys.stderr.write(f"tragen-runtime: refusing to start: {exc}\n"
                         "Fix the configuration (check it with `tragen-config validate PATH`).\n")
        raise SystemExit(3) from None


_settings = _settings_or_exit()
_plan = worker_plan(_settings, int(os.environ.get("TRAGEN_HOST_CORES") or os.cpu_count() or 1))

bind = [_settings.bind]
workers = _plan["workers"]
threads = _plan["threads"]
worker_class = "gthread"
graceful_timeout = GRACEFUL_TIMEOUT
timeout = max(30, GRACEFUL_TIMEOUT + 10)
keepalive = KEEPALIVE
backlog = 2048
proc_name = f"tragen-runtime[{_settings.release_id}]"
control_socket_disable = True  # several runtimes may share a host (and $HOME)
raw_env = [f"TRAGEN_WORKER_COUNT={workers}"]
accesslog = os.environ.get("TRAGEN_ACCESS_LOG") or None
errorlog = "-"
loglevel = os.environ.get("TRAGEN_LOG_LEVEL", "info")
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="tragen-metrics-")


def on_starting(server: Any) -> None:
    """Stale metric files of a previous master would be summed in: start clean."""
    directory = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    os.makedirs(directory, exist_ok=True)
    for name in os.listdir(directory):
        path = os.path.join(directory, name)
        if os.path.isdir(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            os.unlink(path)
    server.log.info("tragen-runtime %s: %d workers x %d threads, graceful timeout %ds",
                    _settings.release_id, workers, threads, GRACEFUL_TIMEOUT)


def post_worker_init(worker: Any) -> None:
    """Build the runtime and start the agent engine in this worker; own SIGTERM."""
    import logging

    from tragen_runtime.wsgi import application

    logging.basicConfig(level=loglevel.upper(), format="%(asctime)s %(process)d %(name)s "
                        "%(levelname)s %(message)s")
    application.runtime()
    original = worker.handle_exit

    def handle_term(sig: int, frame: Any) -> None:
        rt = application.started
        if rt is not None:
            rt.begin_drain()
        # keep answering (with /readyz 503) for DRAIN_SECONDS, then gunicorn's graceful stop:
        # no new connections, in-flight requests finish within graceful_timeout.
        timer = threading.Timer(DRAIN_SECONDS, original, args=(sig, frame))
        timer.daemon = True
        timer.start()

    signal.signal(signal.SIGTERM, handle_term)


def worker_exit(server: Any, worker: Any) -> None:
    """In the exiting worker: wait for the engine to release its leases, close connections."""
    from tragen_runtime.wsgi import application

    rt = application.started
    if rt is not None:
        rt.shutdown(timeout=max(1.0, GRACEFUL_TIMEOUT / 2))


def child_exit(server: Any, worker: Any) -> None:
    """In the master, for every worker that ended (SIGKILL included): drop its live gauges."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]

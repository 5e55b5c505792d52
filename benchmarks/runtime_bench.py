"""Runtime benchmark: HTTP throughput against hello-world, memory per agent, analyses/min.

    .venv/bin/python benchmarks/runtime_bench.py [--seconds 5] [--agents 1000]

Starts real gunicorn servers on 127.0.9.30-32 with identical settings (gthread, the same
workers, threads and keep-alive), loads them with keep-alive HTTP clients in separate
processes (threads + http.client), alternating between hello-world and the runtime so that
background load on a shared machine affects both alike, prints a table and asserts nothing
about time. The runtime is measured while its 1000 agents trade (SQLite).
Goals: /readyz and /api/v1/portfolio at >= 0.7 of hello-world; <= 100 KB RSS per agent beyond
the empty service; >= 60,000 analyses per minute with 1000 agents while serving the API.
"""

from __future__ import annotations

import argparse
import http.client
import multiprocessing
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil
import yaml

REPO = Path(__file__).resolve().parents[1]
WORKERS, THREADS = 2, 4


def hello_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    """The reference: the smallest useful WSGI app."""
    body = b'{"hello":"world"}'
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]


def _free_port(host: str) -> int:
    import socket

    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, args: list[str], env: dict[str, str], cwd: Path, bind: str) -> None:
        self.host, port = bind.rsplit(":", 1)
        self.port = int(port)
        self.log = open(cwd / f"gunicorn-{self.port}.log", "wb")  # noqa: SIM115
        gunicorn = str(Path(sys.executable).with_name("gunicorn"))
        self.proc = subprocess.Popen([gunicorn, *args], env=env, cwd=cwd, stdout=self.log,
                                     stderr=subprocess.STDOUT)

    def get(self, path: str) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=5)
        try:
            conn.request("GET", path)
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()

    def wait(self, path: str, timeout: float = 60, check: Any = None) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: see {self.log.name}")
            try:
                status, body = self.get(path)
                if status == 200 and (check is None or check(body)):
                    return
            except OSError:
                pass
            time.sleep(0.25)
        raise RuntimeError(f"{path} not ready after {timeout}s; see {self.log.name}")

    def rss(self) -> int:
        procs = [psutil.Process(self.proc.pid), *psutil.Process(self.proc.pid).children()]
        return sum(p.memory_info().rss for p in procs)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def _client(host: str, port: int, path: str, seconds: float, threads: int,
            out: Any) -> None:
    counts = [0] * threads
    errors = [0] * threads
    stop_at = time.monotonic() + seconds

    def run(n: int) -> None:
        conn = http.client.HTTPConnection(host, port, timeout=10)
        while time.monotonic() < stop_at:
            try:
                conn.request("GET", path)
                resp = conn.getresponse()
                resp.read()
                if resp.status == 200:
                    counts[n] += 1
                else:
                    errors[n] += 1
            except (OSError, http.client.HTTPException):
                errors[n] += 1
                conn.close()
                conn = http.client.HTTPConnection(host, port, timeout=10)
        conn.close()

    pool = [threading.Thread(target=run, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    out.put((sum(counts), sum(errors)))


def requests_per_second(server: Server, path: str, seconds: float, procs: int = 2,
                        threads: int = 4) -> tuple[float, int]:
    queue: Any = multiprocessing.Queue()
    clients = [multiprocessing.Process(target=_client, args=(server.host, server.port, path,
                                                             seconds, threads, queue))
               for _ in range(procs)]
    for c in clients:
        c.start()
    results = [queue.get() for _ in clients]
    for c in clients:
        c.join()
    return sum(r[0] for r in results) / seconds, sum(r[1] for r in results)


def interleaved_rps(targets: list[tuple[Server, str]], seconds: float,
                    rounds: int = 3) -> list[list[tuple[float, int]]]:
    """req/s of each (server, path) in `rounds` rounds that alternate between the targets,
    after a 1 s warm-up each, so background load drifting on a shared machine hits all alike."""
    for server, path in targets:
        requests_per_second(server, path, 1.0)
    return [[requests_per_second(server, path, seconds) for server, path in targets]
            for _ in range(rounds)]


def _median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]


def _config(agents: int, tick: float) -> dict[str, Any]:
    return {
        "production": {"max_agents": agents, "concurrent_analyses": 32},
        "agent_pools": {"aggressive": agents // 2, "balanced": agents - agents // 2 - agents // 4,
                        "conservative": agents // 4} if agents >= 4 else {"balanced": agents},
        "database": {"type": "sqlite", "path": "bench.db"},
        "runtime": {"release_id": "bench", "market": {"tick_interval": tick},
                    "leases": {"ttl_seconds": 10, "renew_interval_seconds": 2}},
    }


def _runtime(tmp: Path, name: str, agents: int, tick: float, host: str) -> Server:
    workdir = tmp / name
    workdir.mkdir()
    config = workdir / "config.yaml"
    config.write_text(yaml.safe_dump(_config(agents, tick)))
    bind = f"{host}:{_free_port(host)}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRAGEN_", "PROMETHEUS_"))}
    env.update({"TRAGEN_CONFIG": str(config), "TRAGEN_BIND": bind, "PYTHONPATH": str(REPO),
                "TRAGEN_WORKERS": str(WORKERS), "TRAGEN_THREADS": str(THREADS),
                "TRAGEN_DRAIN_SECONDS": "0", "TRAGEN_LOG_LEVEL": "warning"})
    subprocess.run([sys.executable, "-m", "tragen_runtime.cli", "migrate"], env=env, cwd=workdir,
                   check=True, capture_output=True)
    return Server(["-c", "python:tragen_runtime.gunicorn_conf",
                   "tragen_runtime.wsgi:application"], env, workdir, bind)


def _analyses(server: Server) -> float:
    _, body = server.get("/metrics")
    return sum(float(v) for v in re.findall(rb'^tragen_analyses_total\{[^}]*\} (\S+)$', body,
                                             re.M))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=9.0,
                        help="load per endpoint, split into 3 interleaved rounds")
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--tick", type=float, default=0.5, help="tick interval in seconds")
    args = parser.parse_args()
    rows: list[tuple[str, str, str]] = []
    with tempfile.TemporaryDirectory(prefix="tragen-bench-") as name:
        tmp = Path(name)
        empty = _runtime(tmp, "empty", 1, args.tick, "127.0.9.31")
        try:
            empty.wait("/readyz")
            time.sleep(3)
            empty_rss = empty.rss()
        finally:
            empty.stop()

        bind = f"127.0.9.30:{_free_port('127.0.9.30')}"
        env = {**os.environ, "PYTHONPATH": str(REPO / "benchmarks")}
        hello = Server(["-w", str(WORKERS), "--threads", str(THREADS), "-k", "gthread",
                        "--keep-alive", "75", "--bind", bind, "--log-level", "warning",
                        "--no-control-socket", "runtime_bench:hello_app"], env, tmp, bind)
        full = _runtime(tmp, "full", args.agents, args.tick, "127.0.9.32")
        try:
            hello.wait("/")
            full.wait("/readyz", check=lambda b: b'"running_here":0' not in b)
            full.wait("/api/v1/agents", check=lambda b: b.count(b'"worker": null') == 0)
            time.sleep(3)
            full_rss = full.rss()
            a0, t0 = _analyses(full), time.monotonic()
            rounds = interleaved_rps([(hello, "/"), (full, "/readyz"),
                                      (full, "/api/v1/portfolio")], args.seconds / 3)
            per_minute = (_analyses(full) - a0) / (time.monotonic() - t0) * 60
        finally:
            full.stop()
            hello.stop()

    hello_rps = _median([r[0][0] for r in rounds])
    ready_rps = _median([r[1][0] for r in rounds])
    port_rps = _median([r[2][0] for r in rounds])
    ready_ratio = _median([r[1][0] / r[0][0] for r in rounds])
    port_ratio = _median([r[2][0] / r[0][0] for r in rounds])
    ready_err = sum(r[1][1] for r in rounds)
    port_err = sum(r[2][1] for r in rounds)
    per_agent_kb = (full_rss - empty_rss) / max(1, args.agents - 1) / 1024
    rows += [
        ("hello-world WSGI  GET /", f"{hello_rps:,.0f} req/s", "reference"),
        ("runtime GET /readyz", f"{ready_rps:,.0f} req/s ({ready_err} errors)",
         f"{ready_ratio:.2f} of hello-world (goal >= 0.70)"),
        ("runtime GET /api/v1/portfolio", f"{port_rps:,.0f} req/s ({port_err} errors)",
         f"{port_ratio:.2f} of hello-world (goal >= 0.70)"),
        ("RSS, empty service (1 agent)", f"{empty_rss / 2**20:,.1f} MiB", "master + workers"),
        (f"RSS, {args.agents} agents", f"{full_rss / 2**20:,.1f} MiB", "master + workers"),
        ("RSS per agent beyond empty", f"{per_agent_kb:,.1f} KB", "goal <= 100 KB"),
        ("analyses per minute under API load", f"{per_minute:,.0f}",
         f"{args.agents} agents, tick {args.tick}s (goal >= 60,000)"),
    ]
    print(f"\nTragen runtime benchmark: {WORKERS} workers x {THREADS} threads (gthread, "
          f"keep-alive 75s), {os.cpu_count()} cores, host load average "
          f"{os.getloadavg()[0]:.1f}.\nLoad: 2 client processes x 4 keep-alive threads; "
          f"{args.seconds:.0f}s per endpoint in 3 rounds that alternate hello-world and runtime "
          "(medians; ratios per round).\n")
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    for row in [("measurement", "result", "note"), tuple("-" * w for w in widths), *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Real services for the runtime tests: PostgreSQL, Redis and gunicorn as plain processes.

Everything binds to 127.0.9.x only. PostgreSQL refuses to run as root, so under root it runs
as the `postgres` user (created by Debian's package) through runuser.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
PG_BIN = Path("/usr/lib/postgresql/15/bin")
PG_HOST = "127.0.9.1"
REDIS_HOST = "127.0.9.2"


def stop(proc: subprocess.Popen[bytes], grace: float) -> None:
    """Ends a server the tests started: politely first, then for sure."""
    proc.terminate()
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def wait_for(predicate: Any, timeout: float, what: str, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
            if last:
                return last
        except Exception as exc:  # the service may still be starting
            last = exc
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


@dataclass
class Postgres:
    host: str
    port: int
    datadir: Path
    proc: subprocess.Popen[bytes]
    user: str = "tragen"
    counter: list[int] = field(default_factory=lambda: [0])

    def conninfo(self, dbname: str = "postgres") -> str:
        return f"host={self.host} port={self.port} user={self.user} dbname={dbname}"

    def create_database(self) -> str:
        import psycopg

        self.counter[0] += 1
        name = f"tragen_{os.getpid()}_{self.counter[0]}"
        with psycopg.connect(self.conninfo(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return name


def as_postgres(cmd: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return cmd
    return ["runuser", "-u", "postgres", "--", *cmd]


@contextlib.contextmanager
def _postgres_dir(prefix: str) -> Iterator[tuple[Path, Path, Path]]:
    """(base, data directory, socket directory) that the postgres user may write; removed after."""
    base = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    base.chmod(0o755)
    datadir, sockdir = base / "data", base / "sock"
    sockdir.mkdir()
    if os.geteuid() == 0:
        entry = pwd.getpwnam("postgres")
        for path in (base, sockdir):
            os.chown(path, entry.pw_uid, entry.pw_gid)
    try:
        yield base, datadir, sockdir
    finally:
        shutil.rmtree(base, ignore_errors=True)


@contextlib.contextmanager
def _running_postgres(base: Path, datadir: Path, sockdir: Path, host: str,
                      settings: list[str], ready: Callable[[Postgres], bool],
                      what: str) -> Iterator[Postgres]:
    """`postgres` on `datadir` at a free port of `host` (its log in `base`), until `ready`."""
    port = free_port(host)
    options = [arg for setting in settings for arg in ("-c", setting)]
    with open(base / "postgres.log", "wb") as log:
        proc = subprocess.Popen(
            as_postgres([str(PG_BIN / "postgres"), "-D", str(datadir), "-k", str(sockdir),
                         "-h", host, "-p", str(port), "-c", "fsync=off",
                         "-c", "max_connections=200", *options]),
            stdout=log, stderr=subprocess.STDOUT)
        server = Postgres(host, port, datadir, proc)
        try:
            wait_for(lambda: ready(server), 30, what)
            yield server
        finally:
            stop(proc, 15)


def _accepts(server: Postgres) -> bool:
    import psycopg

    psycopg.connect(server.conninfo(), connect_timeout=1).close()
    return True


def _streams(server: Postgres) -> bool:
    import psycopg

    with psycopg.connect(server.conninfo(), connect_timeout=1) as conn:
        row = conn.execute("SELECT status FROM pg_stat_wal_receiver").fetchone()
    return row is not None and row[0] == "streaming"


@contextlib.contextmanager
def postgres_server() -> Iterator[Postgres]:
    with _postgres_dir("tragen-pg-") as (base, datadir, sockdir):
        subprocess.run(as_postgres([str(PG_BIN / "initdb"), "-D", str(datadir), "-U", "tragen",
                                     "--auth=trust", "-E", "UTF8", "--no-sync"]),
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        with _running_postgres(base, datadir, sockdir, PG_HOST,
                               ["synchronous_commit=off", "full_page_writes=off",
                                "shared_buffers=64MB"],
                               _accepts, "PostgreSQL to accept connections") as server:
            yield server


REPLICA_HOST = "127.0.9.4"


@contextlib.contextmanager
def postgres_replica(primary: Postgres) -> Iterator[Postgres]:
    """A hot standby of `primary` on its own address: pg_basebackup -R, then streaming
    replication, the way the stage's replicas are made."""
    with _postgres_dir("tragen-pg-replica-") as (base, datadir, sockdir):
        subprocess.run(as_postgres([str(PG_BIN / "pg_basebackup"), "-h", primary.host,
                                     "-p", str(primary.port), "-U", primary.user,
                                     "-D", str(datadir), "-X", "stream", "-R", "--no-sync",
                                     "--checkpoint=fast"]),
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        with _running_postgres(base, datadir, sockdir, REPLICA_HOST, ["shared_buffers=32MB"],
                               _streams, "the replica to stream from its primary") as server:
            yield server


@dataclass
class Redis:
    host: str
    port: int
    proc: subprocess.Popen[bytes]


@contextlib.contextmanager
def redis_server() -> Iterator[Redis]:
    port = free_port(REDIS_HOST)
    proc = subprocess.Popen(["/usr/bin/redis-server", "--bind", REDIS_HOST, "--port", str(port),
                             "--save", "", "--appendonly", "no", "--protected-mode", "no"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        def ping() -> bool:
            with socket.create_connection((REDIS_HOST, port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        wait_for(ping, 15, "Redis to answer PING")
        yield Redis(REDIS_HOST, port, proc)
    finally:
        stop(proc, 10)


def write_config(path: Path, config: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def runtime_env(config: Path, bind: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRAGEN_", "PROMETHEUS_"))}
    env.update({"TRAGEN_CONFIG": str(config), "TRAGEN_BIND": bind,
                "PYTHONPATH": str(REPO) + os.pathsep + env.get("PYTHONPATH", "")})
    env.update(extra)
    return env


def run_cli(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tragen_runtime.cli", *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=60)


class Gunicorn:
    """A real gunicorn master with our gunicorn_conf, stopped by `stop()`."""

    def __init__(self, env: dict[str, str], cwd: Path, app: str = "tragen_runtime.wsgi:application",
                 conf: str = "python:tragen_runtime.gunicorn_conf") -> None:
        self.env = env
        self.cwd = cwd
        host, _, port = env["TRAGEN_BIND"].rpartition(":")
        self.host, self.port = host, int(port)
        self.log_path = cwd / f"gunicorn-{self.port}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        gunicorn = Path(sys.executable).with_name("gunicorn")
        self.proc = subprocess.Popen([str(gunicorn), "-c", conf, app], env=env, cwd=cwd,
                                     stdout=self._log, stderr=subprocess.STDOUT)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def get(self, path: str, timeout: float = 5) -> tuple[int, Any]:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            conn.request("GET", path)
            resp = conn.getresponse()
            body = resp.read()
        finally:
            conn.close()
        ctype = resp.getheader("Content-Type", "")
        return resp.status, json.loads(body) if "json" in ctype else body.decode()

    def post(self, path: str, data: Any, headers: dict[str, str] | None = None) -> tuple[int, Any]:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=5)
        try:
            conn.request("POST", path, json.dumps(data).encode(),
                         {"Content-Type": "application/json", **(headers or {})})
            resp = conn.getresponse()
            return resp.status, json.loads(resp.read() or b"null")
        finally:
            conn.close()

    def wait_ready(self, timeout: float = 30) -> dict[str, Any]:
        def ready() -> Any:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited {self.proc.returncode}:\n{self.log()}")
            status, body = self.get("/readyz", timeout=2)
            return body if status == 200 else None
        try:
            return wait_for(ready, timeout, "/readyz 200", interval=0.2)  # type: ignore[no-any-return]
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n--- gunicorn log ---\n{self.log()}") from None

    def worker_pids(self) -> list[int]:
        import psutil

        return sorted(c.pid for c in psutil.Process(self.proc.pid).children())

    def stop(self, timeout: float = 40) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return int(self.proc.returncode)


@contextlib.contextmanager
def sentinel_server(master: Redis, password: str) -> Iterator[Redis]:
    """A Redis Sentinel watching `master` (quorum 1), with its own requirepass."""
    port = free_port(REDIS_HOST)
    base = Path(tempfile.mkdtemp(prefix="tragen-sentinel-", dir="/tmp"))
    conf = base / "sentinel.conf"
    conf.write_text(f"port {port}\nbind {REDIS_HOST}\nprotected-mode no\n"
                    f"requirepass {password}\n"
                    f"sentinel monitor tragen {master.host} {master.port} 1\n")
    proc = subprocess.Popen(["/usr/bin/redis-server", str(conf), "--sentinel"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        def answers() -> bool:
            with socket.create_connection((REDIS_HOST, port), timeout=0.5) as s:
                s.sendall(f"AUTH {password}\r\nPING\r\n".encode())
                time.sleep(0.05)
                return b"+PONG" in s.recv(64)
        wait_for(answers, 15, "Sentinel to answer")
        yield Redis(REDIS_HOST, port, proc)
    finally:
        stop(proc, 10)
        shutil.rmtree(base, ignore_errors=True)

"""A small load generator: keep-alive HTTP clients in threads, with an LB's retry rules.

Like nginx, a request that fails on a connection (refused, reset, closed before the
response) is retried once on a fresh connection to the next server; GETs are idempotent and
writes carry a `request_id`, so a retry never doubles a write. Anything else is a failure.
"""

from __future__ import annotations

import http.client
import itertools
import json
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field


@dataclass
class LoadResult:
    counts: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    write_ids: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, key: str, detail: str | None = None) -> None:
        with self.lock:
            self.counts[key] += 1
            if detail is not None and len(self.failures) < 50:
                self.failures.append(detail)


class Load:
    def __init__(self, servers: list[tuple[str, int]], threads: int = 4,
                 agent_ids: list[str] | None = None) -> None:
        self.servers = servers
        self.threads = threads
        self.agent_ids = agent_ids or []
        self.result = LoadResult()
        self._stop = threading.Event()
        self._workers: list[threading.Thread] = []
        self.down: set[tuple[str, int]] = set()

    def __enter__(self) -> Load:
        for n in range(self.threads):
            t = threading.Thread(target=self._run, args=(n,), daemon=True)
            t.start()
            self._workers.append(t)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> LoadResult:
        self._stop.set()
        for t in self._workers:
            t.join(10)
        return self.result

    def _requests(self, n: int) -> itertools.cycle[tuple[str, str]]:
        plan = [("GET", "/api/v1/portfolio"), ("POST", "/api/v1/analyses"),
                ("GET", "/api/v1/trades?limit=5"), ("GET", "/api/v1/kpis")]
        if self.agent_ids:
            plan.append(("GET", f"/api/v1/agents/{self.agent_ids[n % len(self.agent_ids)]}"))
        return itertools.cycle(plan)

    def _run(self, n: int) -> None:
        conns: dict[tuple[str, int], http.client.HTTPConnection] = {}
        server_cycle = itertools.cycle(self.servers[n % len(self.servers):] +
                                       self.servers[:n % len(self.servers)])
        for method, path in self._requests(n):
            if self._stop.is_set():
                break
            body = None
            if method == "POST":
                body = json.dumps({"symbol": "AAPL", "request_id": str(uuid.uuid4())})
            self._one(conns, server_cycle, method, path, body)
        for conn in conns.values():
            conn.close()

    def _one(self, conns: dict[tuple[str, int], http.client.HTTPConnection],
             servers: itertools.cycle[tuple[str, int]], method: str, path: str,
             body: str | None) -> None:
        for attempt in range(len(self.servers) * 2 + 1):
            server = next(servers)
            conn = conns.get(server) or http.client.HTTPConnection(*server, timeout=10)
            conns[server] = conn
            try:
                conn.request(method, path, body, {"Content-Type": "application/json"})
                resp = conn.getresponse()
                data = resp.read()
            except ConnectionRefusedError:
                conn.close()
                self.result.add("refused")
                time.sleep(0.02)
                continue
            except (ConnectionError, http.client.HTTPException, TimeoutError, OSError) as exc:
                conn.close()
                self.result.add("retried")
                if attempt == len(self.servers) * 2:
                    self.result.add("failed", f"{method} {path}: {exc!r}")
                continue
            if resp.status >= 500:
                self.result.add("failed", f"{method} {path}: {resp.status} {data[:200]!r}")
                return
            self.result.add(f"{method} {resp.status}")
            if method == "POST" and resp.status == 202 and body:
                with self.result.lock:
                    self.result.write_ids.add(json.loads(body)["request_id"])
            return
        self.result.add("gave_up", f"{method} {path}: no server answered")

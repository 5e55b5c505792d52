"""A steady stream of reads and writes against the Tragen API, counting every failure.

Used by the rolling-update tests and benchmarks, and by operators who want to watch a rollout:

    python -m tools.loadgen --url http://127.0.3.18 --rate 40 --duration 60

Every request opens its own connection, so a failure is the server's, never a stale keep-alive
socket reused by the client. Any answer that is not 2xx counts as failed, and so does every
connection error or timeout. The loop is bounded in rate and time and stops by itself.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import signal
import ssl
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlsplit

READ_PATH = "/api/v1/portfolio"
WRITE_PATH = "/api/v1/analyses"


@dataclass
class Tally:
    """What the load generator saw; safe to read while it runs."""

    ok: int = 0
    failed: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, outcome: str, success: bool) -> None:
        with self.lock:
            if success:
                self.ok += 1
            else:
                self.failed += 1
            (self.statuses if outcome.isdigit() else self.errors)[outcome] += 1

    @property
    def total(self) -> int:
        return self.ok + self.failed

    def summary(self) -> str:
        with self.lock:
            parts = [f"{self.total} requests", f"{self.ok} ok", f"{self.failed} failed"]
            detail = dict(self.statuses) | dict(self.errors)
        return ", ".join(parts) + f" {json.dumps(detail, sort_keys=True)}"


class LoadGenerator:
    """Sends requests from ``workers`` threads at about ``rate`` per second in all."""

    def __init__(
        self,
        url: str,
        rate: float = 40.0,
        workers: int = 8,
        timeout: float = 10.0,
        write_share: float = 0.25,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ValueError(f"expected an http(s) URL such as http://127.0.3.18, got {url!r}")
        self.scheme = parts.scheme
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.interval = workers / rate
        self.workers = workers
        self.timeout = timeout
        self.write_every = max(1, round(1 / write_share)) if write_share > 0 else 0
        self.tally = Tally()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def _connection(self) -> http.client.HTTPConnection:
        if self.scheme == "https":
            context = ssl.create_default_context()
            # The sandbox load balancer uses a certificate the role generated for itself.
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            return http.client.HTTPSConnection(
                self.host, self.port, timeout=self.timeout, context=context
            )
        return http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)

    def request_once(self, sequence: int) -> None:
        write = self.write_every and sequence % self.write_every == 0
        connection = self._connection()
        try:
            if write:
                body = json.dumps({"symbol": "SIM-A", "source": "loadgen", "sequence": sequence})
                connection.request(
                    "POST", WRITE_PATH, body=body, headers={"Content-Type": "application/json"}
                )
            else:
                connection.request("GET", READ_PATH)
            response = connection.getresponse()
            response.read()
            self.tally.record(str(response.status), 200 <= response.status < 300)
        except (OSError, http.client.HTTPException) as error:
            self.tally.record(type(error).__name__, False)
        finally:
            connection.close()

    def _worker(self, index: int) -> None:
        sequence = index
        next_at = time.monotonic() + (index * self.interval / self.workers)
        while not self._stop.is_set():
            delay = next_at - time.monotonic()
            if delay > 0 and self._stop.wait(delay):
                break
            self.request_once(sequence)
            sequence += self.workers
            next_at += self.interval

    def start(self) -> LoadGenerator:
        for index in range(self.workers):
            thread = threading.Thread(target=self._worker, args=(index,), daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> Tally:
        self._stop.set()
        for thread in self._threads:
            thread.join(self.timeout + 5)
        return self.tally

    def __enter__(self) -> LoadGenerator:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="base URL, e.g. http://127.0.3.18")
    parser.add_argument("--rate", type=float, default=40.0, help="requests per second (all)")
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--duration", type=float, default=30.0, help="seconds, at most 3600")
    args = parser.parse_args(argv)
    generator = LoadGenerator(args.url, rate=args.rate, workers=args.workers)
    # A test that runs it in the background ends it with SIGTERM (a background job of a
    # non-interactive shell ignores SIGINT); it still prints what it saw.
    signal.signal(signal.SIGTERM, _interrupt)
    with generator, contextlib.suppress(KeyboardInterrupt):
        time.sleep(min(args.duration, 3600))
    print(generator.tally.summary())
    return 1 if generator.tally.failed else 0


if __name__ == "__main__":
    sys.exit(main())

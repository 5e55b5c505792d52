"""Request accounting and draining state of one worker process."""

from __future__ import annotations

import threading


class Lifecycle:
    """In-flight requests and the draining flag (set once, on SIGTERM)."""

    def __init__(self) -> None:
        self.draining = threading.Event()
        self._lock = threading.Lock()
        self._in_flight = 0

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def begin(self) -> None:
        with self._lock:
            self._in_flight += 1

    def end(self) -> None:
        with self._lock:
            self._in_flight -= 1

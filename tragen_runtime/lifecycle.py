"""Request accounting and draining state of one worker process."""

from __future__ import annotations

import threading


class Lifecycle:
    """In-flight requests, error counts and the draining flag (set once, on SIGTERM)."""

    def __init__(self) -> None:
        self.draining = threading.Event()
        self._lock = threading.Lock()
        self._in_flight = 0
        self._window_total = 0
        self._window_errors = 0

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def begin(self) -> None:
        with self._lock:
            self._in_flight += 1

    def end(self, status: int) -> None:
        with self._lock:
            self._in_flight -= 1
            self._window_total += 1
            self._window_errors += status >= 500

    def failure_rate(self) -> float:
        """Share of 5xx answers since the previous call (the api_failure_rate breaker)."""
        with self._lock:
            total, errors = self._window_total, self._window_errors
            self._window_total = self._window_errors = 0
        return errors / total if total >= 20 else 0.0

"""Multi-level cache: L1 in-process with TTL, L2 Redis (optional), L3 = the database.

Redis failures never fail a request: after an error L2 is skipped for `backoff` seconds and
reads fall through to the loader (the database). `status()` says whether L2 is degraded; by
design a degraded cache does not fail readiness unless TRAGEN_REQUIRE_CACHE=1.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from tragen_runtime.settings import RedisSettings

log = logging.getLogger(__name__)
KEY_PREFIX = "tragen:"


class TTLCache:
    """A thread-safe LRU dict whose entries expire; bounded by entry count."""

    def __init__(self, max_entries: int = 10_000, clock: Callable[[], float] = time.monotonic):
        self._data: OrderedDict[str, tuple[float, Any]] = OrderedDict()
        self._max = max_entries
        self._clock = clock
        self._lock = threading.Lock()

    def get(self, key: str) -> Any | None:
        with self._lock:
            item = self._data.get(key)
            if item is None:
                return None
            if item[0] < self._clock():
                del self._data[key]
                return None
            self._data.move_to_end(key)
            return item[1]

    def set(self, key: str, value: Any, ttl: float) -> None:
        with self._lock:
            self._data[key] = (self._clock() + ttl, value)
            self._data.move_to_end(key)
            while len(self._data) > self._max:
                self._data.popitem(last=False)

    def __len__(self) -> int:
        return len(self._data)


class RedisCache:
    """JSON values in Redis (or a Sentinel-managed master) with a failure backoff."""

    def __init__(self, settings: RedisSettings, backoff: float = 5.0, timeout: float = 0.25):
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry
        from redis.sentinel import Sentinel

        self.settings = settings
        self.backoff = backoff
        self._down_until = 0.0
        self.last_error: str | None = None
        kwargs: dict[str, Any] = {"db": settings.db, "password": settings.password,
                                  "username": settings.user, "socket_timeout": timeout,
                                  "socket_connect_timeout": timeout,
                                  "retry": Retry(NoBackoff(), 0)}
        self._client: Any
        if settings.sentinel_master and settings.sentinel_hosts:
            sentinel = Sentinel(list(settings.sentinel_hosts), socket_timeout=timeout,
                                sentinel_kwargs={"password": settings.sentinel_password} if
                                settings.sentinel_password else None)  # type: ignore[no-untyped-call]
            self._client = sentinel.master_for(  # type: ignore[no-untyped-call]
                settings.sentinel_master, **kwargs)
        else:
            self._client = redis.Redis(host=settings.host, port=settings.port, **kwargs)

    @property
    def available(self) -> bool:
        return time.monotonic() >= self._down_until

    def _fail(self, exc: Exception) -> None:
        self.last_error = f"{type(exc).__name__}: {exc}"
        self._down_until = time.monotonic() + self.backoff
        log.warning("Redis unavailable (%s); using L1 and the database for %.0fs",
                    self.last_error, self.backoff)

    def get(self, key: str) -> Any | None:
        if not self.available:
            return None
        try:
            raw = self._client.get(KEY_PREFIX + key)
        except Exception as exc:  # redis raises many types; all mean "skip L2"
            self._fail(exc)
            return None
        self.last_error = None
        return None if raw is None else json.loads(raw)

    def set_many(self, items: dict[str, Any], ttl: float) -> None:
        if not self.available or not items:
            return
        try:
            pipe = self._client.pipeline(transaction=False)
            for key, value in items.items():
                pipe.set(KEY_PREFIX + key, json.dumps(value, default=str), ex=max(1, int(ttl)))
            pipe.execute()
        except Exception as exc:
            self._fail(exc)

    def ping(self) -> bool:
        try:
            self._client.ping()
        except Exception as exc:
            self._fail(exc)
            return False
        self._down_until = 0.0
        self.last_error = None
        return True

    def close(self) -> None:
        with contextlib.suppress(Exception):  # closing a broken connection may raise
            self._client.close()


class TieredCache:
    """get_or_load: L1 → L2 → loader (L3, the database), filling the faster levels."""

    def __init__(self, l1: TTLCache, l2: RedisCache | None, l1_ttl: float, l2_ttl: float,
                 on_lookup: Callable[[str], None] | None = None):
        self.l1 = l1
        self.l2 = l2
        self.l1_ttl = l1_ttl
        self.l2_ttl = l2_ttl
        self.hits = {"l1": 0, "l2": 0, "miss": 0}
        self._on_lookup = on_lookup

    def _count(self, level: str) -> None:
        self.hits[level] += 1
        if self._on_lookup is not None:
            self._on_lookup(level)

    def get_or_load(self, key: str, loader: Callable[[], Any], l1_ttl: float | None = None,
                    use_l2: bool = True) -> Any:
        value = self.l1.get(key)
        if value is not None:
            self._count("l1")
            return value
        if use_l2 and self.l2 is not None:
            value = self.l2.get(key)
            if value is not None:
                self._count("l2")
                self.l1.set(key, value, l1_ttl or self.l1_ttl)
                return value
        self._count("miss")
        value = loader()
        self.l1.set(key, value, l1_ttl or self.l1_ttl)
        if use_l2 and self.l2 is not None:
            self.l2.set_many({key: value}, self.l2_ttl)
        return value

    def publish(self, items: dict[str, Any], l2_ttl: float | None = None) -> None:
        """Share values computed here (indicators, analysis results) through L2."""
        if self.l2 is not None:
            self.l2.set_many(items, l2_ttl or self.l2_ttl)

    def status(self) -> dict[str, Any]:
        if self.l2 is None:
            return {"l2": "not configured", "hits": dict(self.hits)}
        state = "ok" if self.l2.available and not self.l2.last_error else "degraded"
        out: dict[str, Any] = {"l2": state, "hits": dict(self.hits)}
        if self.l2.last_error:
            out["l2_error"] = self.l2.last_error
        return out

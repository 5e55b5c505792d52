from tragen_runtime.cache import RedisCache, TieredCache, TTLCache
from tragen_runtime.settings import RedisSettings


def test_ttl_cache_expires_and_bounds() -> None:
    now = [0.0]
    cache = TTLCache(max_entries=2, clock=lambda: now[0])
    cache.set("a", 1, ttl=5)
    cache.set("b", 2, ttl=5)
    cache.set("c", 3, ttl=5)
    assert cache.get("a") is None and cache.get("c") == 3
    now[0] = 6
    assert cache.get("c") is None


def test_tiered_cache_keeps_working_without_redis() -> None:
    # nothing listens on this port: L2 fails fast, then is skipped during the backoff
    l2 = RedisCache(RedisSettings(host="127.0.9.3", port=1), backoff=60, timeout=0.1)
    cache = TieredCache(TTLCache(), l2, l1_ttl=1, l2_ttl=10)
    calls: list[int] = []

    def load(value: int) -> dict[str, int]:
        calls.append(1)
        return {"v": value}

    assert cache.get_or_load("k", lambda: load(1)) == {"v": 1}
    assert cache.get_or_load("k", lambda: load(2)) == {"v": 1}
    assert calls == [1]
    status = cache.status()
    assert status["l2"] == "degraded" and "l2_error" in status

import gc

from tragen_runtime.memory import agent_memory_check, apply_gc_policy


def test_gc_policy_sets_thresholds_and_restores() -> None:
    before = gc.get_threshold()
    try:
        assert apply_gc_policy({"memory": {"gc_frequency": "aggressive"}}) == "aggressive"
        assert gc.get_threshold() == (300, 5, 5)
        assert apply_gc_policy({}) == "normal" and gc.get_threshold() == (700, 10, 10)
    finally:
        gc.set_threshold(*before)


def test_agent_memory_check() -> None:
    config = {"memory": {"agent_memory_limit": "25MB"}}
    within = agent_memory_check(config, 100 * 2**20, 10)  # 10 MB each
    beyond = agent_memory_check(config, 100 * 2**20, 2)
    assert within is not None and within["within_limit"] is True
    assert beyond is not None and beyond["within_limit"] is False
    assert agent_memory_check({}, 1, 1) is None

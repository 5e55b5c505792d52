"""The load generator the stage tests run during an operation: tools/loadgen.py through the
load balancer, about 30 requests a second (reads and writes); every non-2xx answer and every
connection error counts as failed, and each case prints its counts."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

import pytest

from tests.sandbox.sandbox import Sandbox
from tests.stage.stage import lb_url
from tools.loadgen import LoadGenerator, Tally

RATE = 30.0


@contextlib.contextmanager
def load(sandbox: Sandbox, case: str, capsys: pytest.CaptureFixture[str],
         rate: float = RATE) -> Iterator[Tally]:
    """Runs the load generator through the load balancer for the duration of the block."""
    generator = LoadGenerator(lb_url(sandbox), rate=rate, workers=max(6, round(rate / 5)))
    generator.start()
    started = time.monotonic()
    try:
        yield generator.tally
    finally:
        tally = generator.stop()
        with capsys.disabled():
            print(f"\n[{case}] {time.monotonic() - started:.0f} s under load: {tally.summary()}")


def assert_no_failed_request(tally: Tally) -> None:
    assert tally.ok > 0, f"the load generator got no answer at all: {tally.summary()}"
    assert tally.failed == 0, tally.summary()

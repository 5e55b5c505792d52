"""How often Prometheus scrapes, over what window it aggregates and how long it keeps data:
`monitoring.metrics_collection`, with the guide's values where a key is absent."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Schedule:
    scrape_seconds: int  # metrics_collection.frequency
    window_seconds: int  # metrics_collection.aggregation_window
    retention_seconds: int  # metrics_collection.retention_period

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Schedule:
        collection = (config.get("monitoring") or {}).get("metrics_collection") or {}
        return cls(int(collection.get("frequency", 5)),
                   int(collection.get("aggregation_window", 60)),
                   int(collection.get("retention_period", 30 * 86400)))

    @property
    def window(self) -> str:
        """The aggregation window as a PromQL range. A rate needs two samples inside it, so
        it is at least two scrape intervals long."""
        return seconds(max(self.window_seconds, 2 * self.scrape_seconds))

    @property
    def retention(self) -> str:
        return seconds(self.retention_seconds)

    @property
    def confirm(self) -> str:
        """How long an infrastructure fault must last before it pages: two scrapes, so one
        lost scrape does not wake anyone."""
        return seconds(2 * self.scrape_seconds)


def seconds(value: int) -> str:
    """A Prometheus duration."""
    return f"{int(value)}s"

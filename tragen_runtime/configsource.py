"""The one place that reads the configuration file (through the shared validator)."""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

CONFIG_ENV = "TRAGEN_CONFIG"


class ConfigError(Exception):
    """The configuration cannot be used; str() lists every problem and what to do."""


def load_config(path: str | None = None) -> dict[str, Any]:
    """Load and validate the configuration at `path` (default: $TRAGEN_CONFIG)."""
    path = path or os.environ.get(CONFIG_ENV)
    if not path:
        raise ConfigError(f"no configuration: set {CONFIG_ENV} to the path of the YAML file")
    if not os.path.isfile(path):
        raise ConfigError(f"{path}: configuration file not found (from {CONFIG_ENV})")
    from tragen_runtime.config import InvalidConfiguration, load_valid_config

    try:
        config = load_valid_config(path)
    except InvalidConfiguration as exc:
        raise ConfigError(f"{path}: invalid configuration:\n{exc}") from exc
    return dict(config)


def config_digest(config: dict[str, Any]) -> str:
    """sha256 of the canonical JSON (sorted keys, compact separators, UTF-8)."""
    canonical = json.dumps(config, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                           default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

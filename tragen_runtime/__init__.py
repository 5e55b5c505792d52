"""The Tragen agent-trading runtime: agents, market data, paper broker, HTTP API."""

from __future__ import annotations

from importlib import metadata


def package_version() -> str:
    """The installed distribution's version, or the source tree's when not installed."""
    try:
        return metadata.version("tragen-runtime")
    except metadata.PackageNotFoundError:
        return "0.1.0+source"

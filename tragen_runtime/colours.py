"""Blue-green colours: which of an app server's colours takes agent leases.

On a blue-green stage every app server runs one gunicorn unit per colour (`tragen@blue`,
`tragen@green`); `TRAGEN_COLOUR` names the unit's colour and `TRAGEN_LIVE_COLOUR_FILE` the file
the switch writes with the live colour. Only the live colour's workers take agent leases: the
idle colour serves its API and health checks (what a pre-promotion check calls) and runs no
agent, so no agent runs in both colours. A worker without a colour (every stage that does not
run blue-green) is always live.

At a switch the old colour gives its leases back at its next lease round and the new colour
claims them at its own, so an agent is without an owner for at most one renew interval.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

COLOURS = ("blue", "green")


@dataclass(frozen=True)
class ColourState:
    """This worker's colour (None: no blue-green) and what the live-colour file says."""

    colour: str | None
    live: str | None = None
    problem: str | None = None  # why the live colour is unknown

    @property
    def takes_leases(self) -> bool:
        return self.colour is None or (self.problem is None and self.colour == self.live)

    def as_dict(self) -> dict[str, Any]:
        return {"this": self.colour, "live": self.live, "takes_leases": self.takes_leases}


def check_colour(colour: str | None) -> str | None:
    """TRAGEN_COLOUR's value, or why it is not a colour."""
    if colour is None or colour in COLOURS:
        return None
    return f"TRAGEN_COLOUR is {colour!r}; expected one of {', '.join(COLOURS)}, or unset"


def colour_state(colour: str | None, live_file: str | None) -> ColourState:
    """Reads the live colour (a few bytes, every lease round) for a worker of `colour`."""
    if colour is None:
        return ColourState(None)
    if not live_file:
        return ColourState(colour, problem="TRAGEN_COLOUR is set but TRAGEN_LIVE_COLOUR_FILE "
                                           "is not: no worker of either colour takes agents")
    try:
        live = Path(live_file).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        # before the first switch: the single unit runs the agents, each colour waits idle
        return ColourState(colour)
    except OSError as exc:
        return ColourState(colour, problem=f"cannot read the live colour from {live_file}: "
                                           f"{exc.strerror}; no agent runs in this colour")
    if live not in COLOURS:
        return ColourState(colour, problem=f"{live_file} says {live[:20]!r}; expected one of "
                                           f"{', '.join(COLOURS)}")
    return ColourState(colour, live)

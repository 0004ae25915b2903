"""What time-dependent code needs of a clock; the runtime owns the implementations.

A simulated clock can run faster than real time, so every wait is expressed in clock seconds and goes
through `sleep`, never through the event loop's own timers.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol


class Clock(Protocol):
    speed: float  # clock seconds per real second

    def now(self) -> datetime:
        """Aware UTC."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait `seconds` of clock time."""
        ...

"""Clocks: propdesk's own steady time for real accounts, and a simulated one for the demo.

A wall clock can jump: NTP steps it, someone sets it by hand, a virtual machine resumes. Every lock expiry
and every trading-day rollover is decided by comparing an event's time with a boundary, so a wall clock
3.5 h ahead would expire a daily-stop lock and reset the day's loss. `SteadyClock` therefore never
follows a jump: it counts elapsed time on a monotonic clock from where the wall clock was at start,
compares itself with the wall clock on every `check`, and reports a disagreement instead of adopting it.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import partial
from typing import Any, Protocol, runtime_checkable
from zoneinfo import ZoneInfo

from propdesk.domain.clock import Clock
from propdesk.runtime.notices import Level

# More than this between the wall clock and propdesk's time is a jump, not drift or a late tick.
JUMP_TOLERANCE = 5.0  # seconds
# While the clocks disagree, the alarm comes back this often: the trader must act (fix, or restart).
REMIND_EVERY = 15 * 60.0  # seconds of propdesk's time
# While they agree, propdesk's time is steered toward the wall clock at most this fast (seconds per
# second), so a monotonic clock that runs a little fast or slow never builds up to a false jump, and
# small wall-clock steps cannot add up to a large move of propdesk's time. 500 ppm is the kernel's own
# limit for NTP slewing and far above the drift of any quartz crystal.
MAX_SLEW = 0.0005

_EXCHANGE_TIME = ZoneInfo("America/Chicago")


def _system_wall() -> datetime:
    return datetime.now(UTC)


def suspend_aware_seconds() -> Callable[[], float]:
    """The monotonic seconds that keep counting while the machine sleeps, where the OS offers them.

    After a laptop sleeps for an hour its wall clock is an hour later, and rightly: a monotonic clock
    that stopped while asleep would call that a jump and hold propdesk an hour behind.
    """
    if sys.platform.startswith("linux") and hasattr(time, "CLOCK_BOOTTIME"):
        return partial(time.clock_gettime, time.CLOCK_BOOTTIME)
    if sys.platform == "darwin" and hasattr(time, "CLOCK_MONOTONIC"):
        # macOS's CLOCK_MONOTONIC counts sleep; time.monotonic() (mach_absolute_time) does not.
        return partial(time.clock_gettime, time.CLOCK_MONOTONIC)
    return time.monotonic


class ClockChange(StrEnum):
    JUMPED = "jumped"  # the wall clock left propdesk's time by more than the tolerance
    STILL_OFF = "still_off"  # the reminder while they still disagree
    AGREES = "agrees"  # the wall clock is back within the tolerance


@dataclass(frozen=True, slots=True)
class ClockReading:
    """propdesk's time beside the system clock's, as the status reply shows them."""

    steady: datetime  # propdesk's own time: what every event, cutoff and lock is judged by
    wall: datetime  # the system clock
    consistent: bool  # within the tolerance, and no disagreement under way

    @property
    def offset(self) -> timedelta:
        """How far the system clock is ahead of propdesk's time (negative: behind)."""
        return self.wall - self.steady

    def as_json(self) -> dict[str, Any]:
        return {
            "steady": self.steady.isoformat(),
            "wall": self.wall.isoformat(),
            "offset_seconds": round(self.offset.total_seconds(), 3),
            "consistent": self.consistent,
        }


@dataclass(frozen=True, slots=True)
class ClockReport:
    """One thing the trader must hear about the clocks."""

    change: ClockChange
    steady: datetime  # propdesk's time when it was seen
    wall: datetime
    since: datetime  # propdesk's time when the disagreement began (for AGREES: the one that ended)

    @property
    def offset(self) -> timedelta:
        return self.wall - self.steady

    @property
    def level(self) -> Level:
        return Level.INFO if self.change is ClockChange.AGREES else Level.CRITICAL

    def text(self) -> str:
        """The alert's words: what happened, what propdesk does about it, what the trader should do."""
        seconds = self.offset.total_seconds()
        span = span_text(seconds)
        at = _hhmm(self.steady)
        if self.change is ClockChange.AGREES:
            return (
                f"clock: the system clock agrees again with propdesk's time at {at}; propdesk kept "
                f"its own time since {_hhmm(self.since)}, so no lock expired and no trading day "
                "rolled over by the jump."
            )
        # A restart takes the system clock's time: said plainly, as the way out once it is right.
        restart = (
            "Check the system clock (NTP). If its new time is the right one, restart propdesk to "
            f"take it: until then propdesk's cutoffs and lock ends run {span} "
            f"{'behind' if seconds > 0 else 'ahead of'} the system clock. This alarm repeats every "
            f"{REMIND_EVERY / 60:.0f} min while the clocks disagree."
        )
        if self.change is ClockChange.STILL_OFF:
            return (
                f"clock: the system clock is still {span} {'ahead of' if seconds > 0 else 'behind'} "
                f"propdesk's time (since {_hhmm(self.since)}); propdesk keeps its own time. {restart}"
            )
        kept = (
            "no lock expires and no trading day rolls over by the jump"
            if seconds > 0
            else "no lock expires, no trading day rolls over and no cutoff comes late by the jump"
        )
        direction = "forward" if seconds > 0 else "back"
        return (
            f"clock: the system clock jumped {direction} {span} at {at}; propdesk keeps its own "
            f"time ({kept}). {restart}"
        )

    def record(self) -> dict[str, Any]:
        """The journal's notice for it."""
        return {
            "type": "clock",
            "change": self.change.value,
            "steady": self.steady.isoformat(),
            "wall": self.wall.isoformat(),
            "offset_seconds": round(self.offset.total_seconds(), 3),
        }


@runtime_checkable
class WatchedClock(Clock, Protocol):
    """A runtime clock the runtime checks on every tick and shows in its status."""

    def check(self) -> ClockReport | None:
        """What changed since the last check that the trader must hear about, if anything."""
        ...

    def reading(self) -> ClockReading: ...


@dataclass(slots=True)
class _Disagreement:
    since: datetime  # propdesk's time when it began
    offset: float  # seconds, as last reported
    reported_at: float  # monotonic seconds of the last report


class SteadyClock:
    """Wall-clock time that never jumps: the wall clock at start, then monotonic seconds.

    `check` compares it with the wall clock. A difference over `tolerance` is reported once (and then
    every `remind_every` seconds, or again if the wall clock moves further) and is never adopted: no
    lock expires and no trading day rolls over by a jump. When the wall clock comes back within
    `tolerance` that is reported too. A restart of propdesk starts again from the wall clock.
    """

    speed = 1.0

    def __init__(
        self,
        *,
        wall: Callable[[], datetime] = _system_wall,
        monotonic: Callable[[], float] | None = None,
        tolerance: float = JUMP_TOLERANCE,
        remind_every: float = REMIND_EVERY,
        max_slew: float = MAX_SLEW,
    ) -> None:
        if tolerance <= 0 or remind_every <= 0 or max_slew < 0:
            raise ValueError("tolerance and remind_every must be > 0, max_slew >= 0")
        self._wall = wall
        self._monotonic = monotonic if monotonic is not None else suspend_aware_seconds()
        self.tolerance = tolerance
        self.remind_every = remind_every
        self.max_slew = max_slew
        start = wall()
        if start.tzinfo is None:
            raise ValueError("the wall clock must give timezone-aware times")
        self._anchor = start.astimezone(UTC)
        self._anchor_mono = self._monotonic()
        self._checked_mono = self._anchor_mono
        self._last = self._anchor  # the latest time handed out: never handed out smaller again
        self._off: _Disagreement | None = None

    def now(self) -> datetime:
        return self._at(self._monotonic())

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))

    def reading(self) -> ClockReading:
        steady, wall = self.now(), self._wall()
        within = abs((wall - steady).total_seconds()) <= self.tolerance
        return ClockReading(steady, wall, within and self._off is None)

    def check(self) -> ClockReport | None:
        mono = self._monotonic()
        steady, wall = self._at(mono), self._wall()
        offset = (wall - steady).total_seconds()
        elapsed, self._checked_mono = mono - self._checked_mono, mono
        off = self._off
        if abs(offset) <= self.tolerance:
            self._steer(offset, elapsed)
            if off is None:
                return None
            self._off = None
            return ClockReport(ClockChange.AGREES, steady, wall, off.since)
        if off is None or abs(offset - off.offset) > self.tolerance:
            # A jump, or a further one while the first still stands: news either way.
            since = steady if off is None else off.since
            self._off = _Disagreement(since, offset, mono)
            return ClockReport(ClockChange.JUMPED, steady, wall, since)
        if mono - off.reported_at >= self.remind_every:
            off.reported_at, off.offset = mono, offset
            return ClockReport(ClockChange.STILL_OFF, steady, wall, off.since)
        return None

    def _at(self, mono: float) -> datetime:
        t = self._anchor + timedelta(seconds=mono - self._anchor_mono)
        # Steering back may put the computed time a fraction of a millisecond before one already
        # handed out: time stands still for that long instead of going back.
        if t < self._last:
            return self._last
        self._last = t
        return t

    def _steer(self, offset: float, elapsed: float) -> None:
        """Move propdesk's time toward the agreeing wall clock, at most `max_slew` s per second."""
        limit = self.max_slew * max(elapsed, 0.0)
        self._anchor += timedelta(seconds=max(-limit, min(limit, offset)))


class ScaledClock:
    """Simulated time: `start` at creation, then `speed` clock seconds per real second.

    It runs on the monotonic clock alone, so it has no wall clock to disagree with: `check` never
    reports anything and its reading is always consistent.
    """

    def __init__(self, start: datetime, speed: float = 1.0) -> None:
        if start.tzinfo is None:
            raise ValueError("the clock's start must be timezone-aware")
        if speed <= 0:
            raise ValueError("speed must be > 0")
        self.speed = speed
        self._start = start.astimezone(UTC)
        self._t0 = time.monotonic()

    def now(self) -> datetime:
        return self._start + timedelta(seconds=(time.monotonic() - self._t0) * self.speed)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds) / self.speed)

    def check(self) -> ClockReport | None:
        return None

    def reading(self) -> ClockReading:
        now = self.now()
        return ClockReading(now, now, True)


def _hhmm(ts: datetime) -> str:
    """Exchange time, as the firms state their rules and the header shows it."""
    return ts.astimezone(_EXCHANGE_TIME).strftime("%H:%M CT")


def span_text(seconds: float) -> str:
    """A clock difference in plain words: '3 h 30 min', '2 min 5 s', '12 s'."""
    total = round(abs(seconds))
    if total >= 3_600:  # hours are said to the minute: round to it rather than cut the seconds
        total = round(abs(seconds) / 60) * 60
    days, rest = divmod(total, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    if minutes:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    return f"{secs} s"

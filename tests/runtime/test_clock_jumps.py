"""A jump of the system clock never expires a lock or rolls the trading day over; it is an alarm.

The runtime runs on the simulator with a SteadyClock whose two sources are injected: real seconds pass
on both, and the test steps the wall clock as NTP or a hand on the system settings would.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from notice_wait import notice_matching

from propdesk.brokers.base import AccountRef, OrderRequest, OrderType
from propdesk.brokers.sim import SimBroker, SimExchange, front_month
from propdesk.domain.account import AccountRisk, calendar_for
from propdesk.domain.events import Side
from propdesk.domain.firms import ProfileSet
from propdesk.domain.guard import ActionType, GuardState
from propdesk.domain.instruments import Contract, InstrumentBook
from propdesk.domain.protocol import Protocol
from propdesk.runtime.accounts import AccountSetup, risk_for, setup_from_json
from propdesk.runtime.clock import SteadyClock
from propdesk.runtime.engine import Runtime
from propdesk.runtime.journal import Journal, rebuild
from propdesk.runtime.notices import (
    ActionTaken,
    Alert,
    FillBooked,
    Level,
    Notice,
    StateChanged,
    Topic,
)

CT = ZoneInfo("America/Chicago")
# A Tuesday afternoon: the equity session closes at 16:00, the next one opens (and the Topstep day
# rolls over) at 17:00 CT, so a daily lock taken now runs until 17:00.
T0 = datetime(2026, 11, 24, 14, 5, tzinfo=CT)
NEXT_OPEN = datetime(2026, 11, 24, 17, 0, tzinfo=CT)
JUMP = timedelta(hours=3, minutes=30)  # 14:05 → 17:35 CT: past the lock's end and the day's roll


class MachineClocks:
    """The machine's wall and monotonic clocks: both run in real seconds from T0; `offset` is how far
    the test has stepped the wall clock (the monotonic one never jumps)."""

    def __init__(self, start: datetime) -> None:
        self._start = start
        self._t0 = time.monotonic()
        self.offset = timedelta(0)

    def monotonic(self) -> float:
        return 7_000.0 + (time.monotonic() - self._t0)  # any origin: only differences count

    def wall(self) -> datetime:
        return self._start + timedelta(seconds=time.monotonic() - self._t0) + self.offset


@dataclass
class Rig:
    runtime: Runtime
    machine: MachineClocks
    exchange: SimExchange
    strategy: SimBroker
    ref: AccountRef
    es: Contract
    journal: Journal
    notices: list[Notice]
    tick_times: list[datetime] = field(default_factory=list)
    _ticked: asyncio.Event = field(default_factory=asyncio.Event)

    async def until(self, predicate: Callable[[Notice], bool], timeout: float = 10.0) -> Notice:
        return await notice_matching(self.runtime, self.notices, predicate, timeout)

    def record_tick(self, now: datetime) -> None:
        self.tick_times.append(now)
        self._ticked.set()

    async def ticks(self, count: int, timeout: float = 5.0) -> list[datetime]:
        """Wait for the runtime's tick loop to advance time `count` more times; their times."""
        start = len(self.tick_times)
        async with asyncio.timeout(timeout):
            while len(self.tick_times) < start + count:
                self._ticked.clear()
                await self._ticked.wait()
        return self.tick_times[start:]

    @property
    def risk(self) -> AccountRisk:
        return self.runtime.accounts[str(self.ref)].risk

    def clock_alerts(self) -> list[Alert]:
        return [n for n in self.notices if isinstance(n, Alert) and n.topic is Topic.CLOCK]


@pytest.fixture
async def rig(
    tmp_path: Path, instruments: InstrumentBook, profiles: ProfileSet
) -> AsyncIterator[Rig]:
    machine = MachineClocks(T0)
    clock = SteadyClock(wall=machine.wall, monotonic=machine.monotonic)
    profile = profiles.get("topstep-combine-50k")  # daily limit 1,000; the user's stop at 750
    exchange = SimExchange(instruments, calendar_for(profile), clock, seed=3, step_seconds=0.05)
    ref = exchange.open_account("A0", Decimal(50_000))
    broker = SimBroker(exchange)
    strategy = SimBroker(exchange, name="strategy", accounts=[ref])
    journal = Journal(tmp_path / "journal.sqlite")
    runtime = Runtime(
        [broker],
        [AccountSetup(ref, profile, Protocol(connection_down_limit=None))],
        clock=clock,
        journal=journal,
        instruments=instruments,
        tick_seconds=0.02,
    )
    notices: list[Notice] = []
    runtime.notices.register(notices.append)
    es = front_month(instruments.instrument("ES"), T0)
    rig = Rig(runtime, machine, exchange, strategy, ref, es, journal, notices)
    real_tick = runtime.tick

    def tick(now: datetime) -> None:  # the tick loop's own call, recorded on its way through
        real_tick(now)
        rig.record_tick(now)

    runtime.tick = tick  # type: ignore[method-assign]
    exchange.start()
    await strategy.connect()
    await runtime.start()
    yield rig
    await runtime.stop()
    await strategy.close()
    await exchange.stop()
    journal.close()


async def lock_for_the_day(rig: Rig) -> tuple[date, Decimal]:
    """Lose past the daily stop: flattened and locked until the next session opens.

    Returns the trading day and the day's starting balance the lock was taken in.
    """
    await rig.strategy.place(rig.ref, OrderRequest(rig.es, Side.BUY, 2, OrderType.MARKET))
    await rig.until(lambda n: isinstance(n, FillBooked) and n.account == str(rig.ref))
    bid = rig.exchange.quote(rig.es).mark.bid  # type: ignore[union-attr]
    rig.exchange.move_price(rig.es, bid - 10)  # −10 points × 2 × $50: past the daily stop
    await rig.until(lambda n: isinstance(n, StateChanged) and n.new is GuardState.LOCKED)
    status = rig.risk.status
    assert status.rule in ("daily_stop", "daily_loss"), status
    assert status.lock_until == NEXT_OPEN
    day = rig.risk.trading_day
    assert day is not None
    # The jump must cross both the lock's end and the day's roll, or the test would prove nothing.
    assert rig.risk.calendar.trading_day(rig.machine.wall() + JUMP) != day
    assert rig.risk.ledger.day_pnl <= -750
    return day, rig.risk.ledger.day_start_balance


def assert_still_locked(rig: Rig, day: date, day_start: Decimal) -> None:
    risk = rig.risk
    assert risk.status.state is GuardState.LOCKED, risk.status.reason
    assert risk.status.lock_until == NEXT_OPEN
    assert risk.trading_day == day, "the trading day rolled over by the jump"
    assert risk.ledger.day_start_balance == day_start, "the day's baseline was reset"
    assert risk.ledger.day_pnl <= -750, "the day's real loss is still counted"
    unlocks = [
        n for n in rig.notices if isinstance(n, ActionTaken) and n.action.type is ActionType.UNLOCK
    ]
    assert not unlocks, unlocks


def is_clock_alert(level: Level) -> Callable[[Notice], bool]:
    return lambda n: isinstance(n, Alert) and n.topic is Topic.CLOCK and n.level is level


async def test_a_forward_jump_past_the_lock_end_keeps_the_lock_and_the_day(rig: Rig) -> None:
    day, day_start = await lock_for_the_day(rig)
    before = rig.runtime.clock.now()
    rig.machine.offset = JUMP  # 14:05 → 17:35 CT on the system clock
    alarm = await rig.until(is_clock_alert(Level.CRITICAL))
    after = await rig.ticks(10)

    assert "jumped forward 3 h 30 min" in alarm.text, alarm.text  # type: ignore[union-attr]
    assert "no lock expires and no trading day rolls over" in alarm.text  # type: ignore[union-attr]
    assert len(rig.clock_alerts()) == 1, "one alarm for one jump"
    assert_still_locked(rig, day, day_start)
    # The runtime's time ran on from where it was, not from the system clock's.
    assert all(before <= t < before + timedelta(minutes=5) for t in after), after
    clock = rig.runtime.status()["clock"]
    assert clock["consistent"] is False
    assert clock["offset_seconds"] == pytest.approx(JUMP.total_seconds(), abs=1.0)
    # The journal says so, and a rebuild from it keeps the lock too.
    rig.journal.commit()
    notes = [r.payload for r in rig.journal.records(kinds=("notice",))]
    jumps = [p for p in notes if p.get("type") == "clock"]
    assert [p["change"] for p in jumps] == ["jumped"]
    assert jumps[0]["offset_seconds"] == pytest.approx(JUMP.total_seconds(), abs=1.0)
    rebuilt = rebuild(
        rig.journal.records(), lambda _r, c: risk_for(setup_from_json(c)), rig.runtime.instruments
    )
    assert rebuilt.accounts[str(rig.ref)].status.state is GuardState.LOCKED


async def test_a_backward_jump_keeps_the_lock_and_the_day_and_time_never_goes_back(
    rig: Rig,
) -> None:
    day, day_start = await lock_for_the_day(rig)
    before = await rig.ticks(1)
    rig.machine.offset = -JUMP  # 14:05 → 10:35 CT on the system clock
    alarm = await rig.until(is_clock_alert(Level.CRITICAL))
    after = await rig.ticks(10)

    assert "jumped back 3 h 30 min" in alarm.text, alarm.text  # type: ignore[union-attr]
    assert len(rig.clock_alerts()) == 1
    assert_still_locked(rig, day, day_start)
    assert rig.risk.status.state is not GuardState.WARNING
    # Cutoffs are judged on the runtime's time: it runs on, 3.5 h later than the system clock says.
    assert all(t >= before[-1] for t in after), (before, after)
    assert rig.runtime.status()["clock"]["offset_seconds"] == pytest.approx(
        -JUMP.total_seconds(), abs=1.0
    )


async def test_the_clock_agreeing_again_is_an_all_clear_and_time_runs_on(rig: Rig) -> None:
    day, day_start = await lock_for_the_day(rig)
    rig.machine.offset = JUMP
    await rig.until(is_clock_alert(Level.CRITICAL))
    jumped = await rig.ticks(5)
    rig.machine.offset = timedelta(0)  # the system clock is put right
    clear = await rig.until(is_clock_alert(Level.INFO))
    later = await rig.ticks(10)

    assert "agrees again" in clear.text, clear.text  # type: ignore[union-attr]
    assert [a.level for a in rig.clock_alerts()] == [Level.CRITICAL, Level.INFO]
    assert_still_locked(rig, day, day_start)
    assert later[0] >= jumped[-1], "time never went back"
    assert later[-1] > later[0], "time runs on"
    clock = rig.runtime.status()["clock"]
    assert clock["consistent"] is True
    assert abs(clock["offset_seconds"]) < 1.0
    rig.journal.commit()
    changes = [
        r.payload["change"]
        for r in rig.journal.records(kinds=("notice",))
        if r.payload.get("type") == "clock"
    ]
    assert changes == ["jumped", "agrees"]


async def test_drift_under_the_tolerance_raises_nothing(rig: Rig) -> None:
    day, day_start = await lock_for_the_day(rig)
    for drift in (4.0, -4.0, 2.5):  # seconds, each under the 5 s tolerance
        rig.machine.offset = timedelta(seconds=drift)
        await rig.ticks(5)
        clock = rig.runtime.status()["clock"]
        assert clock["consistent"] is True, (drift, clock)
        assert clock["offset_seconds"] == pytest.approx(drift, abs=0.5)
    assert rig.clock_alerts() == []
    assert_still_locked(rig, day, day_start)


# -- the clock alone, on hand-stepped sources ---------------------------------------------------
class HandClocks:
    """A wall and a monotonic clock the test moves by hand."""

    def __init__(self, start: datetime) -> None:
        self.mono = 1_000.0
        self.wall_at = start

    def monotonic(self) -> float:
        return self.mono

    def wall(self) -> datetime:
        return self.wall_at

    def run(self, seconds: float) -> None:
        """Real time passes: both clocks move on together."""
        self.mono += seconds
        self.wall_at += timedelta(seconds=seconds)


def hand_clock(**kwargs: float) -> tuple[SteadyClock, HandClocks]:
    hand = HandClocks(T0)
    return SteadyClock(wall=hand.wall, monotonic=hand.monotonic, **kwargs), hand


def test_a_disagreement_that_stays_is_repeated_and_a_second_jump_is_news() -> None:
    clock, hand = hand_clock(remind_every=900.0)
    hand.wall_at += JUMP
    first = clock.check()
    assert first is not None
    assert first.change == "jumped"
    assert first.level is Level.CRITICAL
    assert "14:05 CT" in first.text()
    assert "repeats every 15 min" in first.text()
    for _ in range(899):
        hand.run(1.0)
        assert clock.check() is None, "one alarm per jump between reminders"
    hand.run(1.0)
    reminder = clock.check()
    assert reminder is not None
    assert reminder.change == "still_off"
    assert "still 3 h 30 min ahead of propdesk's time (since 14:05 CT)" in reminder.text()
    hand.wall_at += timedelta(hours=1)
    again = clock.check()
    assert again is not None
    assert again.change == "jumped"
    assert "forward 4 h 30 min" in again.text()
    assert again.since == first.since
    assert clock.now() == T0 + timedelta(seconds=900), "propdesk's time never followed"


def test_drift_is_steered_out_slowly_and_time_never_goes_back() -> None:
    clock, hand = hand_clock(max_slew=0.0005)
    hand.wall_at -= timedelta(seconds=3)  # a wall clock 3 s behind: drift, not a jump
    seen = [clock.now()]
    for _ in range(1_000):
        hand.run(1.0)
        assert clock.check() is None
        seen.append(clock.now())
    assert seen == sorted(seen), "propdesk's time never goes back while it is steered"
    behind = (hand.wall() - clock.now()).total_seconds()
    assert behind == pytest.approx(-3.0 + 0.5, abs=1e-3), "steered at most 0.5 ms per second"
    for _ in range(6_000):
        hand.run(1.0)
        clock.check()
    hand.run(1.0)
    assert (clock.now() - hand.wall()).total_seconds() == pytest.approx(0, abs=1e-3), (
        "and in the end it agrees"
    )


def test_the_demo_clock_has_nothing_to_report() -> None:
    from propdesk.runtime.clock import ScaledClock

    clock = ScaledClock(T0, speed=60.0)
    assert clock.check() is None
    assert clock.reading().consistent is True


@pytest.mark.skipif(not hasattr(time, "CLOCK_BOOTTIME"), reason="Linux counts suspend in BOOTTIME")
def test_the_default_monotonic_source_counts_suspend_where_the_os_can() -> None:
    from propdesk.runtime.clock import suspend_aware_seconds

    source = suspend_aware_seconds()
    before = time.clock_gettime(time.CLOCK_BOOTTIME)
    read = source()
    assert before <= read <= time.clock_gettime(time.CLOCK_BOOTTIME)

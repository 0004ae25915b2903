"""Hysteresis in time: a soft state eases only after the numbers stayed on the easy side a while.

Issue 13: marks crossing the warn level back and forth (further than the money hysteresis) made
WARNING ↔ ACTIVE flap dozens of times in minutes. The hold is measured with the events' own
timestamps: the guard reads no clock.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from test_guard import LIMITS, T0, Driver, FixedSchedule, guard

from propdesk.domain.guard import ActionType, Guard, GuardState
from propdesk.domain.protocol import Protocol

HOLD = timedelta(seconds=60)  # the default `Protocol.ease_after`
# The warn level is 49,500 (50% of the $1,000 daily limit); it eases above 49,550 (the 5% margin).
DEEP, EASY = 49_480, 49_600


def transitions(driver) -> int:
    return sum(1 for a in driver.actions if a.type is ActionType.ALERT)


def test_the_default_hold_is_a_minute() -> None:
    assert Protocol().ease_after == HOLD


def test_an_equity_oscillating_around_the_warn_level_does_not_flap() -> None:
    g = guard()
    g.equity(50_000, T0)
    # Ten minutes of marks every 5 s, crossing both the warn and the ease level every 20 s.
    for i in range(120):
        value = DEEP if (i // 4) % 2 == 0 else EASY
        g.equity(value, T0 + timedelta(seconds=5 * i))
    # Without the hold: one warning and one easing per 40 s cycle, 30 transitions. With it the
    # easy side never lasts a minute: the first warning stands.
    assert transitions(g) == 1
    assert g.state is GuardState.WARNING


def test_transitions_are_bounded_by_the_hold_even_with_slow_oscillation() -> None:
    g = guard()
    minutes = 30
    # Two minutes deep, two minutes easy, marks every 10 s: each easy spell outlasts the hold.
    for i in range(minutes * 6):
        value = DEEP if (i // 12) % 2 == 0 else EASY
        g.equity(value, T0 + timedelta(seconds=10 * i))
    cycles = minutes // 4
    assert transitions(g) <= 2 * cycles + 1
    assert transitions(g) >= 2 * cycles - 1, "a real recovery still eases each time"


def test_a_real_recovery_eases_after_the_hold_and_not_before() -> None:
    g = guard()
    g.equity(DEEP, T0)
    assert g.state is GuardState.WARNING
    g.equity(EASY, T0 + timedelta(seconds=1))  # the easy side starts here
    g.equity(EASY, T0 + timedelta(seconds=30))
    g.equity(EASY, T0 + timedelta(seconds=60))
    assert g.state is GuardState.WARNING, "59 s on the easy side is not yet the hold"
    (eased,) = g.equity(EASY, T0 + timedelta(seconds=61))
    assert g.state is GuardState.ACTIVE
    assert eased.reason.startswith("eased:")
    assert "for 60 s" in eased.reason
    assert g.status.since == T0 + timedelta(seconds=61)


def test_a_dip_back_restarts_the_hold() -> None:
    g = guard()
    g.equity(DEEP, T0)
    g.equity(EASY, T0 + timedelta(seconds=10))
    g.equity(49_520, T0 + timedelta(seconds=50))  # inside the money hysteresis: not easy
    g.equity(EASY, T0 + timedelta(seconds=55))
    g.equity(EASY, T0 + timedelta(seconds=100))
    assert g.state is GuardState.WARNING, "the hold counts from 55 s, not from 10 s"
    g.equity(EASY, T0 + timedelta(seconds=115))
    assert g.state is GuardState.ACTIVE


def test_rising_is_never_delayed() -> None:
    g = guard()
    g.equity(DEEP, T0)
    g.equity(EASY, T0 + timedelta(seconds=1))  # a hold under way
    (reduce,) = g.equity(49_350, T0 + timedelta(seconds=2))
    assert reduce.type is ActionType.REDUCE_ONLY
    assert g.state is GuardState.REDUCE_ONLY
    (flatten,) = g.equity(49_250, T0 + timedelta(seconds=3))
    assert flatten.type is ActionType.FLATTEN


def test_reduce_only_holds_then_eases_as_far_as_the_numbers_allow() -> None:
    g = guard()
    g.equity(49_350, T0)
    assert g.state is GuardState.REDUCE_ONLY
    g.equity(EASY, T0 + timedelta(seconds=5))
    g.equity(EASY, T0 + timedelta(seconds=30))
    assert g.state is GuardState.REDUCE_ONLY
    g.equity(EASY, T0 + timedelta(seconds=65))
    assert g.state is GuardState.ACTIVE, "straight to ACTIVE: the numbers are past both levels"


def test_a_scheduled_window_ends_when_it_says() -> None:
    # A news or cutoff lead is not noise: it ends at the time its reason gave the trader.
    schedule = FixedSchedule()
    g = Driver(Guard(LIMITS, Protocol(), schedule))  # type: ignore[arg-type]
    lead_start = schedule.cutoff - Protocol().cutoff_reduce_lead
    g.equity(50_000, lead_start)
    assert g.state is GuardState.REDUCE_ONLY
    assert g.status.rule == "cutoff_near"
    g.equity(50_000, schedule.reopen)  # the window is over (the lock would have ended it too)
    assert g.state is GuardState.ACTIVE


def test_a_zero_hold_keeps_the_old_behaviour() -> None:
    g = guard(Protocol(ease_after=timedelta(0)))
    g.equity(DEEP, T0)
    g.equity(EASY, T0)
    assert g.state is GuardState.ACTIVE


def test_the_hold_must_not_be_negative() -> None:
    with pytest.raises(ValueError, match="ease_after"):
        Protocol(ease_after=timedelta(seconds=-1))

"""A locked account whose strategy keeps trading: counted, priced, and loud at a firm floor.

The lock closes whatever the strategy opens; each close costs the account the spread and the slip.
The guard counts these re-flattens and the equity lost since the lock, and a firm floor crossed while
locked is an alert of its own: the firm has probably failed the account.
"""

from __future__ import annotations

from decimal import Decimal as D

from test_guard import LIMITS, T0, FixedSchedule, guard

from propdesk.domain.account_state import _restore_status, _save_status
from propdesk.domain.events import KillRequest, UnlockRequest
from propdesk.domain.guard import (
    FLOOR_WHILE_LOCKED,
    ActionType,
    Guard,
    GuardLimits,
    GuardState,
    lock_bleed,
)
from propdesk.domain.protocol import Protocol


def floor_alerts(actions: list) -> list:
    return [a for a in actions if a.type is ActionType.ALERT and a.rule == FLOOR_WHILE_LOCKED]


def test_each_reopened_position_is_a_counted_re_flatten_with_the_loss_since_the_lock() -> None:
    g = guard()
    g.equity(49_300)  # 70% of the day's 1,000 used: no stop yet
    g.equity(49_240)  # 76%: the user's daily stop flattens
    assert g.state is GuardState.FLATTENING
    g.equity(49_240, roots=())
    assert g.state is GuardState.LOCKED
    assert g.status.lock_equity == D(49_240)
    assert g.status.reflattens == 0

    (first,) = [a for a in g.equity(49_200, roots=("ES",)) if a.type is ActionType.FLATTEN]
    assert "1 re-flatten, −$40.00 since the lock" in first.reason
    g.equity(49_150, roots=())
    (second,) = [a for a in g.equity(49_100, roots=("NQ",)) if a.type is ActionType.FLATTEN]
    assert "2 re-flattens, −$140.00 since the lock" in second.reason
    assert second.reason.startswith("locked ("), "the alert policy keys lock enforcement on it"
    assert g.status.reflattens == 2
    assert g.status.since_lock == D(-140)


def test_a_firm_floor_crossed_while_locked_is_its_own_alert_once_per_crossing() -> None:
    g = guard()
    g.equity(49_240)
    g.equity(49_240, roots=())
    assert g.state is GuardState.LOCKED
    g.equity(49_100, roots=("ES",))
    assert floor_alerts(g.actions) == []

    daily = floor_alerts(g.equity(48_990, roots=("ES",)))
    assert len(daily) == 1
    text = daily[0].reason
    assert "fell through the firm's daily loss limit 49000.00" in text
    assert "1 re-flatten" in text
    assert "−$250.00 since the lock" in text
    assert "stopped the account for the day" in text, "a soft daily limit does not end the account"
    assert floor_alerts(g.equity(48_950, roots=("ES",))) == [], "staying below says nothing new"

    deep = floor_alerts(g.equity(47_990, roots=("ES",)))
    assert len(deep) == 1
    assert "max-loss floor 48000.00" in deep[0].reason
    assert "the firm has probably failed the account" in deep[0].reason
    assert g.state is GuardState.LOCKED


def test_a_hard_daily_limit_crossed_while_locked_says_the_account_is_failed() -> None:
    hard = GuardLimits(LIMITS.daily_loss, LIMITS.max_loss, LIMITS.max_contracts, daily_hard=True)
    g = guard()
    g.guard = Guard(hard, Protocol(), FixedSchedule())  # type: ignore[arg-type]
    g.send(KillRequest(T0))
    g.equity(49_500, roots=())
    assert g.state is GuardState.LOCKED
    (alert,) = floor_alerts(g.equity(48_990, roots=("ES",)))
    assert "daily loss limit" in alert.reason
    assert "the firm has probably failed the account" in alert.reason


def test_a_lock_that_began_below_a_floor_does_not_cry_again() -> None:
    g = guard()
    g.equity(47_900)  # through the max-loss floor: flatten, permanent lock
    g.equity(47_900, roots=())
    assert g.state is GuardState.LOCKED
    g.equity(47_800, roots=("ES",))
    assert floor_alerts(g.actions) == []


def test_an_unlock_forgets_the_count_and_a_new_lock_starts_afresh() -> None:
    g = guard()
    g.send(KillRequest(T0))
    g.equity(50_000, roots=())
    g.equity(49_900, roots=("ES",))
    assert g.status.reflattens == 1
    g.equity(49_900, roots=())
    g.send(UnlockRequest(T0, confirmed=True, scope="sim:1"))
    assert g.state is GuardState.ACTIVE
    assert g.status.reflattens == 0
    assert g.status.lock_equity is None
    g.send(KillRequest(T0))  # flat already: locked at once, at the equity of the last mark
    assert g.state is GuardState.LOCKED
    assert g.status.reflattens == 0
    assert g.status.lock_equity == D(49_900)


def test_the_count_and_the_lock_equity_survive_a_restart() -> None:
    g = guard()
    g.send(KillRequest(T0))
    g.equity(50_000, roots=())
    g.equity(49_900, roots=("ES",))
    restored = _restore_status(_save_status(g.status))
    assert restored == g.status
    assert lock_bleed(restored) == "1 re-flatten, −$100.00 since the lock"

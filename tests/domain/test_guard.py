"""The guard as a pure step function: graded states, reasons with numbers, hysteresis, locks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest

from propdesk.domain.events import (
    ClockTick,
    ConnectionRestored,
    FlatVerified,
    KillRequest,
    UnlockRequest,
    WorkingOrders,
)
from propdesk.domain.guard import (
    ActionType,
    Guard,
    GuardLimits,
    GuardState,
    GuardStatus,
    Metrics,
    RiskSnapshot,
)
from propdesk.domain.news import NewsEvent, Restriction, build_windows
from propdesk.domain.protocol import Protocol

T0 = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)  # 09:00 CT
CUTOFF = datetime(2026, 11, 24, 20, 40, tzinfo=UTC)  # 14:40 CT
REOPEN = datetime(2026, 11, 24, 23, 0, tzinfo=UTC)  # 17:00 CT


@dataclass
class FixedSchedule:
    cutoff: datetime = CUTOFF
    reopen: datetime = REOPEN

    def cutoff_window(
        self, now: datetime, groups: frozenset[str]
    ) -> tuple[datetime, datetime, datetime]:
        return (self.cutoff, self.reopen, self.cutoff + timedelta(minutes=30))

    def next_open(self, now: datetime, groups: frozenset[str]) -> datetime:
        return self.reopen


LIMITS = GuardLimits(daily_loss=D(1_000), max_loss=D(2_000), max_contracts=D(5))


def snap(
    equity: str | int,
    *,
    size: int = 1,
    roots: tuple[str, ...] = ("ES",),
    orders: int = 0,
    adding: int = 0,
    daily: int | None = 49_000,
    max_floor: int | None = 48_000,
) -> RiskSnapshot:
    return RiskSnapshot(
        equity=D(equity),
        balance=D(equity),
        max_loss_floor=None if max_floor is None else D(max_floor),
        daily_floor=None if daily is None else D(daily),
        size=D(size) if roots else D(0),
        roots=frozenset(roots),
        working_orders=orders,
        adding_orders=adding,
    )


class Driver:
    """Feeds a guard and remembers every action, so tests read like a trading day."""

    def __init__(self, guard: Guard) -> None:
        self.guard = guard
        self.status = GuardStatus()
        self.actions: list = []

    def send(self, event: object, now: datetime = T0) -> list:
        self.status, actions = self.guard.step(self.status, event, now)  # type: ignore[arg-type]
        self.actions.extend(actions)
        return actions

    def equity(self, value: str | int, now: datetime = T0, **kw: object) -> list:
        return self.send(Metrics(now, snap(value, **kw)), now)  # type: ignore[arg-type]

    @property
    def state(self) -> GuardState:
        return self.status.state


def guard(protocol: Protocol | None = None, **kw: object) -> Driver:
    return Driver(Guard(LIMITS, protocol or Protocol(), FixedSchedule(), **kw))  # type: ignore[arg-type]


def test_daily_loss_steps_through_every_state() -> None:
    g = guard()
    assert g.equity(50_000) == []
    assert g.state is GuardState.ACTIVE
    (alert,) = g.equity(49_500)  # 50% of the $1,000 limit used
    assert g.state is GuardState.WARNING
    assert alert.type is ActionType.ALERT
    assert "day loss 500.00 = 50% of the 1000.00 limit" in alert.reason
    (reduce,) = g.equity(49_350)
    assert g.state is GuardState.REDUCE_ONLY
    assert reduce.type is ActionType.REDUCE_ONLY
    (flatten,) = g.equity(49_250)  # 75%: the user's stop
    assert g.state is GuardState.FLATTENING
    assert flatten.type is ActionType.FLATTEN
    assert flatten.reason.startswith("your daily stop: day loss 750.00 is 75% of the 1000.00 limit")
    assert g.status.lock_until == REOPEN
    (lock,) = g.equity(49_250, roots=())
    assert g.state is GuardState.LOCKED
    assert lock.type is ActionType.LOCK
    assert "2026-11-24 17:00 CT" in lock.reason
    # At the reopen the day rolls: a new daily floor from the new start-of-day balance.
    (unlock,) = g.equity(49_250, REOPEN, roots=(), daily=48_250)
    assert unlock.type is ActionType.UNLOCK
    assert g.state is GuardState.ACTIVE


def test_hysteresis_keeps_a_noisy_boundary_from_flapping() -> None:
    # The money hysteresis alone; the hold in time: test_guard_ease_hold.py.
    g = guard(Protocol(ease_after=timedelta(0)))
    g.equity(49_500)
    assert g.state is GuardState.WARNING
    for value in (49_510, 49_490, 49_540, 49_460, 49_549):
        g.equity(value)
        assert g.state is GuardState.WARNING, value
    (eased,) = g.equity(49_551)  # below 45% used: the margin is 5% of the limit
    assert g.state is GuardState.ACTIVE
    assert eased.reason.startswith("eased:")
    alerts = [a for a in g.actions if a.type is ActionType.ALERT]
    assert len(alerts) == 2, "one warning, one easing — no flapping"


def test_reduce_only_eases_to_warning_with_margin() -> None:
    # The money hysteresis alone; the hold in time: test_guard_ease_hold.py.
    g = guard(Protocol(ease_after=timedelta(0)))
    g.equity(49_350)
    assert g.state is GuardState.REDUCE_ONLY
    g.equity(49_390)
    assert g.state is GuardState.REDUCE_ONLY
    g.equity(49_401)
    assert g.state is GuardState.WARNING


def test_max_loss_cushion_levels_and_user_stop() -> None:
    g = guard()
    g.equity(49_000, daily=None)  # 50% of the $2,000 cushion above 48,000
    assert g.state is GuardState.WARNING
    assert "50% of the 2000.00 max-loss cushion used" in g.actions[-1].reason
    (flatten,) = g.equity(48_500, daily=None)  # the default buffer: 25% of D above the floor
    assert g.state is GuardState.FLATTENING
    assert "max-loss stop" in flatten.reason
    assert g.status.lock_until is None, "max-loss stops lock until a confirmed unlock"


def test_floor_breach_locks_until_a_confirmed_unlock() -> None:
    g = guard(Protocol.none())
    g.equity("48000.01", daily=None)
    assert g.state is GuardState.ACTIVE, "protocol none: no warn levels, no user stop"
    (flatten,) = g.equity(48_000, daily=None)
    assert flatten.reason == "max-loss floor breached: equity 48000.00 ≤ floor 48000.00"
    g.equity(48_000, roots=(), daily=None)
    assert g.state is GuardState.LOCKED
    g.send(ClockTick(REOPEN + timedelta(days=3)), REOPEN + timedelta(days=3))
    assert g.state is GuardState.LOCKED, "a max-loss lock never expires by itself"
    (refused,) = g.send(UnlockRequest(T0, confirmed=False, scope="account 1"))
    assert refused.type is ActionType.ALERT
    assert "needs confirmation" in refused.reason
    assert g.state is GuardState.LOCKED


def test_confirmed_unlock_rejudges_the_numbers_at_once() -> None:
    g = guard(Protocol.none())
    g.send(KillRequest(T0))
    g.equity(50_000, roots=())
    assert g.state is GuardState.LOCKED
    (unlock,) = g.send(UnlockRequest(T0, confirmed=True, scope="account 1"))
    assert unlock.type is ActionType.UNLOCK
    assert "account 1" in unlock.reason
    assert g.state is GuardState.ACTIVE
    g.send(KillRequest(T0))
    g.equity(47_000, roots=())
    actions = g.send(UnlockRequest(T0, confirmed=True))
    assert [a.type for a in actions] == [ActionType.UNLOCK, ActionType.FLATTEN, ActionType.LOCK]
    assert g.state is GuardState.LOCKED, "an unlock never hides a live breach"


def test_kill_is_idempotent_and_permanent() -> None:
    g = guard()
    g.equity(50_000)
    (first,) = g.send(KillRequest(T0, "FLATTEN ALL pressed"))
    assert first.type is ActionType.FLATTEN
    assert first.reason == "FLATTEN ALL pressed"
    (again,) = g.send(KillRequest(T0, "FLATTEN ALL pressed"))
    assert again.type is ActionType.FLATTEN
    assert g.state is GuardState.FLATTENING
    g.send(FlatVerified(T0))
    assert g.state is GuardState.FLATTENING, "a position is still open in the snapshot"
    g.equity(50_000, roots=())
    assert g.state is GuardState.LOCKED
    assert g.status.lock_until is None


def test_locked_account_undoes_new_positions_and_orders() -> None:
    g = guard()
    g.send(KillRequest(T0))
    g.equity(50_000, roots=())
    (close,) = g.equity(50_000, roots=("NQ",))
    assert close.type is ActionType.FLATTEN
    assert "new position" in close.reason
    assert g.equity(49_990, roots=("NQ",)) == [], "one request per new position, not one per mark"
    (cancel,) = g.send(WorkingOrders(T0, 2, 2))
    assert cancel.type is ActionType.CANCEL_ORDERS


def test_size_cap_is_firm_max_minus_one() -> None:
    g = guard()
    g.equity(50_000, size=3)
    assert g.state is GuardState.ACTIVE
    (reduce,) = g.equity(50_000, size=4)
    assert g.state is GuardState.REDUCE_ONLY
    assert "at the cap of 4" in reduce.reason
    (flatten,) = g.equity(50_000, size=5)
    assert flatten.type is ActionType.FLATTEN
    assert "over the cap of 4" in flatten.reason
    g2 = guard(Protocol.none())
    g2.equity(50_000, size=5)
    assert g2.state is GuardState.ACTIVE, "the firm's own maximum is allowed"
    g2.equity(50_000, size=6)
    assert g2.state is GuardState.FLATTENING


def test_reduce_only_cancels_orders_that_add_exposure() -> None:
    g = guard()
    g.equity(49_350)
    (cancel,) = g.send(WorkingOrders(T0, 3, 1))
    assert cancel.type is ActionType.CANCEL_ORDERS
    assert "would add exposure" in cancel.reason


def test_cutoff_reduce_lead_then_flatten_then_reopen() -> None:
    g = guard()
    g.equity(50_000)
    before = CUTOFF - timedelta(minutes=10, seconds=1)
    assert g.send(ClockTick(before), before) == []
    (reduce,) = g.send(ClockTick(before + timedelta(seconds=1)), before + timedelta(seconds=1))
    assert reduce.type is ActionType.REDUCE_ONLY
    assert "flat-by cutoff" in reduce.reason
    (flatten,) = g.send(ClockTick(CUTOFF), CUTOFF)
    assert flatten.type is ActionType.FLATTEN
    assert flatten.reason.startswith("flat-by cutoff 2026-11-24 14:40 CT")
    assert g.status.lock_until == REOPEN
    g.equity(50_000, CUTOFF, roots=())
    assert g.state is GuardState.LOCKED
    g.send(ClockTick(REOPEN), REOPEN)
    assert g.state is GuardState.ACTIVE


def test_flat_account_is_locked_at_the_cutoff_too() -> None:
    g = guard()
    g.equity(50_000, roots=())
    actions = g.send(ClockTick(CUTOFF), CUTOFF)
    assert [a.type for a in actions] == [ActionType.FLATTEN, ActionType.LOCK]


def _news(restriction: Restriction, roots: frozenset[str] | None = None) -> tuple:
    event = NewsEvent(T0 + timedelta(hours=1), "CPI", roots)
    return build_windows(
        [event], restriction=restriction, pre=timedelta(minutes=2), post=timedelta(minutes=2)
    )


def test_be_flat_news_window() -> None:
    g = guard(news=_news(Restriction.FLAT))
    start = T0 + timedelta(minutes=58)
    g.equity(50_000, start - timedelta(minutes=6))
    assert g.state is GuardState.ACTIVE
    g.send(ClockTick(start - timedelta(minutes=5)), start - timedelta(minutes=5))
    assert g.state is GuardState.REDUCE_ONLY
    (flatten,) = g.send(ClockTick(start), start)
    assert flatten.type is ActionType.FLATTEN
    assert "'CPI'" in flatten.reason
    end = start + timedelta(minutes=4)
    assert g.status.lock_until == end
    g.equity(50_000, start, roots=())
    assert g.state is GuardState.LOCKED
    g.send(ClockTick(end), end)
    assert g.state is GuardState.ACTIVE


def test_news_scope_by_instrument() -> None:
    g = guard(news=_news(Restriction.FLAT, frozenset({"CL", "MCL"})))
    start = T0 + timedelta(minutes=58)
    g.equity(50_000, start, roots=("ES",))
    assert g.state is GuardState.ACTIVE, "an EIA window restricts CL, not an ES position"
    (flatten,) = g.equity(50_000, start, roots=("ES", "CL"))
    assert flatten.roots == frozenset({"CL", "MCL"})


def test_no_executions_window_is_reduce_only_not_flatten() -> None:
    g = guard(news=_news(Restriction.NO_EXECUTIONS))
    start = T0 + timedelta(minutes=58)
    (reduce,) = g.equity(50_000, start)
    assert reduce.type is ActionType.REDUCE_ONLY
    assert "no executions" in reduce.reason


@pytest.mark.parametrize(("seconds", "flattens"), [(9, False), (10, False), (11, True)])
def test_connection_down_too_long(seconds: int, flattens: bool) -> None:
    g = guard()
    g.equity(50_000)
    actions = g.send(ConnectionRestored(T0, timedelta(seconds=seconds)))
    assert bool(actions) is flattens
    if flattens:
        assert actions[0].type is ActionType.FLATTEN
        assert "down 11 s (allowed 10 s)" in actions[0].reason
        assert g.status.lock_until == REOPEN


def test_a_floor_breach_while_daily_locked_makes_the_lock_permanent() -> None:
    g = guard()
    g.equity(49_000)
    g.equity(49_000, roots=())
    assert g.state is GuardState.LOCKED
    assert g.status.lock_until == REOPEN
    g.equity(47_900, roots=())
    assert g.status.lock_until is None
    assert g.status.rule == "max_loss"


def test_protocol_none_has_no_warning_levels() -> None:
    g = guard(Protocol.none())
    g.equity("49000.01")
    assert g.state is GuardState.ACTIVE
    (flatten,) = g.equity(49_000)
    assert "daily loss limit reached" in flatten.reason


def test_many_past_news_windows_are_skipped_and_time_may_go_back() -> None:
    events = [NewsEvent(T0 - timedelta(days=d), f"old {d}") for d in range(1, 300)]
    events.append(NewsEvent(T0 + timedelta(minutes=3), "CPI"))
    windows = build_windows(
        events, restriction=Restriction.FLAT, pre=timedelta(minutes=2), post=timedelta(minutes=2)
    )
    g = guard(news=windows)
    g.equity(50_000)
    assert g.state is GuardState.REDUCE_ONLY, "CPI's window opens in 1 minute"
    assert "'CPI'" in g.status.reason
    earlier = T0 - timedelta(days=5)
    g.equity(50_000, earlier - timedelta(minutes=1))
    assert g.state is GuardState.FLATTENING, (
        "a replay that steps back in time still sees old windows"
    )
    assert "'old 5'" in g.status.reason

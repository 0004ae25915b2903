"""Drawdown floors with each firm's exact arithmetic (research/prop-firm-rules.md §2).

Notation: B0 starting balance, D drawdown amount, L lock level, R realized balance net of fees,
E equity = R + open. A breach is E <= floor.

- static:                      floor = B0 − D
- intraday_trailing:           HWM = max(HWM, E) on every mark; floor = min(HWM − D, L)
- intraday_trailing_realized:  the same on R
- eod_trailing:                at each session close M = max(M, closing balance); floor = min(M − D, L),
                               fixed within the session but enforced against E in real time
- daily fixed / previous_close: day floor = balance at the day boundary − DLL
- daily trailing:              day floor = the day's equity high − DLL
The effective floor is the highest active one.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

MaxLossKind = Literal[
    "static", "intraday_trailing", "intraday_trailing_realized", "eod_trailing", "none"
]
DailyKind = Literal["none", "fixed", "trailing", "previous_close"]


@dataclass(frozen=True, slots=True)
class FloorRules:
    """The numbers the floors need, taken from a firm profile (plus any per-account override)."""

    start_balance: Decimal
    max_loss_kind: MaxLossKind
    max_loss: Decimal | None  # D
    lock_level: (
        Decimal | None
    )  # L: absolute balance where the trailing floor stops; None = trails forever
    daily_kind: DailyKind
    daily_loss: Decimal | None  # DLL

    def __post_init__(self) -> None:
        if self.max_loss_kind != "none" and (self.max_loss is None or self.max_loss <= 0):
            raise ValueError(f"max-loss kind {self.max_loss_kind!r} needs a positive amount")
        if self.daily_kind != "none" and (self.daily_loss is None or self.daily_loss <= 0):
            raise ValueError(f"daily-loss kind {self.daily_kind!r} needs a positive amount")


@dataclass(slots=True)
class FloorState:
    """Everything the floors remember; persisted by the journal so a restart keeps the same floors."""

    high_water: Decimal  # intraday HWM of E (or R for the realized variant)
    eod_high: Decimal  # M: highest closing balance
    max_loss_floor: Decimal | None
    day_start_balance: Decimal
    day_high: Decimal  # the day's equity high, for a trailing daily limit
    daily_floor: Decimal | None


class Floors:
    """Keeps the max-loss and daily floors of one account up to date."""

    __slots__ = ("rules", "state")

    def __init__(
        self,
        rules: FloorRules,
        state: FloorState | None = None,
        *,
        balance: Decimal | None = None,
    ) -> None:
        """Fresh floors for an account at its start, or at `balance` with an unknown history.

        With an unknown history the high-water marks start at max(balance, B0): the highest floor the
        history could have produced, which is the safe assumption.
        """
        self.rules = rules
        if state is None:
            b0 = rules.start_balance
            current = b0 if balance is None else balance
            high = max(current, b0)
            state = FloorState(
                high_water=high,
                eod_high=high,
                max_loss_floor=None,
                day_start_balance=current,
                day_high=current,
                daily_floor=None,
            )
            state.max_loss_floor = self._max_loss_floor_from(high)
            state.daily_floor = self._daily_floor_from(current)
        self.state = state

    # -- queries --------------------------------------------------------------------------------
    @property
    def max_loss_floor(self) -> Decimal | None:
        return self.state.max_loss_floor

    @property
    def daily_floor(self) -> Decimal | None:
        return self.state.daily_floor

    @property
    def effective(self) -> Decimal | None:
        max_loss = self.state.max_loss_floor
        daily = self.state.daily_floor
        if max_loss is None:
            return daily
        if daily is None:
            return max_loss
        return max_loss if max_loss >= daily else daily

    def breached(self, equity: Decimal) -> bool:
        floor = self.effective
        return floor is not None and equity <= floor

    # -- updates --------------------------------------------------------------------------------
    def on_value(self, equity: Decimal, balance: Decimal) -> bool:
        """Called on every change of E or R; returns True if a floor moved."""
        state = self.state
        rules = self.rules
        moved = False
        kind = rules.max_loss_kind
        if kind == "intraday_trailing" or kind == "intraday_trailing_realized":
            basis = equity if kind == "intraday_trailing" else balance
            if basis > state.high_water:
                state.high_water = basis
                floor = self._trail(basis)
                if floor != state.max_loss_floor:
                    state.max_loss_floor = floor
                    moved = True
        if rules.daily_kind == "trailing" and equity > state.day_high:
            state.day_high = equity
            state.daily_floor = equity - rules.daily_loss  # type: ignore[operator]
            moved = True
        return moved

    def on_session_close(self, closing_balance: Decimal) -> bool:
        """The end-of-day step: an EOD-trailing floor follows the highest closing balance."""
        state = self.state
        if self.rules.max_loss_kind != "eod_trailing" or closing_balance <= state.eod_high:
            return False
        state.eod_high = closing_balance
        floor = self._trail(closing_balance)
        moved = floor != state.max_loss_floor
        state.max_loss_floor = floor
        return moved

    def on_new_day(self, start_balance: Decimal) -> None:
        """A new trading day starts from this realized balance."""
        state = self.state
        state.day_start_balance = start_balance
        state.day_high = start_balance
        state.daily_floor = self._daily_floor_from(start_balance)

    # -- arithmetic -----------------------------------------------------------------------------
    def _trail(self, high: Decimal) -> Decimal:
        floor = high - self.rules.max_loss  # type: ignore[operator]
        lock = self.rules.lock_level
        # Once the trail reaches the lock level it stays there: min() with a rising high keeps it.
        return lock if lock is not None and floor > lock else floor

    def _max_loss_floor_from(self, high: Decimal) -> Decimal | None:
        kind = self.rules.max_loss_kind
        if kind == "none":
            return None
        if kind == "static":
            return self.rules.start_balance - self.rules.max_loss  # type: ignore[operator]
        return self._trail(high)

    def _daily_floor_from(self, start_balance: Decimal) -> Decimal | None:
        """At the day's start the trailing line's high is the start balance too."""
        if self.rules.daily_kind == "none":
            return None
        return start_balance - self.rules.daily_loss  # type: ignore[operator]


def ticks_to_floor(distance: Decimal, net_qty: int, tick_value: Decimal) -> int:
    """Whole ticks a position of `net_qty` can move against it before `distance` dollars are gone."""
    if distance <= 0:
        return 0
    if net_qty == 0:
        raise ValueError("no position: ticks to the floor are unbounded")
    return int(distance // (abs(net_qty) * tick_value))

"""The guard's vocabulary: risk states, actions, the snapshot it judges, its status and limits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import IntEnum, StrEnum
from typing import Protocol as TypingProtocol

from propdesk.domain.events import (
    ClockTick,
    ConnectionRestored,
    Fill,
    FlatVerified,
    KillRequest,
    UnlockRequest,
    WorkingOrders,
)


class GuardState(IntEnum):
    ACTIVE = 0
    WARNING = 1
    REDUCE_ONLY = 2
    FLATTENING = 3
    LOCKED = 4

    @property
    def label(self) -> str:
        return self.name


class ActionType(StrEnum):
    ALERT = "alert"
    REDUCE_ONLY = "reduce_only"  # refuse or cancel anything that adds exposure
    CANCEL_ORDERS = "cancel_orders"
    FLATTEN = "flatten"  # cancel every working order, close every position, verify
    LOCK = "lock"
    UNLOCK = "unlock"


@dataclass(frozen=True, slots=True)
class Action:
    type: ActionType
    reason: str
    rule: str = ""
    roots: frozenset[str] | None = None  # a scoped flatten (news windows); None = the whole account


@dataclass(frozen=True, slots=True)
class RiskSnapshot:
    """What the guard sees of one account at one instant."""

    equity: Decimal
    balance: Decimal
    max_loss_floor: Decimal | None
    daily_floor: Decimal | None
    size: Decimal  # open size in full-size contracts, counted the firm's way
    roots: frozenset[str]  # roots with an open position; a micro's full-size root too
    working_orders: int = 0
    adding_orders: int = 0  # working orders that would add exposure
    order_roots: frozenset[str] = frozenset()  # of the working orders (empty: not known)
    # Product groups (calendar.PRODUCT_GROUPS) of the open positions and working orders: their
    # session hours and cutoffs apply. Empty: nothing held or working (the account's own group).
    groups: frozenset[str] = frozenset()

    @property
    def has_position(self) -> bool:
        return bool(self.roots)

    @property
    def flat(self) -> bool:
        return not self.roots and self.working_orders == 0


@dataclass(frozen=True, slots=True)
class Metrics:
    """New numbers for the account (after a fill, a mark, a floor move)."""

    ts: datetime
    snapshot: RiskSnapshot
    fill: Fill | None = None  # the fill that changed the numbers, if one did
    added: bool = False  # that fill opened or grew a position (new exposure)


GuardEvent = (
    Metrics
    | ClockTick
    | KillRequest
    | UnlockRequest
    | ConnectionRestored
    | FlatVerified
    | WorkingOrders
)


@dataclass(frozen=True, slots=True)
class GuardStatus:
    state: GuardState = GuardState.ACTIVE
    reason: str = ""
    rule: str = ""
    since: datetime | None = None
    lock_until: datetime | None = None  # None while LOCKED: only a confirmed unlock releases it
    snapshot: RiskSnapshot | None = None
    # The trader unlocked their own stop: it is lifted, and the last line holds, until the day ends.
    stops_lifted: bool = False
    # FLATTENING/LOCKED for these roots only (a news window's scope); None: the whole account.
    scope: frozenset[str] | None = None
    # While LOCKED: the equity when the lock began, and how often the lock has since had to close
    # what the strategy opened again. A strategy that ignores its lock bleeds the account.
    lock_equity: Decimal | None = None
    reflattens: int = 0
    # A soft state raised by the numbers: since when they have been on the easy side (None: not).
    easing_since: datetime | None = None

    def with_snapshot(self, snapshot: RiskSnapshot | None) -> GuardStatus:
        """The same status judging new numbers: built field by field, because every mark does
        it and dataclasses.replace() costs several times as much (bench/domain_throughput.py)."""
        return GuardStatus(
            self.state,
            self.reason,
            self.rule,
            self.since,
            self.lock_until,
            snapshot,
            self.stops_lifted,
            self.scope,
            self.lock_equity,
            self.reflattens,
            self.easing_since,
        )

    @property
    def since_lock(self) -> Decimal | None:
        """Equity won (+) or lost (−) since the lock began; None when not locked."""
        if self.lock_equity is None or self.snapshot is None:
            return None
        return self.snapshot.equity - self.lock_equity


@dataclass(frozen=True, slots=True)
class GuardLimits:
    """The firm's numbers the guard works against (after per-account overrides)."""

    daily_loss: Decimal | None  # DLL
    max_loss: Decimal | None  # D, the full max-loss cushion
    max_contracts: Decimal | None  # the firm's maximum, in full-size contracts
    daily_hard: bool = False  # the firm ends the account on a daily breach (soft = false)


class Schedule(TypingProtocol):
    """Session times the guard needs; implemented over the trading calendar (schedule.py).

    `groups` are the snapshot's: the product groups the account holds or has working.
    """

    def cutoff_window(
        self, now: datetime, groups: frozenset[str]
    ) -> tuple[datetime, datetime, datetime] | None:
        """(start, end, firm_time) of the no-trading window containing `now`, else of the next one;
        the earliest over the groups."""
        ...

    def next_open(self, now: datetime, groups: frozenset[str]) -> datetime:
        """When the next trade date opens (a lock until the next session ends then)."""
        ...

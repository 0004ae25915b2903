"""Domain events: what brokers, the clock and the trader tell an account.

Frozen, slotted dataclasses: cheap to create on the hot path and safe to fan out to several consumers.
Symbols are parsed into a `Contract` at the edge (adapter or replay), never in the ledger.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from propdesk.domain.instruments import Contract


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"


@dataclass(frozen=True, slots=True)
class Fill:
    ts: datetime
    contract: Contract
    side: Side
    qty: int
    price: Decimal
    # Total for this fill, all contracts. None: the broker reported no fee (Tradovate, Rithmic),
    # which is not a fee of 0: the account charges its commission schedule instead.
    fee: Decimal | None = None
    fill_id: str = ""

    @property
    def signed_qty(self) -> int:
        return self.qty if self.side is Side.BUY else -self.qty


@dataclass(frozen=True, slots=True)
class Mark:
    """A quote. Longs are valued at the bid, shorts at the ask; `last` is the fallback."""

    ts: datetime
    contract: Contract
    bid: Decimal | None = None
    ask: Decimal | None = None
    last: Decimal | None = None


@dataclass(frozen=True, slots=True)
class ClockTick:
    """Time passes with no market event: cutoffs, session closes and lock expiries still happen."""

    ts: datetime


@dataclass(frozen=True, slots=True)
class KillRequest:
    """The trader (button, terminal, phone) asks to flatten and lock."""

    ts: datetime
    reason: str = "manual kill"


@dataclass(frozen=True, slots=True)
class UnlockRequest:
    """An explicit unlock. `confirmed` is False until the trader has confirmed the stated scope."""

    ts: datetime
    confirmed: bool
    scope: str = "this account"


@dataclass(frozen=True, slots=True)
class ConnectionRestored:
    """The broker link is back after `down_for` without data."""

    ts: datetime
    down_for: timedelta


@dataclass(frozen=True, slots=True)
class FlatVerified:
    """The kill switch re-read the broker: no position, no working order (within `roots`)."""

    ts: datetime
    roots: frozenset[str] | None = None  # a scoped flatten's roots; None: the whole account


@dataclass(frozen=True, slots=True)
class WorkingOrders:
    """How many orders rest at the broker, and how many of them would add exposure.

    `roots` and `groups` are the instrument roots (ES, MCL) and their product groups (equity,
    energy) of those orders, as the instrument book names them: the account's cutoff and session
    hours follow what it has working as well as what it holds. Empty when not known (a journal
    written before they were recorded).
    """

    ts: datetime
    count: int
    adding_exposure: int = 0
    roots: frozenset[str] = frozenset()  # of the working orders; a micro's full-size root too
    groups: frozenset[str] = frozenset()  # product groups of the working orders


AccountEvent = (
    Fill
    | Mark
    | ClockTick
    | KillRequest
    | UnlockRequest
    | ConnectionRestored
    | FlatVerified
    | WorkingOrders
)

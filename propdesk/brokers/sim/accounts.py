"""The simulated broker's own books: balances, FIFO positions and the fee table.

This is the broker's side of the money, not propdesk's ledger; it only has to be consistent, so that a
snapshot's balance and positions agree with the fills the sim reported. FIFO is used because that is
what propdesk's ledger does, so the two balances match to the cent when everything is flat.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from propdesk.brokers.base import AccountFill, AccountRef, BrokerAccount, BrokerPosition
from propdesk.domain.instruments import Contract, Instrument

__all__ = ["FULL_SIZE_FEE", "MICRO_FEE", "FeeTable", "SimAccount", "SimPosition"]

FULL_SIZE_FEE = Decimal("2.10")
"""Per contract per side, exchange + clearing + commission, roughly what prop firms pass on."""
MICRO_FEE = Decimal("0.62")

_ZERO = Decimal(0)


class FeeTable:
    """Fee per contract per side: an explicit per-root figure, else by size (full or micro)."""

    __slots__ = ("_by_root", "full", "micro")

    def __init__(
        self,
        by_root: Mapping[str, Decimal] | None = None,
        *,
        full: Decimal = FULL_SIZE_FEE,
        micro: Decimal = MICRO_FEE,
    ) -> None:
        self._by_root = {root.upper(): Decimal(fee) for root, fee in (by_root or {}).items()}
        self.full = full
        self.micro = micro

    def per_side(self, instrument: Instrument) -> Decimal:
        fee = self._by_root.get(instrument.root)
        if fee is not None:
            return fee
        return self.micro if instrument.full_size_root is not None else self.full


@dataclass(slots=True)
class _Lot:
    qty: int  # signed: > 0 long, < 0 short
    price: Decimal


@dataclass(slots=True)
class SimPosition:
    contract: Contract
    lots: deque[_Lot] = field(default_factory=deque)
    net: int = 0
    cost: Decimal = _ZERO  # Σ price · signed qty of the open lots

    def apply(self, signed_qty: int, price: Decimal) -> Decimal:
        """Book a fill FIFO; returns the realized P&L in price points times contracts."""
        realized = _ZERO
        remaining = signed_qty
        lots = self.lots
        # A fill against the open side closes the oldest lots first.
        while remaining and lots and (lots[0].qty > 0) != (remaining > 0):
            lot = lots[0]
            closed = min(abs(lot.qty), abs(remaining))
            direction = 1 if lot.qty > 0 else -1
            realized += (price - lot.price) * closed * direction
            self.cost -= lot.price * closed * direction
            lot.qty -= closed * direction
            remaining += closed * direction
            if not lot.qty:
                lots.popleft()
        if remaining:
            lots.append(_Lot(remaining, price))
            self.cost += price * remaining
        self.net += signed_qty
        if not self.net:
            self.cost = _ZERO  # exact anyway; this only drops a stray exponent like 0E-2
        return realized

    def average_price(self) -> Decimal:
        return self.cost / self.net if self.net else _ZERO


@dataclass(slots=True)
class SimAccount:
    ref: AccountRef
    name: str
    balance: Decimal
    positions: dict[str, SimPosition] = field(default_factory=dict)
    fills: list[AccountFill] = field(default_factory=list)
    contracts: dict[str, Contract] = field(default_factory=dict)  # every contract it ever touched

    def position(self, contract: Contract) -> SimPosition:
        found = self.positions.get(contract.key)
        if found is None:
            found = self.positions[contract.key] = SimPosition(contract)
        return found

    def net(self, contract: Contract) -> int:
        found = self.positions.get(contract.key)
        return found.net if found is not None else 0

    def view(self) -> BrokerAccount:
        return BrokerAccount(self.ref, self.name, self.balance)

    def open_positions(self) -> list[BrokerPosition]:
        return [
            BrokerPosition(self.ref, p.contract, p.net, p.average_price())
            for p in self.positions.values()
            if p.net
        ]

    def fills_since(self, start: datetime) -> list[AccountFill]:
        """Fills at or after `start`; older ones are dropped, since nobody can ask for them again."""
        fills = self.fills
        first = 0
        while first < len(fills) and fills[first].ts < start:
            first += 1
        if first:
            del fills[:first]
        return list(fills)

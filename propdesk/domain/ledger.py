"""The per-account P&L ledger: FIFO realized P&L, open P&L at the liquidation side, day baselines.

Equity E = balance + open, balance R = start + realized − fees. Prices and money are Decimal; the open P&L
of a position is kept as one product, (mark·net − cost)·point_value, so a mark costs two multiplications
however many lots are open.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from propdesk.domain.events import Fill, Mark
from propdesk.domain.instruments import Contract
from propdesk.domain.money import ZERO


@dataclass(slots=True)
class Lot:
    qty: int  # signed: > 0 long, < 0 short
    price: Decimal
    opened: datetime  # the opening fill's time: a closed trade's hold time is measured from it


@dataclass(frozen=True, slots=True)
class ClosedTrade:
    """One lot (or part of one) closed by a fill: what minimum-hold rules judge."""

    qty: int  # contracts closed, unsigned
    held: timedelta  # closing fill's time − opening fill's time
    realized: Decimal  # P&L in money, before fees


@dataclass(slots=True)
class Position:
    contract: Contract
    lots: deque[Lot] = field(default_factory=deque)
    net: int = 0
    cost: Decimal = ZERO  # Σ lot.price · lot.qty (signed), in price units
    open_pnl: Decimal = ZERO
    mark_price: Decimal | None = None  # the price the open P&L was computed at

    @property
    def average_price(self) -> Decimal | None:
        return self.cost / self.net if self.net else None

    def revalue(self, bid: Decimal | None, ask: Decimal | None, last: Decimal | None) -> Decimal:
        """Mark at the side a liquidation would hit; returns the change in open P&L."""
        net = self.net
        if net == 0:
            price = None
        elif net > 0:
            price = bid if bid is not None else last
        else:
            price = ask if ask is not None else last
        if price is None:
            # No usable quote yet: hold the position at its own cost rather than invent a price.
            new_open = ZERO
        else:
            new_open = (price * net - self.cost) * self.contract.instrument.point_value
        self.mark_price = price
        delta = new_open - self.open_pnl
        self.open_pnl = new_open
        return delta


@dataclass(slots=True)
class Quote:
    """The newest price information on one contract, and when it was true."""

    bid: Decimal | None = None
    ask: Decimal | None = None
    last: Decimal | None = None
    ts: datetime | None = None  # of the newest mark or fill that set these prices
    fill_ts: datetime | None = None  # of the last fill: an older quote values nothing


class Ledger:
    """Exact P&L for one account."""

    __slots__ = (
        "_open_total",
        "day_fees",
        "day_realized",
        "day_start_balance",
        "estimated_fees",
        "fees",
        "fills",
        "last_closed",
        "positions",
        "quotes",
        "realized",
        "start_balance",
    )

    def __init__(self, start_balance: Decimal) -> None:
        self.start_balance = start_balance
        self.realized = ZERO
        self.fees = ZERO
        self.estimated_fees = ZERO  # the part of `fees` charged from a schedule, not the broker
        self.day_start_balance = start_balance
        self.day_realized = ZERO
        self.day_fees = ZERO
        self.fills = 0
        self.last_closed: tuple[ClosedTrade, ...] = ()  # what the latest fill closed
        self.positions: dict[str, Position] = {}
        self.quotes: dict[str, Quote] = {}
        self._open_total = ZERO

    # -- figures --------------------------------------------------------------------------------
    @property
    def balance(self) -> Decimal:
        """Realized balance net of fees (what firms call the account balance)."""
        return self.start_balance + self.realized - self.fees

    @property
    def open_pnl(self) -> Decimal:
        return self._open_total

    @property
    def equity(self) -> Decimal:
        return self.start_balance + self.realized - self.fees + self._open_total

    @property
    def day_pnl(self) -> Decimal:
        """Net P&L of the trading day: realized + open − fees, against the day's starting balance."""
        return self.equity - self.day_start_balance

    @property
    def flat(self) -> bool:
        return not self.positions

    def open_positions(self) -> list[Position]:
        return list(self.positions.values())

    # -- events ---------------------------------------------------------------------------------
    def apply_fill(self, fill: Fill) -> Decimal:
        """Book a fill FIFO against open lots; returns the P&L it realized (before fees)."""
        contract = fill.contract
        key = contract.key
        position = self.positions.get(key)
        if position is None:
            position = self.positions[key] = Position(contract)
        remaining = fill.signed_qty
        price = fill.price
        realized_points = ZERO
        point_value = contract.instrument.point_value
        closed: list[ClosedTrade] = []
        lots = position.lots
        # Close against the oldest lots of the opposite sign first; whatever is left opens a new lot
        # (so one fill can flip a position from long to short).
        while remaining and lots and (lots[0].qty > 0) != (remaining > 0):
            lot = lots[0]
            matched = min(abs(remaining), abs(lot.qty))
            if lot.qty > 0:  # a sell closes a long
                points = (price - lot.price) * matched
                lot.qty -= matched
                remaining += matched
                position.cost -= lot.price * matched
                position.net -= matched
            else:  # a buy closes a short
                points = (lot.price - price) * matched
                lot.qty += matched
                remaining -= matched
                position.cost += lot.price * matched
                position.net += matched
            realized_points += points
            closed.append(ClosedTrade(matched, fill.ts - lot.opened, points * point_value))
            if lot.qty == 0:
                lots.popleft()
        if remaining:
            lots.append(Lot(remaining, price, fill.ts))
            position.cost += price * remaining
            position.net += remaining
        realized = realized_points * point_value
        self.last_closed = tuple(closed)
        self.realized += realized
        self.day_realized += realized
        if fill.fee is not None:  # None (no fee reported, none estimated) books nothing
            self.fees += fill.fee
            self.day_fees += fill.fee
        self.fills += 1
        # A fill is a price. A bid or ask older than it says nothing about the position it made
        # (a quote from minutes or days ago would invent open profit, and a high-water mark with
        # it): until a newer quote arrives, the position is marked at its fill.
        ts = fill.ts
        quote = self.quotes.get(key)
        if quote is None:
            quote = self.quotes[key] = Quote(last=price, ts=ts, fill_ts=ts)
        else:
            if quote.ts is None or quote.ts <= ts:  # same instant: the later arrival wins
                quote.bid = quote.ask = None
                quote.last = price
                quote.ts = ts
            if quote.fill_ts is None or quote.fill_ts < ts:
                quote.fill_ts = ts
        self._open_total += position.revalue(quote.bid, quote.ask, quote.last)
        if position.net == 0:
            del self.positions[key]
        return realized

    def apply_mark(self, mark: Mark) -> bool:
        """Store the quote and revalue the position in that contract; True if open P&L changed.

        Feeds that send partial updates merge them into a whole quote at the adapter.
        """
        key = mark.contract.key
        quote = self.quotes.get(key)
        if quote is None:
            quote = self.quotes[key] = Quote()
        else:
            fill_ts = quote.fill_ts
            if fill_ts is not None and mark.ts < fill_ts:
                # Stamped before the last fill on this contract: stale for the position it made.
                return False
        # A mark is a whole quote: a side it leaves out is unknown now, not the old value.
        quote.bid = mark.bid
        quote.ask = mark.ask
        if mark.last is not None:
            quote.last = mark.last
        quote.ts = mark.ts
        position = self.positions.get(key)
        if position is None:
            return False
        delta = position.revalue(quote.bid, quote.ask, quote.last)
        if delta:
            self._open_total += delta
            return True
        return False

    def roll_day(self) -> None:
        """Start a new trading day from the current realized balance."""
        self.day_start_balance = self.balance
        self.day_realized = ZERO
        self.day_fees = ZERO

    # -- size -----------------------------------------------------------------------------------
    def size_in_full_contracts(self, micros_per_contract: int) -> Decimal:
        """Open size counted the firm's way: a micro counts 1/micros_per_contract of a full-size contract."""
        total = ZERO
        for position in self.positions.values():
            instrument = position.contract.instrument
            if instrument.full_size_root is not None and micros_per_contract > 1:
                total += Decimal(abs(position.net)) / micros_per_contract
            else:
                total += abs(position.net)
        return total

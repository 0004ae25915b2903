"""Rithmic protobuf messages → propdesk's broker events, and contracts → Rithmic symbols.

Rithmic names a contract by symbol and exchange ("ESZ6" on "CME"); times are seconds since the
epoch plus microseconds (`ssboe`, `usecs`); money on the P&L plant is text ("-1250.00"), prices
are doubles. Doubles become Decimal through their shortest repr, never through binary expansion.
Any field that does not make sense raises `PayloadError`; the caller logs and skips the message.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from propdesk.brokers.base import (
    AccountFill,
    AccountRef,
    BalanceUpdate,
    BrokerPosition,
    OrderStatus,
    OrderType,
    OrderUpdate,
    PositionUpdate,
    Quote,
    WorkingOrder,
)
from propdesk.domain.events import Fill, Mark, Side
from propdesk.domain.instruments import Contract, InstrumentBook, UnknownSymbolError

# Enum values from async-rithmic's protobuf classes (kept here so mapping needs no protobuf import).
BUY, SELL = 1, 2  # TransactionType
PRICE_LIMIT, PRICE_MARKET, PRICE_STOP_LIMIT, PRICE_STOP_MARKET = 1, 2, 3, 4
NOTIFY_CANCEL, NOTIFY_FILL, NOTIFY_REJECT = 3, 5, 6  # ExchangeOrderNotification.NotifyType

_ORDER_TYPES = {
    PRICE_LIMIT: OrderType.LIMIT,
    PRICE_MARKET: OrderType.MARKET,
    PRICE_STOP_LIMIT: OrderType.STOP,
    PRICE_STOP_MARKET: OrderType.STOP,
}


class PayloadError(ValueError):
    """A message that parsed but whose content cannot be right."""


def rithmic_symbol(contract: Contract) -> tuple[str, str]:
    """("ESZ6", "CME"): Rithmic's one-digit-year symbol and the listing exchange."""
    return f"{contract.instrument.root}{contract.month_code}{contract.year % 10}", (
        contract.instrument.exchange
    )


def timestamp(ssboe: int, usecs: int, fallback: datetime) -> datetime:
    if ssboe <= 0:
        return fallback
    if not 0 <= usecs < 1_000_000:
        raise PayloadError(f"usecs {usecs} is out of range")
    try:
        return datetime.fromtimestamp(ssboe, UTC).replace(microsecond=usecs)
    except (OverflowError, OSError, ValueError) as exc:
        raise PayloadError(f"ssboe {ssboe} is not a time") from exc


def price(value: float) -> Decimal:
    if not math.isfinite(value):
        raise PayloadError(f"price {value!r} is not finite")
    return Decimal(repr(value))


def money(text: str) -> Decimal:
    try:
        value = Decimal(text.strip())
    except InvalidOperation as exc:
        raise PayloadError(f"amount {text!r} is not a number") from exc
    if not value.is_finite():
        raise PayloadError(f"amount {text!r} is not finite")
    return value


class Mapper:
    """Turns one connection's messages into events for the accounts it watches."""

    def __init__(self, broker: str, instruments: InstrumentBook) -> None:
        self._broker = broker
        self._instruments = instruments

    def ref(self, account_id: str) -> AccountRef:
        return AccountRef(self._broker, account_id)

    def contract(self, symbol: str, exchange: str, now: datetime) -> Contract:
        try:
            return self._instruments.parse(symbol, exchange=exchange, at=now)
        except UnknownSymbolError as exc:
            raise PayloadError(str(exc)) from exc

    # -- order plant -------------------------------------------------------------------------
    def working_order(self, note: Any, now: datetime) -> WorkingOrder:
        if note.transaction_type not in (BUY, SELL):
            raise PayloadError(f"transaction type {note.transaction_type} is neither buy nor sell")
        qty, filled = int(note.quantity), int(note.total_fill_size)
        if qty <= 0 or not 0 <= filled <= qty:
            raise PayloadError(f"order {note.basket_id}: {filled} filled of {qty}")
        if not note.basket_id:
            raise PayloadError("order without a basket id")
        order_type = _ORDER_TYPES.get(note.price_type)
        if order_type is None:
            raise PayloadError(f"price type {note.price_type} is unknown")
        limit = price(note.price) if note.price_type in (PRICE_LIMIT, PRICE_STOP_LIMIT) else None
        stop = (
            price(note.trigger_price)
            if note.price_type in (PRICE_STOP_LIMIT, PRICE_STOP_MARKET)
            else None
        )
        return WorkingOrder(
            account=self.ref(note.account_id),
            order_id=note.basket_id,
            contract=self.contract(note.symbol, note.exchange, now),
            side=Side.BUY if note.transaction_type == BUY else Side.SELL,
            qty=qty,
            filled=filled,
            type=order_type,
            limit_price=limit,
            stop_price=stop,
            tag=note.user_tag,
        )

    def exchange_notification(self, note: Any, now: datetime) -> list[AccountFill | OrderUpdate]:
        """A 352: a fill (when it is one) and the order's state after it."""
        ts = timestamp(note.ssboe, note.usecs, now)
        order = self.working_order(note, now)
        events: list[AccountFill | OrderUpdate] = []
        if note.notify_type == NOTIFY_FILL:
            size = int(note.fill_size)
            if size <= 0 or not note.fill_id:
                raise PayloadError(f"fill on {note.basket_id} without a size or an id")
            fill = Fill(
                ts=ts,
                contract=order.contract,
                side=order.side,
                qty=size,
                price=price(note.fill_price),
                fee=None,  # a 352 carries no fee: the account's commission schedule applies
                fill_id=note.fill_id,
            )
            events.append(AccountFill(order.account, fill))
        if note.notify_type == NOTIFY_REJECT:
            status = OrderStatus.REJECTED
        elif note.notify_type == NOTIFY_CANCEL:
            status = OrderStatus.CANCELLED
        elif order.remaining == 0:
            status = OrderStatus.FILLED
        elif note.status == "complete":
            status = OrderStatus.CANCELLED  # done with contracts left: cancelled or expired
        else:
            status = OrderStatus.WORKING
        events.append(OrderUpdate(ts, order, status, note.text))
        return events

    def history_fill(self, row: Any, now: datetime) -> AccountFill:
        """A 3513 row of the fill history (text enums: "BUY"/"SELL")."""
        side = {"BUY": Side.BUY, "SELL": Side.SELL}.get(row.transaction_type.upper())
        if side is None or row.fill_size <= 0 or not row.fill_id:
            raise PayloadError(f"fill history row {row.fill_id!r} is incomplete")
        fill = Fill(
            ts=timestamp(row.ssboe, row.usecs, now),
            contract=self.contract(row.symbol, row.exchange, now),
            side=side,
            qty=int(row.fill_size),
            price=price(row.fill_price),
            fee=None,  # nor does a 3513 row
            fill_id=row.fill_id,
        )
        return AccountFill(self.ref(row.account_id), fill)

    # -- P&L plant ---------------------------------------------------------------------------
    def position(self, update: Any, now: datetime) -> BrokerPosition:
        return BrokerPosition(
            account=self.ref(update.account_id),
            contract=self.contract(update.symbol, update.exchange, now),
            net=int(update.net_quantity),
            average_price=price(update.avg_open_fill_price),
        )

    def instrument_pnl(self, update: Any, now: datetime) -> list[PositionUpdate | Quote]:
        """A 450: the position, and the mark its open P&L implies (the P&L plant prices it).

        Without a ticker plant, the open P&L is the only price propdesk sees: for a position of
        `net` contracts opened at `avg`, mark = avg + open_pnl / (net × point value), rounded to
        the tick.
        """
        ts = timestamp(update.ssboe, update.usecs, now)
        position = self.position(update, now)
        events: list[PositionUpdate | Quote] = [PositionUpdate(ts, position)]
        if position.net and update.open_position_pnl:
            instrument = position.contract.instrument
            implied = position.average_price + money(update.open_position_pnl) / (
                position.net * instrument.point_value
            )
            ticks = (implied / instrument.tick_size).to_integral_value()
            events.append(Quote(Mark(ts, position.contract, last=ticks * instrument.tick_size)))
        return events

    def account_pnl(self, update: Any, now: datetime) -> BalanceUpdate:
        """A 451: the account's balance as Rithmic's risk system sees it."""
        return BalanceUpdate(
            timestamp(update.ssboe, update.usecs, now),
            self.ref(update.account_id),
            money(update.account_balance),
        )

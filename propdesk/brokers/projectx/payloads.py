"""ProjectX JSON payloads → propdesk's broker events, and propdesk's orders → ProjectX's codes.

Hub payloads arrive bare or wrapped as `{"action": int, "data": {…}}` (research/broker-apis.md §2):
`unwrap` accepts both. Every reader raises `PayloadError` (a ValueError) naming the field when a
payload is not what the Gateway documents: the broker then resets its link and re-reads, rather
than guess at an order or a position.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from propdesk.brokers.base import (
    AccountRef,
    BrokerAccount,
    BrokerPosition,
    OrderStatus,
    OrderType,
    WorkingOrder,
)
from propdesk.domain.events import Fill, Mark, Side
from propdesk.domain.instruments import Contract, UnknownSymbolError

ContractOf = Callable[[str], Contract]

# Order status codes: 0 None, 1 Open, 2 Filled, 3 Cancelled, 4 Expired, 5 Rejected, 6 Pending,
# 7 PendingCancellation, 8 Suspended. Anything not final may still fill, so it counts as working
# (a suspended bracket child included: a flatten must cancel it too).
STATUS = {
    0: OrderStatus.WORKING,
    1: OrderStatus.WORKING,
    2: OrderStatus.FILLED,
    3: OrderStatus.CANCELLED,
    4: OrderStatus.CANCELLED,
    5: OrderStatus.REJECTED,
    6: OrderStatus.WORKING,
    7: OrderStatus.WORKING,
    8: OrderStatus.WORKING,
}
# Order types: 1 Limit, 2 Market, 3 StopLimit, 4 Stop, 5 TrailingStop, 6 JoinBid, 7 JoinAsk.
TYPE_FROM_WIRE = {
    1: OrderType.LIMIT,
    2: OrderType.MARKET,
    3: OrderType.STOP,
    4: OrderType.STOP,
    5: OrderType.STOP,
    6: OrderType.LIMIT,
    7: OrderType.LIMIT,
}
TYPE_TO_WIRE = {OrderType.LIMIT: 1, OrderType.MARKET: 2, OrderType.STOP: 4}
SIDE_FROM_WIRE = {0: Side.BUY, 1: Side.SELL}
SIDE_TO_WIRE = {Side.BUY: 0, Side.SELL: 1}
LONG, SHORT = 1, 2


class PayloadError(ValueError):
    """A payload that does not have the documented shape."""


def unwrap(payload: object) -> dict[str, Any]:
    """The record inside a bare or `{"action", "data"}`-wrapped payload."""
    if isinstance(payload, dict) and "data" in payload and "action" in payload:
        payload = payload["data"]
    if not isinstance(payload, dict):
        raise PayloadError(f"expected a JSON object, got {type(payload).__name__}: {payload!r:.80}")
    return payload


def field(record: Mapping[str, Any], name: str) -> Any:
    if name not in record:
        raise PayloadError(f"missing field {name!r} in {dict(record)!r:.200}")
    return record[name]


def integer(record: Mapping[str, Any], name: str) -> int:
    value = field(record, name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise PayloadError(f"field {name!r} must be an integer, got {value!r}")
    return value


def decimal(record: Mapping[str, Any], name: str, *, optional: bool = False) -> Decimal | None:
    value = record.get(name) if optional else field(record, name)
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int | Decimal | str):
        raise PayloadError(f"field {name!r} must be a number, got {value!r}")
    try:
        number = Decimal(value)
    except InvalidOperation as exc:
        raise PayloadError(f"field {name!r} is not a number: {value!r}") from exc
    if not number.is_finite():
        raise PayloadError(f"field {name!r} is not a finite number: {value!r}")
    return number


def required_decimal(record: Mapping[str, Any], name: str) -> Decimal:
    value = decimal(record, name)
    assert value is not None
    return value


def text(record: Mapping[str, Any], name: str) -> str:
    value = field(record, name)
    if not isinstance(value, str) or not value:
        raise PayloadError(f"field {name!r} must be a non-empty string, got {value!r}")
    return value


def timestamp(record: Mapping[str, Any], name: str, default: datetime) -> datetime:
    value = record.get(name)
    if value is None:
        return default
    if not isinstance(value, str):
        raise PayloadError(f"field {name!r} must be an ISO timestamp, got {value!r}")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise PayloadError(f"field {name!r} is not an ISO timestamp: {value!r}") from exc
    # The Gateway speaks UTC; a stamp without an offset is read as UTC, not as local time.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def contract(record: Mapping[str, Any], contract_of: ContractOf) -> Contract:
    contract_id = text(record, "contractId")
    try:
        return contract_of(contract_id)
    except UnknownSymbolError as exc:
        raise PayloadError(str(exc)) from exc


def coded[T](table: Mapping[int, T], record: Mapping[str, Any], name: str) -> T:
    code = integer(record, name)
    if code not in table:
        raise PayloadError(f"field {name!r}: unknown code {code} (known: {sorted(table)})")
    return table[code]


# -- records ----------------------------------------------------------------------------------------
def account(record: Mapping[str, Any], ref: AccountRef) -> BrokerAccount:
    can_trade = record.get("canTrade", True)
    return BrokerAccount(
        ref,
        str(record.get("name") or ref.account_id),
        required_decimal(record, "balance"),
        can_trade if isinstance(can_trade, bool) else True,
    )


def position(record: Mapping[str, Any], ref: AccountRef, contract_of: ContractOf) -> BrokerPosition:
    size = integer(record, "size")
    if size < 0:
        raise PayloadError(f"position size must not be negative, got {size}")
    direction = coded({LONG: 1, SHORT: -1}, record, "type") if size else 1
    average = decimal(record, "averagePrice", optional=True)
    if average is None:
        average = Decimal(0)  # a closed position may come without one
    return BrokerPosition(ref, contract(record, contract_of), direction * size, average)


@dataclass(frozen=True, slots=True)
class OrderRecord:
    order: WorkingOrder
    status: OrderStatus


def order(record: Mapping[str, Any], ref: AccountRef, contract_of: ContractOf) -> OrderRecord:
    size = integer(record, "size")
    filled = record.get("fillVolume") or 0
    if isinstance(filled, bool) or not isinstance(filled, int) or not 0 <= filled <= max(size, 0):
        raise PayloadError(
            f"field 'fillVolume' must be an integer within 0..{size}, got {filled!r}"
        )
    tag = record.get("customTag")
    working = WorkingOrder(
        ref,
        str(integer(record, "id")),
        contract(record, contract_of),
        coded(SIDE_FROM_WIRE, record, "side"),
        size,
        filled,
        coded(TYPE_FROM_WIRE, record, "type"),
        decimal(record, "limitPrice", optional=True),
        decimal(record, "stopPrice", optional=True),
        tag if isinstance(tag, str) else "",
    )
    return OrderRecord(working, coded(STATUS, record, "status"))


def trade(
    record: Mapping[str, Any], ref: AccountRef, contract_of: ContractOf, now: datetime
) -> Fill | None:
    """A half-turn as a Fill (fees included); None for a voided trade."""
    if record.get("voided") is True:
        return None
    size = integer(record, "size")
    if size <= 0:
        raise PayloadError(f"trade size must be positive, got {size}")
    return Fill(
        timestamp(record, "creationTimestamp", now),
        contract(record, contract_of),
        coded(SIDE_FROM_WIRE, record, "side"),
        size,
        required_decimal(record, "price"),
        decimal(record, "fees", optional=True),  # None: not reported, so the schedule's applies
        str(integer(record, "id")),
    )


_QUOTE_FIELDS = ("bestBid", "bestAsk", "lastPrice")


class QuoteBook:
    """Market-hub quotes arrive as partial updates: the last known side fills in what is missing."""

    def __init__(self) -> None:
        self._last: dict[str, tuple[Decimal | None, Decimal | None, Decimal | None]] = {}

    def mark(self, record: Mapping[str, Any], item: Contract, key: str, now: datetime) -> Mark:
        previous = self._last.get(key, (None, None, None))
        fresh = [decimal(record, name, optional=True) for name in _QUOTE_FIELDS]
        bid, ask, last = (
            new if new is not None else old for new, old in zip(fresh, previous, strict=True)
        )
        if bid is None and ask is None and last is None:
            raise PayloadError(f"a quote for {key} with no price: {dict(record)!r:.200}")
        self._last[key] = (bid, ask, last)
        return Mark(now, item, bid, ask, last)

    def forget(self) -> None:
        self._last.clear()

"""Reading one ProjectX snapshot: `Account/search`, and per account its open positions, its open
orders and the trading day's trades, into propdesk's `Snapshot`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from propdesk.brokers.base import (
    AccountFill,
    AccountRef,
    BrokerAccount,
    BrokerPosition,
    OrderStatus,
    Snapshot,
    WorkingOrder,
)
from propdesk.brokers.projectx import payloads
from propdesk.brokers.projectx.payloads import ContractOf, PayloadError

_EXCHANGE_ZONE = ZoneInfo("America/Chicago")
_DAY_STARTS = time(17, 0)  # CME Globex: the trading day opens at 5 PM Chicago time


def trading_day_start(now: datetime) -> datetime:
    """The start of the CME trading day that `now` falls in (the last 5 PM Chicago time)."""
    local = now.astimezone(_EXCHANGE_ZONE)
    start = datetime.combine(local.date(), _DAY_STARTS, _EXCHANGE_ZONE)
    if start > local:
        start = datetime.combine(local.date() - timedelta(days=1), _DAY_STARTS, _EXCHANGE_ZONE)
    return start


@dataclass(frozen=True, slots=True)
class AccountReplies:
    """The gateway's answers about one account: Position/searchOpen, Order/searchOpen, Trade/search."""

    ref: AccountRef
    account_id: int
    positions: dict[str, Any]
    orders: dict[str, Any]
    trades: dict[str, Any]


def read_snapshot(
    now: datetime,
    accounts_reply: dict[str, Any],
    replies: Sequence[AccountReplies],
    contract_of: ContractOf,
) -> Snapshot:
    """Raises PayloadError on a record that is not what the gateway documents."""
    wanted = {r.account_id: r.ref for r in replies}
    accounts: list[BrokerAccount] = []
    for record in _listed(accounts_reply, "accounts"):
        ref = wanted.get(payloads.integer(record, "id"))
        if ref is not None:
            accounts.append(payloads.account(record, ref))
    positions: list[BrokerPosition] = []
    orders: list[WorkingOrder] = []
    fills: list[AccountFill] = []
    for reply in replies:
        ref = reply.ref
        for record in _listed(reply.positions, "positions"):
            position = payloads.position(record, ref, contract_of)
            if position.net:
                positions.append(position)
        for record in _listed(reply.orders, "orders"):
            parsed = payloads.order(record, ref, contract_of)
            if parsed.status is OrderStatus.WORKING and parsed.order.remaining > 0:
                orders.append(parsed.order)
        for record in _listed(reply.trades, "trades"):
            fill = payloads.trade(record, ref, contract_of, now)
            if fill is not None:
                fills.append(AccountFill(ref, fill))
    return Snapshot(now, tuple(accounts), tuple(positions), tuple(orders), tuple(fills))


def _listed(reply: dict[str, Any], name: str) -> list[dict[str, Any]]:
    items = reply.get(name)
    if items is None:
        return []
    if not isinstance(items, list):
        raise PayloadError(f"{name!r} must be a list, got {items!r:.80}")
    return [payloads.unwrap(item) for item in items]

"""Tradovate's entities (as `user/syncrequest`, `props` pushes and the REST lists carry them) kept
in one place and mapped to propdesk's broker events.

Tradovate splits an order over three entity types: `order` (account, contract, side, status),
`orderVersion` (quantity, type, prices) and `fill` (which names its order, not its account). Positions
and fills name a contract by id, so contracts are resolved first (`ContractBook`). A field of the wrong
type raises `ValueError`, which the caller treats as a malformed message.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from propdesk.brokers.base import (
    AccountFill,
    AccountRef,
    BalanceUpdate,
    BrokerAccount,
    BrokerEvent,
    BrokerPosition,
    OrderStatus,
    OrderType,
    OrderUpdate,
    PositionUpdate,
    Snapshot,
    WorkingOrder,
)
from propdesk.domain.events import Fill, Side
from propdesk.domain.instruments import Contract, InstrumentBook, UnknownSymbolError

log = logging.getLogger(__name__)

Entity = dict[str, Any]

_STATUS = {
    "Working": OrderStatus.WORKING,
    "PendingNew": OrderStatus.WORKING,
    "PendingReplace": OrderStatus.WORKING,
    "PendingCancel": OrderStatus.WORKING,
    "Suspended": OrderStatus.WORKING,  # a bracket child: it can still become an order
    "Unknown": OrderStatus.WORKING,  # not known to be gone: keep it in the flatten's view
    "Filled": OrderStatus.FILLED,
    "Completed": OrderStatus.FILLED,
    "Canceled": OrderStatus.CANCELLED,
    "Expired": OrderStatus.CANCELLED,
    "Rejected": OrderStatus.REJECTED,
}
_FINISHED = frozenset(k for k, v in _STATUS.items() if v is not OrderStatus.WORKING)
_TYPES = {
    "Market": OrderType.MARKET,
    "Limit": OrderType.LIMIT,
    "Stop": OrderType.STOP,
    "StopLimit": OrderType.STOP,
    "TrailingStop": OrderType.STOP,
    "TrailingStopLimit": OrderType.STOP,
    "MIT": OrderType.LIMIT,
}


class ContractBook:
    """Tradovate contract ids ↔ propdesk contracts (names like ESZ6 parsed by the instrument book)."""

    def __init__(self, instruments: InstrumentBook, now: Callable[[], datetime]) -> None:
        self._instruments = instruments
        self._now = now  # a one-digit year (ESZ6) is read as of the time the contract is seen
        self.by_id: dict[int, Contract] = {}
        self.ids: dict[str, int] = {}  # contract key → Tradovate id
        self.unknown: set[int] = set()  # ids whose names propdesk cannot read

    def add(self, entity: Entity) -> None:
        contract_id = _int(entity.get("id"))
        name = entity.get("name")
        if not isinstance(name, str):
            raise ValueError(f"contract {contract_id} has no name")
        try:
            contract = self._instruments.parse(name, at=self._now())
        except UnknownSymbolError as exc:
            if contract_id not in self.unknown:
                log.error(
                    "Tradovate contract %s (%s) is not in the instrument book: %s",
                    contract_id,
                    name,
                    exc,
                )
            self.unknown.add(contract_id)
            return
        self.by_id[contract_id] = contract
        self.ids[contract.key] = contract_id

    def missing(self, contract_ids: Iterable[int]) -> set[int]:
        return {c for c in contract_ids if c not in self.by_id and c not in self.unknown}

    def name(self, contract: Contract) -> str:
        """Tradovate's symbol: root, month code, last digit of the year (ESZ6)."""
        return f"{contract.instrument.root}{contract.month_code}{contract.year % 10}"


def contract_ids_in(data: Mapping[str, Any]) -> set[int]:
    """Every contract id the entities of a sync reply (or REST lists) refer to."""
    ids: set[int] = set()
    for key in ("positions", "orders", "fills"):
        for entity in _list(data.get(key)):
            ids.add(_int(entity.get("contractId")))
    return ids


class EntityBook:
    """The accounts' entities as Tradovate last told them, for the accounts this connection watches."""

    def __init__(self, broker: str, wanted: Sequence[str], contracts: ContractBook) -> None:
        self._broker = broker
        self._wanted = tuple(wanted)  # account names or ids; empty: every account of the user
        self.contracts = contracts
        self.accounts: dict[int, Entity] = {}
        self.refs: dict[int, AccountRef] = {}
        self.orders: dict[int, Entity] = {}
        self.versions: dict[int, Entity] = {}  # by order id: the latest version
        self.filled: dict[int, int] = {}  # order id → contracts filled
        self.fills: dict[int, Entity] = {}
        self.positions: dict[int, Entity] = {}
        self.cash: dict[int, Entity] = {}  # by account id

    # -- loading -------------------------------------------------------------------------------
    def load(self, data: Mapping[str, Any]) -> None:
        """A full state: the `user/syncrequest` reply, or the REST lists under the same keys."""
        for entity in _list(data.get("contracts")):
            self.contracts.add(entity)
        for entity in _list(data.get("accounts")):
            self._account(entity)
        for entity in _list(data.get("cashBalances")):
            self.cash[_int(entity.get("accountId"))] = entity
        for entity in _list(data.get("orders")):
            self.orders[_int(entity.get("id"))] = entity
        for entity in _list(data.get("orderVersions")):
            self._version(entity)
        for entity in _list(data.get("fills")):
            self._fill(entity)
        for entity in _list(data.get("positions")):
            self.positions[_int(entity.get("id"))] = entity

    def ref_for(self, configured: str) -> AccountRef:
        return AccountRef(self._broker, configured)

    def account_id(self, ref: AccountRef) -> int | None:
        for account_id, known in self.refs.items():
            if known == ref:
                return account_id
        return None

    # -- pushes --------------------------------------------------------------------------------
    def apply(
        self, entity_type: str, event_type: str, entity: Entity, now: datetime
    ) -> list[BrokerEvent]:
        """One `props` push; the broker events it means for watched accounts."""
        deleted = event_type == "Deleted"
        if entity_type == "contract":
            self.contracts.add(entity)
            return []
        if entity_type == "account":
            self._account(entity)
            return []
        if entity_type == "cashBalance":
            account_id = _int(entity.get("accountId"))
            self.cash[account_id] = entity
            ref = self.refs.get(account_id)
            if ref is None:
                return []
            return [
                BalanceUpdate(_ts(entity.get("timestamp"), now), ref, _dec(entity.get("amount")))
            ]
        if entity_type == "position":
            position_id = _int(entity.get("id"))
            if deleted:
                entity = {**entity, "netPos": 0}
            self.positions[position_id] = entity
            position = self._position(entity)
            return (
                []
                if position is None
                else [PositionUpdate(_ts(entity.get("timestamp"), now), position)]
            )
        if entity_type == "order":
            order_id = _int(entity.get("id"))
            if deleted:
                entity = {**entity, "ordStatus": "Canceled"}
            self.orders[order_id] = entity
            return self._order_event(order_id, now)
        if entity_type == "orderVersion":
            return self._order_event(self._version(entity), now)
        if entity_type == "fill":
            fill = self._fill(entity)
            events: list[BrokerEvent] = []
            if fill is not None:
                events.append(fill)
            events += self._order_event(_int(entity.get("orderId")), now)
            return events
        return []  # users, risk statuses, fill pairs…: nothing propdesk tracks

    # -- reading -------------------------------------------------------------------------------
    def snapshot(self, now: datetime, accounts: Iterable[AccountRef] | None = None) -> Snapshot:
        wanted = set(self.refs.values()) if accounts is None else set(accounts)
        refs = {aid: ref for aid, ref in self.refs.items() if ref in wanted}
        brokers = tuple(
            BrokerAccount(
                ref,
                str(self.accounts[aid].get("name", ref.account_id)),
                _dec(self.cash[aid].get("amount")) if aid in self.cash else Decimal(0),
                bool(self.accounts[aid].get("active", True)),
            )
            for aid, ref in refs.items()
        )
        positions = tuple(
            p for e in self.positions.values() if (p := self._position(e)) and p.account in wanted
        )
        orders = []
        for order_id in self._live_orders(refs):
            mapped = self._working(order_id)
            if (
                mapped is not None
                and mapped[1] is OrderStatus.WORKING
                and mapped[0].account in wanted
            ):
                orders.append(mapped[0])
        fills = tuple(
            f for e in self.fills.values() if (f := self._account_fill(e)) and f.account in wanted
        )
        return Snapshot(
            now, brokers, positions, tuple(orders), tuple(sorted(fills, key=lambda f: f.ts))
        )

    def position_ids(self, ref: AccountRef) -> dict[str, int]:
        """Contract key → Tradovate position id, for the account's open positions."""
        found: dict[str, int] = {}
        for position_id, entity in self.positions.items():
            position = self._position(entity)
            if position is not None and position.account == ref and position.net:
                found[position.contract.key] = position_id
        return found

    def working_order_ids(self, ref: AccountRef) -> set[str]:
        ids = set()
        account_id = self.account_id(ref)
        if account_id is None:
            return ids
        for order_id in self._live_orders({account_id: ref}):
            mapped = self._working(order_id)
            if mapped is not None and mapped[1] is OrderStatus.WORKING and mapped[0].account == ref:
                ids.add(mapped[0].order_id)
        return ids

    def _live_orders(self, accounts: Mapping[int, AccountRef]) -> list[int]:
        """Orders of these accounts that may still work: a cheap filter before the full mapping
        (the pushed book keeps every order of the day, and a flatten reads it per account)."""
        return [
            order_id
            for order_id, order in self.orders.items()
            if isinstance(account_id := order.get("accountId"), int)
            and account_id in accounts
            and not (isinstance(status := order.get("ordStatus"), str) and status in _FINISHED)
        ]

    # -- mapping -------------------------------------------------------------------------------
    def _account(self, entity: Entity) -> None:
        account_id = _int(entity.get("id"))
        self.accounts[account_id] = entity
        name = str(entity.get("name", ""))
        if not self._wanted:
            self.refs[account_id] = AccountRef(self._broker, name or str(account_id))
            return
        for configured in self._wanted:
            if configured in (name, str(account_id)):
                self.refs[account_id] = AccountRef(self._broker, configured)

    def _version(self, entity: Entity) -> int:
        order_id = _int(entity.get("orderId"))
        current = self.versions.get(order_id)
        if current is None or _int(entity.get("id")) >= _int(current.get("id")):
            self.versions[order_id] = entity
        return order_id

    def _fill(self, entity: Entity) -> AccountFill | None:
        fill_id = _int(entity.get("id"))
        if fill_id in self.fills:
            return None
        self.fills[fill_id] = entity
        if entity.get("active", True) is False:
            return None
        order_id = _int(entity.get("orderId"))
        self.filled[order_id] = self.filled.get(order_id, 0) + _int(entity.get("qty"))
        return self._account_fill(entity)

    def _account_fill(self, entity: Entity) -> AccountFill | None:
        if entity.get("active", True) is False:
            return None
        order = self.orders.get(_int(entity.get("orderId")))
        if order is None:
            return None
        ref = self.refs.get(_int(order.get("accountId")))
        contract = self.contracts.by_id.get(_int(entity.get("contractId")))
        if ref is None or contract is None:
            return None
        qty = _int(entity.get("qty"))
        if qty <= 0:
            raise ValueError(f"fill {entity.get('id')} has quantity {qty}")
        fill = Fill(
            _ts(entity.get("timestamp"), None),
            contract,
            _side(entity.get("action")),
            qty,
            _dec(entity.get("price")),
            fee=None,  # a Tradovate fill carries no fee: the account's commission schedule applies
            fill_id=str(_int(entity.get("id"))),
        )
        return AccountFill(ref, fill)

    def _position(self, entity: Entity) -> BrokerPosition | None:
        ref = self.refs.get(_int(entity.get("accountId")))
        contract = self.contracts.by_id.get(_int(entity.get("contractId")))
        if ref is None or contract is None:
            return None
        net = _int(entity.get("netPos"))
        price = entity.get("netPrice")
        return BrokerPosition(ref, contract, net, Decimal(0) if price is None else _dec(price))

    def _working(self, order_id: int) -> tuple[WorkingOrder, OrderStatus] | None:
        order = self.orders.get(order_id)
        version = self.versions.get(order_id)
        if order is None or version is None:
            return None
        ref = self.refs.get(_int(order.get("accountId")))
        contract = self.contracts.by_id.get(_int(order.get("contractId")))
        if ref is None or contract is None:
            return None
        status_text = order.get("ordStatus")
        status = _STATUS.get(status_text) if isinstance(status_text, str) else None
        if status is None:
            raise ValueError(f"order {order_id} has status {status_text!r}")
        type_text = version.get("orderType")
        order_type = _TYPES.get(type_text) if isinstance(type_text, str) else None
        if order_type is None:
            raise ValueError(f"order {order_id} has type {type_text!r}")
        price, stop = version.get("price"), version.get("stopPrice")
        working = WorkingOrder(
            ref,
            str(order_id),
            contract,
            _side(order.get("action")),
            _int(version.get("orderQty")),
            self.filled.get(order_id, 0),
            order_type,
            limit_price=None if price is None else _dec(price),
            stop_price=None if stop is None else _dec(stop),
        )
        return working, status

    def _order_event(self, order_id: int, now: datetime) -> list[BrokerEvent]:
        mapped = self._working(order_id)
        if mapped is None:
            return []
        order, status = mapped
        reason = (
            "" if status is not OrderStatus.REJECTED else str(self.orders[order_id].get("text", ""))
        )
        return [
            OrderUpdate(_ts(self.orders[order_id].get("timestamp"), now), order, status, reason)
        ]


# -- field readers: strict, so a malformed payload is noticed instead of half-applied ----------
def _list(value: object) -> list[Entity]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ValueError(f"expected a list of objects, got {str(value)[:80]!r}")
    return value


def _int(value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    raise ValueError(f"expected an integer, got {value!r:.40}")


def _dec(value: object) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"expected a number, got {value!r:.40}")
    try:
        number = Decimal(str(value))
    except InvalidOperation as exc:
        raise ValueError(f"expected a number, got {value!r:.40}") from exc
    if not number.is_finite():
        raise ValueError(f"expected a finite number, got {value!r:.40}")
    return number


def _side(value: object) -> Side:
    if value == "Buy":
        return Side.BUY
    if value == "Sell":
        return Side.SELL
    raise ValueError(f"expected Buy or Sell, got {value!r:.40}")


def _ts(value: object, default: datetime | None) -> datetime:
    if value is None and default is not None:
        return default
    if not isinstance(value, str):
        raise ValueError(f"expected a timestamp, got {value!r:.40}")
    ts = datetime.fromisoformat(value)
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)

"""Accounts as the runtime holds them: their setup, its journal form, and the broker's view of them.

The setup is journaled in full (the firm profile with its overrides, the protocol, news), so a rebuild
after a crash uses the numbers the account ran with even if the profile files changed since.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, get_args, get_type_hints

from propdesk.brokers.base import AccountRef, BrokerPosition, WorkingOrder
from propdesk.domain.account import AccountRisk, calendar_for
from propdesk.domain.calendar import Closure
from propdesk.domain.commissions import CommissionTable
from propdesk.domain.events import Side
from propdesk.domain.firms import FirmProfile
from propdesk.domain.news import NewsEvent, Restriction, in_scope
from propdesk.domain.protocol import Protocol


@dataclass(frozen=True, slots=True)
class AccountSetup:
    ref: AccountRef
    profile: FirmProfile  # overrides already applied
    protocol: Protocol = field(default_factory=Protocol)
    balance: Decimal | None = None  # the balance when propdesk first meets the account
    cluster: str | None = None
    news: tuple[NewsEvent, ...] = ()
    product_group: str = "equity"
    name: str = ""
    # Charged on fills the broker reports without a fee; None: such fills book no fee.
    commissions: CommissionTable | None = None


# -- journal form -------------------------------------------------------------------------------------
def _plain(value: object) -> object:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, timedelta):
        return value.total_seconds()
    return value


def protocol_to_json(protocol: Protocol) -> dict[str, Any]:
    return {f.name: _plain(getattr(protocol, f.name)) for f in dataclasses.fields(protocol)}


def protocol_from_json(data: dict[str, Any]) -> Protocol:
    hints = get_type_hints(Protocol)
    defaults = Protocol()
    values: dict[str, Any] = {}
    for f in dataclasses.fields(Protocol):
        if f.name not in data:
            values[f.name] = getattr(defaults, f.name)
            continue
        raw, kind = data[f.name], hints[f.name]
        if raw is None:
            values[f.name] = None
        elif timedelta in get_args(kind) or kind is timedelta:
            values[f.name] = timedelta(seconds=float(raw))
        elif Decimal in get_args(kind) or kind is Decimal:
            values[f.name] = Decimal(raw)
        else:
            values[f.name] = raw
    return Protocol(**values)


def _news_to_json(event: NewsEvent) -> dict[str, Any]:
    return {
        "at": event.at.isoformat(),
        "title": event.title,
        "roots": None if event.roots is None else sorted(event.roots),
        "pre": None if event.pre is None else event.pre.total_seconds(),
        "post": None if event.post is None else event.post.total_seconds(),
        "restriction": None if event.restriction is None else event.restriction.value,
    }


def _news_from_json(data: dict[str, Any]) -> NewsEvent:
    return NewsEvent(
        at=datetime.fromisoformat(data["at"]),
        title=data["title"],
        roots=None if data["roots"] is None else frozenset(data["roots"]),
        pre=None if data["pre"] is None else timedelta(seconds=data["pre"]),
        post=None if data["post"] is None else timedelta(seconds=data["post"]),
        restriction=None if data["restriction"] is None else Restriction(data["restriction"]),
    )


def setup_to_json(setup: AccountSetup) -> dict[str, Any]:
    return {
        "broker": setup.ref.broker,
        "account_id": setup.ref.account_id,
        "name": setup.name,
        "profile": setup.profile.model_dump(mode="json"),
        "protocol": protocol_to_json(setup.protocol),
        "balance": None if setup.balance is None else str(setup.balance),
        "cluster": setup.cluster,
        "news": [_news_to_json(n) for n in setup.news],
        "product_group": setup.product_group,
        "commissions": None if setup.commissions is None else setup.commissions.to_json(),
    }


def setup_from_json(data: dict[str, Any]) -> AccountSetup:
    return AccountSetup(
        ref=AccountRef(data["broker"], data["account_id"]),
        profile=FirmProfile.model_validate(data["profile"]),
        protocol=protocol_from_json(data["protocol"]),
        balance=None if data["balance"] is None else Decimal(data["balance"]),
        cluster=data["cluster"],
        news=tuple(_news_from_json(n) for n in data["news"]),
        product_group=data["product_group"],
        name=data.get("name", ""),
        # Journals from before commissions were estimated replay as they ran: without.
        commissions=None
        if data.get("commissions") is None
        else CommissionTable.from_json(data["commissions"]),
    )


def risk_for(setup: AccountSetup, closures: tuple[Closure, ...] = ()) -> AccountRisk:
    return AccountRisk(
        setup.profile,
        calendar=calendar_for(setup.profile, closures),
        protocol=setup.protocol,
        news=setup.news,
        balance=setup.balance,
        product_group=setup.product_group,
        commissions=setup.commissions,
    )


# -- the live account -----------------------------------------------------------------------------------
@dataclass
class LiveAccount:
    setup: AccountSetup
    risk: AccountRisk
    key: str = ""
    positions: dict[str, BrokerPosition] = field(default_factory=dict)  # the broker's view
    orders: dict[str, WorkingOrder] = field(default_factory=dict)
    fill_ids: dict[str, datetime] = field(default_factory=dict)  # fill id -> its time
    broker_balance: Decimal | None = None
    fills: int = 0
    flattens: int = 0
    locks: int = 0
    last_flatten: str = ""
    config: dict[str, Any] | None = None  # the setup's journal form (made once: snapshots use it)

    def __post_init__(self) -> None:
        self.key = str(self.setup.ref)
        if self.config is None:
            self.config = setup_to_json(self.setup)

    @property
    def ref(self) -> AccountRef:
        return self.setup.ref

    def forget_exposure(self, roots: frozenset[str] | None) -> None:
        """A verified-flat read covered `roots` (None: everything): drop what the view still shows."""
        if roots is None:
            self.orders.clear()
            self.positions.clear()
            return
        for key in [k for k, o in self.orders.items() if in_scope(o.contract.instrument, roots)]:
            del self.orders[key]
        for key in [k for k, p in self.positions.items() if in_scope(p.contract.instrument, roots)]:
            del self.positions[key]

    def view(self) -> tuple[list[BrokerPosition], list[WorkingOrder]]:
        return [p for p in self.positions.values() if p.net], list(self.orders.values())

    def adding_orders(self) -> list[WorkingOrder]:
        """Working orders that would add exposure: same side as the position, or opening one."""
        adding = []
        for order in self.orders.values():
            position = self.positions.get(order.contract.key)
            net = position.net if position is not None else 0
            if (order.side is Side.BUY and net >= 0) or (order.side is Side.SELL and net <= 0):
                adding.append(order)
        return adding

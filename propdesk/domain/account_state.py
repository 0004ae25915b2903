"""One account's risk state as plain data, and back: what a journal snapshot holds.

Everything the next event's processing depends on is here (ledger with its lots and quotes, floors,
the guard's status, the day and end-of-day bookkeeping), so an engine restored from this state and
fed the records after it reaches exactly the state of one that replayed every record. Caches that
are rebuilt on demand (the guard's levels, the news cursor) are left out. Money and prices are
Decimal strings, times ISO-8601 with their offset: exact both ways.
"""

from __future__ import annotations

from collections import deque
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from propdesk.domain.floors import FloorState
from propdesk.domain.instruments import InstrumentBook
from propdesk.domain.ledger import Ledger, Lot, Position, Quote
from propdesk.domain.risk_state import GuardState, GuardStatus, RiskSnapshot
from propdesk.domain.rules import HoldTally, RuleWatch, WarningLatch

if TYPE_CHECKING:
    from propdesk.domain.account import AccountRisk

STATE_VERSION = 2  # 2: lots carry their open time; per-day P&L, warning latches, the size cap


# A lot restored from a version-1 state has no open time: it counts as held long, so a
# minimum-hold warning never fires on a guess.
OPENED_UNKNOWN = datetime(1970, 1, 1, tzinfo=UTC)


class AccountStateError(ValueError):
    """A saved state this version cannot restore."""


def _d(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _D(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def _t(value: datetime | date | None) -> str | None:
    return None if value is None else value.isoformat()


def _dt(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


# -- saving ---------------------------------------------------------------------------------------
def save_state(risk: AccountRisk) -> dict[str, Any]:
    return {
        "version": STATE_VERSION,
        "ledger": _save_ledger(risk.ledger),
        "floors": {
            "high_water": _d(risk.floors.state.high_water),
            "eod_high": _d(risk.floors.state.eod_high),
            "max_loss_floor": _d(risk.floors.state.max_loss_floor),
            "day_start_balance": _d(risk.floors.state.day_start_balance),
            "day_high": _d(risk.floors.state.day_high),
            "daily_floor": _d(risk.floors.state.daily_floor),
        },
        "status": _save_status(risk.status),
        "rules": _save_rules(risk.watch, risk._scaled_contracts),
        "clock": {
            "working": list(risk._working),
            "order_roots": sorted(risk._order_roots),
            "order_groups": sorted(risk._order_groups),
            "day": _t(risk._day),
            "day_end": _t(risk._day_end),
            "eod_at": _t(risk._eod_at),
            "eod_done": risk._eod_done,
            "last_ts": _t(risk._last_ts),
        },
    }


def _save_ledger(ledger: Ledger) -> dict[str, Any]:
    return {
        "start_balance": _d(ledger.start_balance),
        "realized": _d(ledger.realized),
        "fees": _d(ledger.fees),
        "estimated_fees": _d(ledger.estimated_fees),
        "day_start_balance": _d(ledger.day_start_balance),
        "day_realized": _d(ledger.day_realized),
        "day_fees": _d(ledger.day_fees),
        "fills": ledger.fills,
        "open_total": _d(ledger.open_pnl),
        "positions": {
            key: {
                "lots": [[lot.qty, _d(lot.price), _t(lot.opened)] for lot in p.lots],
                "net": p.net,
                "cost": _d(p.cost),
                "open_pnl": _d(p.open_pnl),
                "mark_price": _d(p.mark_price),
            }
            for key, p in ledger.positions.items()
        },
        "quotes": {
            key: [_d(q.bid), _d(q.ask), _d(q.last), _t(q.ts), _t(q.fill_ts)]
            for key, q in ledger.quotes.items()
        },
    }


def _save_rules(watch: RuleWatch, scaled_contracts: int | None) -> dict[str, Any]:
    tally = watch.hold_tally
    return {
        "day_pnl": {_t(day): _d(pnl) for day, pnl in watch.day_pnl.items()},
        "consistency_latch": _save_latch(watch.consistency_latch),
        "hold_tally": [tally.trades, tally.short_trades, _d(tally.profit), _d(tally.short_profit)],
        "hold_latch": _save_latch(watch.hold_latch),
        # The scaling plan's tier, not the guard's cap: the cap follows the protocol of the day.
        "scaled_contracts": scaled_contracts,
    }


def _save_latch(latch: WarningLatch) -> list[Any]:
    return [latch.over, _t(latch.raised_on)]


def _save_status(status: GuardStatus) -> dict[str, Any]:
    snapshot = status.snapshot
    return {
        "state": status.state.name,
        "reason": status.reason,
        "rule": status.rule,
        "since": _t(status.since),
        "lock_until": _t(status.lock_until),
        "stops_lifted": status.stops_lifted,
        "scope": None if status.scope is None else sorted(status.scope),
        "lock_equity": _d(status.lock_equity),
        "reflattens": status.reflattens,
        "easing_since": _t(status.easing_since),
        "snapshot": None
        if snapshot is None
        else {
            "equity": _d(snapshot.equity),
            "balance": _d(snapshot.balance),
            "max_loss_floor": _d(snapshot.max_loss_floor),
            "daily_floor": _d(snapshot.daily_floor),
            "size": _d(snapshot.size),
            "roots": sorted(snapshot.roots),
            "working_orders": snapshot.working_orders,
            "adding_orders": snapshot.adding_orders,
            "order_roots": sorted(snapshot.order_roots),
            "groups": sorted(snapshot.groups),
        },
    }


# -- restoring ------------------------------------------------------------------------------------
def restore_state(risk: AccountRisk, data: dict[str, Any], book: InstrumentBook) -> None:
    """Put a saved state into a fresh engine built from the same setup."""
    # Version 1 (before lots carried their open time and the firm's warnings) still restores: a
    # journal written by the last release must never lose its locks to an upgrade.
    if data.get("version") not in (1, STATE_VERSION):
        raise AccountStateError(f"account state version {data.get('version')!r}")
    _restore_ledger(risk.ledger, data["ledger"], book)
    floors = data["floors"]
    risk.floors.state = FloorState(
        high_water=Decimal(floors["high_water"]),
        eod_high=Decimal(floors["eod_high"]),
        max_loss_floor=_D(floors["max_loss_floor"]),
        day_start_balance=Decimal(floors["day_start_balance"]),
        day_high=Decimal(floors["day_high"]),
        daily_floor=_D(floors["daily_floor"]),
    )
    risk.status = _restore_status(data["status"])
    rules = data.get("rules")
    if rules is not None:
        _restore_rules(risk.watch, rules)
        if risk._scaling is not None and rules["scaled_contracts"] is not None:
            risk._scale_to(int(rules["scaled_contracts"]))
    clock = data["clock"]
    working, adding = clock["working"]
    risk._working = (int(working), int(adding))
    risk._order_roots = frozenset(clock.get("order_roots", ()))
    risk._order_groups = frozenset(clock.get("order_groups", ()))
    day = clock["day"]
    risk._day = None if day is None else date.fromisoformat(day)
    risk._day_end = _dt(clock["day_end"])
    risk._eod_at = _dt(clock["eod_at"])
    risk._eod_done = bool(clock["eod_done"])
    risk._last_ts = _dt(clock["last_ts"])


def _restore_ledger(ledger: Ledger, data: dict[str, Any], book: InstrumentBook) -> None:
    if Decimal(data["start_balance"]) != ledger.start_balance:
        raise AccountStateError(
            f"saved start balance {data['start_balance']} is not the setup's {ledger.start_balance}"
        )
    ledger.realized = Decimal(data["realized"])
    ledger.fees = Decimal(data["fees"])
    # States saved before fees were estimated have none.
    ledger.estimated_fees = Decimal(data.get("estimated_fees", "0"))
    ledger.day_start_balance = Decimal(data["day_start_balance"])
    ledger.day_realized = Decimal(data["day_realized"])
    ledger.day_fees = Decimal(data["day_fees"])
    ledger.fills = int(data["fills"])
    ledger._open_total = Decimal(data["open_total"])
    ledger.positions = {}
    for key, saved in data["positions"].items():
        ledger.positions[key] = Position(
            book.parse(key),
            deque(
                Lot(
                    int(lot[0]),
                    Decimal(lot[1]),
                    datetime.fromisoformat(lot[2]) if len(lot) > 2 else OPENED_UNKNOWN,
                )
                for lot in saved["lots"]
            ),
            int(saved["net"]),
            Decimal(saved["cost"]),
            Decimal(saved["open_pnl"]),
            _D(saved["mark_price"]),
        )
    # States saved before quotes carried their times read as undated (the next fill dates them).
    ledger.quotes = {
        key: Quote(_D(q[0]), _D(q[1]), _D(q[2]), *(_dt(t) for t in (q[3:5] or (None, None))))
        for key, q in data["quotes"].items()
    }


def _restore_rules(watch: RuleWatch, data: dict[str, Any]) -> None:
    watch.day_pnl = {date.fromisoformat(day): Decimal(pnl) for day, pnl in data["day_pnl"].items()}
    watch.consistency_latch = _restore_latch(data["consistency_latch"])
    trades, short_trades, profit, short_profit = data["hold_tally"]
    watch.hold_tally = HoldTally(
        int(trades), int(short_trades), Decimal(profit), Decimal(short_profit)
    )
    watch.hold_latch = _restore_latch(data["hold_latch"])


def _restore_latch(data: list[Any]) -> WarningLatch:
    over, raised_on = data
    return WarningLatch(bool(over), None if raised_on is None else date.fromisoformat(raised_on))


def _restore_status(data: dict[str, Any]) -> GuardStatus:
    saved = data["snapshot"]
    snapshot = (
        None
        if saved is None
        else RiskSnapshot(
            equity=Decimal(saved["equity"]),
            balance=Decimal(saved["balance"]),
            max_loss_floor=_D(saved["max_loss_floor"]),
            daily_floor=_D(saved["daily_floor"]),
            size=Decimal(saved["size"]),
            roots=frozenset(saved["roots"]),
            working_orders=int(saved["working_orders"]),
            adding_orders=int(saved["adding_orders"]),
            order_roots=frozenset(saved.get("order_roots", ())),
            groups=frozenset(saved.get("groups", ())),
        )
    )
    return GuardStatus(
        state=GuardState[data["state"]],
        reason=data["reason"],
        rule=data["rule"],
        since=_dt(data["since"]),
        lock_until=_dt(data["lock_until"]),
        snapshot=snapshot,
        stops_lifted=bool(data.get("stops_lifted", False)),
        scope=None if data.get("scope") is None else frozenset(data["scope"]),
        lock_equity=_D(data.get("lock_equity")),
        reflattens=int(data.get("reflattens", 0)),
        # Absent in a state saved before the ease hold: the hold starts again (the safe side).
        easing_since=_dt(data.get("easing_since")),
    )

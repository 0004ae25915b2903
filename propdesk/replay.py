"""`propdesk replay`: feed a JSONL day of fills, marks and clock ticks through ledger + floors + guard.

The whole file is read and checked before anything is printed, so a bad line never leaves half an output
that looks valid.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, TextIO

from propdesk.domain.account import AccountRisk
from propdesk.domain.calendar import TradingCalendar
from propdesk.domain.events import (
    AccountEvent,
    ClockTick,
    ConnectionRestored,
    Fill,
    KillRequest,
    Mark,
    Side,
    UnlockRequest,
)
from propdesk.domain.firms import FirmProfile
from propdesk.domain.instruments import Contract, InstrumentBook, UnknownSymbolError
from propdesk.domain.money import MoneyError, cents, to_decimal
from propdesk.domain.news import NewsEvent
from propdesk.domain.protocol import Protocol


class ReplayError(ValueError):
    """Bad replay input; the message names the line."""


@dataclass(frozen=True, slots=True)
class ReplayLine:
    number: int
    ts_text: str
    event: AccountEvent


def _field(raw: dict[str, Any], key: str, where: str) -> Any:
    if key not in raw:
        raise ReplayError(f"{where}: missing field '{key}'")
    return raw[key]


def _money(raw: dict[str, Any], key: str, where: str, *, positive: bool = False) -> Decimal:
    try:
        value = to_decimal(raw[key], what=key)
    except MoneyError as exc:
        raise ReplayError(f"{where}: {exc}") from None
    if positive and value <= 0:
        raise ReplayError(f"{where}: '{key}' must be > 0, got {raw[key]}")
    return value


def parse_line(text: str, number: int, instruments: InstrumentBook) -> ReplayLine:
    where = f"line {number}"
    try:
        raw = json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as exc:
        raise ReplayError(f"{where}: not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(raw, dict):
        raise ReplayError(f"{where}: expected a JSON object")
    ts_text = _field(raw, "ts", where)
    if not isinstance(ts_text, str):
        raise ReplayError(f"{where}: 'ts' must be an ISO-8601 string with a UTC offset")
    try:
        ts = datetime.fromisoformat(ts_text)
    except ValueError:
        raise ReplayError(f"{where}: 'ts' {ts_text!r} is not ISO-8601") from None
    if ts.tzinfo is None:
        raise ReplayError(f"{where}: 'ts' {ts_text!r} has no UTC offset; times must be unambiguous")
    kind = _field(raw, "type", where)
    event: AccountEvent
    if kind == "fill":
        contract = _contract(raw, where, instruments, ts.year)
        side_text = _field(raw, "side", where)
        if side_text not in ("buy", "sell"):
            raise ReplayError(f"{where}: 'side' must be 'buy' or 'sell', got {side_text!r}")
        qty = _field(raw, "qty", where)
        if not isinstance(qty, int) or isinstance(qty, bool) or qty <= 0:
            raise ReplayError(f"{where}: 'qty' must be a whole number > 0, got {qty!r}")
        price = _money(raw, "price", where, positive=True)
        fee = _money(raw, "fee", where) if raw.get("fee") is not None else Decimal(0)
        if fee < 0:
            raise ReplayError(f"{where}: 'fee' must be ≥ 0, got {raw['fee']}")
        event = Fill(ts, contract, Side(side_text), qty, price, fee)
    elif kind == "mark":
        contract = _contract(raw, where, instruments, ts.year)
        quotes = {
            key: _money(raw, key, where, positive=True)
            for key in ("bid", "ask", "last")
            if raw.get(key) is not None
        }
        if not quotes:
            raise ReplayError(f"{where}: a mark needs 'bid' and 'ask', or 'last'")
        event = Mark(ts, contract, **quotes)
    elif kind == "clock":
        event = ClockTick(ts)
    elif kind == "kill":
        event = KillRequest(ts, str(raw.get("reason", "manual kill")))
    elif kind == "unlock":
        confirmed = raw.get("confirmed", False)
        if not isinstance(confirmed, bool):
            raise ReplayError(f"{where}: 'confirmed' must be true or false")
        event = UnlockRequest(ts, confirmed, str(raw.get("scope", "this account")))
    elif kind == "reconnect":
        seconds = _money(raw, "down_seconds", where)
        event = ConnectionRestored(ts, timedelta(seconds=float(seconds)))
    else:
        raise ReplayError(
            f"{where}: unknown type {kind!r} (expected fill, mark, clock, kill, unlock or reconnect)"
        )
    return ReplayLine(number, ts_text, event)


def _contract(raw: dict[str, Any], where: str, instruments: InstrumentBook, year: int) -> Contract:
    """A one-digit year (ESZ6) is read relative to the event's own year, not today's."""
    symbol = _field(raw, "symbol", where)
    if not isinstance(symbol, str):
        raise ReplayError(f"{where}: 'symbol' must be a string")
    try:
        return instruments.parse(symbol, exchange=raw.get("exchange"), reference_year=year)
    except UnknownSymbolError as exc:
        raise ReplayError(f"{where}: {exc}") from None


def read_lines(stream: Iterable[str], instruments: InstrumentBook) -> list[ReplayLine]:
    """Parse every line up front; blank lines and `#` comments are skipped."""
    lines = []
    for number, text in enumerate(stream, start=1):
        stripped = text.strip()
        if not stripped or stripped.startswith("#"):
            continue
        lines.append(parse_line(stripped, number, instruments))
    return lines


def _money_or_null(value: Decimal | None) -> str | None:
    return None if value is None else cents(value)


def run(
    lines: list[ReplayLine],
    profile: FirmProfile,
    *,
    calendar: TradingCalendar,
    protocol: Protocol,
    balance: Decimal | None = None,
    news: Iterable[NewsEvent] = (),
) -> Iterator[dict[str, Any]]:
    """One output record per input line, in order."""
    account = AccountRisk(profile, calendar=calendar, protocol=protocol, news=news, balance=balance)
    for line in lines:
        actions = account.process(line.event)
        view = account.view()
        yield {
            "ts": line.ts_text,
            "trading_day": view.trading_day.isoformat(),
            "balance": cents(view.balance),
            "open_pnl": cents(view.open_pnl),
            "equity": cents(view.equity),
            "day_pnl": cents(view.day_pnl),
            "floor": _money_or_null(view.floor),
            "floors": {
                "max_loss": _money_or_null(view.max_loss_floor),
                "daily": _money_or_null(view.daily_floor),
            },
            "state": view.state.name,
            "actions": [{"type": a.type.value, "reason": a.reason} for a in actions],
        }


def write_jsonl(records: Iterable[dict[str, Any]], out: TextIO) -> int:
    count = 0
    for record in records:
        out.write(json.dumps(record, ensure_ascii=False) + "\n")
        count += 1
    return count

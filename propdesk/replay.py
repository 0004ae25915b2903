"""`propdesk replay`: feed a JSONL day of fills, marks and clock ticks through ledger + floors + guard.

The whole file is read and checked, and every line processed, before anything is printed, so a bad
line never leaves half an output that looks valid. Every value is checked against the bounds below
as it is read; a line the engine still cannot process is reported by its number all the same.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, DecimalException
from typing import Any, NoReturn, TextIO

from propdesk.domain.account import AccountRisk
from propdesk.domain.calendar import MAX_YEAR, MIN_YEAR, TradingCalendar
from propdesk.domain.commissions import CommissionTable
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

# Bounds on a line's values: far beyond any real trading day, yet small enough that the ledger's
# products stay exact in Decimal's 28 digits (a 15-digit price, 10^7 with 8 places, times 10^4
# contracts times 6J's 8-digit point value is 27 digits) and every date stays in the calendar.
MAX_PRICE = Decimal(10_000_000)
MAX_FEE = Decimal(1_000_000)
MAX_BALANCE = Decimal(1_000_000_000)
MAX_PLACES = 8
MAX_QTY = 10_000
MAX_DOWN_SECONDS = 10 * 365 * 24 * 3600  # ten years
# The guard looks back a few days (the last flat-by cutoff) and ahead a few weeks (the next open
# session), so a year of margin on each side keeps it inside the calendar's range.
FIRST_TS = datetime(MIN_YEAR + 1, 1, 1, tzinfo=UTC)
END_TS = datetime(MAX_YEAR, 1, 1, tzinfo=UTC)
# No field needs a longer number; it also keeps int() clear of its 4300-digit limit.
_MAX_NUMBER_CHARS = 64
_SHOWN_CHARS = 40


class ReplayError(ValueError):
    """Bad replay input; the message names the line."""


class _BadNumber(ValueError):
    """A JSON number no field can take, refused while the line is decoded."""


@dataclass(frozen=True, slots=True)
class ReplayLine:
    number: int
    ts_text: str
    event: AccountEvent


def _shown(value: object) -> str:
    """A value as an error message quotes it: strings quoted, anything long cut short."""
    return _cut(repr(value) if isinstance(value, str) else str(value))


def _cut(text: str) -> str:
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 1] + "…"


def _json_int(text: str) -> int:
    if len(text) > _MAX_NUMBER_CHARS:
        raise _BadNumber(f"a number {len(text)} digits long is too long for any field")
    return int(text)


def _json_decimal(text: str) -> Decimal:
    """JSON numbers with a fraction or exponent, read exactly (never through a float)."""
    if len(text) > _MAX_NUMBER_CHARS:
        raise _BadNumber(f"a number {len(text)} characters long is too long for any field")
    try:
        return Decimal(text)
    except DecimalException:
        raise _BadNumber(f"the number {_cut(text)} is out of range") from None


def _json_constant(name: str) -> NoReturn:
    raise _BadNumber(f"{name} is not valid JSON; write a finite number")


def _decode(text: str, where: str) -> object:
    try:
        return json.loads(
            text,
            parse_float=_json_decimal,
            parse_int=_json_int,
            parse_constant=_json_constant,
        )
    except json.JSONDecodeError as exc:
        raise ReplayError(f"{where}: not valid JSON ({exc.msg} at column {exc.colno})") from None
    except _BadNumber as exc:
        raise ReplayError(f"{where}: {exc}") from None
    except RecursionError:
        raise ReplayError(f"{where}: not valid replay input (JSON nested too deeply)") from None


def _field(raw: dict[str, Any], key: str, where: str) -> Any:
    if raw.get(key) is None:
        raise ReplayError(f"{where}: missing field '{key}'")
    return raw[key]


def _text(raw: dict[str, Any], key: str, where: str, default: str) -> str:
    """An optional free-text field, which the output may quote: a string of real characters."""
    value = raw.get(key)
    if value is None:
        return default
    if not isinstance(value, str):
        raise ReplayError(f"{where}: '{key}' must be a string, got {_shown(value)}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ReplayError(
            f"{where}: '{key}' contains a lone surrogate escape (\\ud800–\\udfff), not a character"
        ) from None
    return value


def _number(raw: dict[str, Any], key: str, where: str) -> Decimal:
    """A finite, exact number (to_decimal refuses NaN and Infinity written as strings)."""
    try:
        return to_decimal(_field(raw, key, where), what=key)
    except MoneyError as exc:
        raise ReplayError(f"{where}: {exc}") from None


def _amount(
    raw: dict[str, Any], key: str, where: str, *, above_zero: bool, high: Decimal
) -> Decimal:
    """A price (> 0) or a fee (≥ 0): in range, with no more places than exact sums allow."""
    value = _number(raw, key, where)
    low_ok = value > 0 if above_zero else value >= 0
    if not low_ok or value > high:
        bounds = f"more than 0 and at most {high}" if above_zero else f"from 0 to {high}"
        raise ReplayError(f"{where}: '{key}' must be {bounds}, got {_shown(raw[key])}")
    _check_places(value, key, where, MAX_PLACES)
    return value


def _check_places(value: Decimal, key: str, where: str, places: int) -> None:
    # value is bounded by now, so the quantize cannot overflow the context; a value with more
    # places rounds, and the exact comparison sees it.
    if value != value.quantize(Decimal(1).scaleb(-places)):
        raise ReplayError(f"{where}: '{key}' {value} has more than {places} decimal places")


def _qty(raw: dict[str, Any], where: str) -> int:
    qty = _field(raw, "qty", where)
    if not isinstance(qty, int) or isinstance(qty, bool) or not 0 < qty <= MAX_QTY:
        raise ReplayError(
            f"{where}: 'qty' must be a whole number > 0, at most {MAX_QTY}, got {_shown(qty)}"
        )
    return qty


def _down_for(raw: dict[str, Any], where: str) -> timedelta:
    seconds = _number(raw, "down_seconds", where)
    if not 0 <= seconds <= MAX_DOWN_SECONDS:
        raise ReplayError(
            f"{where}: 'down_seconds' must be from 0 to {MAX_DOWN_SECONDS} (ten years), "
            f"got {_shown(raw['down_seconds'])}"
        )
    _check_places(seconds, "down_seconds", where, 6)  # a timedelta holds microseconds
    whole = int(seconds)
    return timedelta(seconds=whole, microseconds=int((seconds - whole) * 1_000_000))


def _timestamp(raw: dict[str, Any], where: str) -> tuple[str, datetime]:
    ts_text = _field(raw, "ts", where)
    if not isinstance(ts_text, str):
        raise ReplayError(f"{where}: 'ts' must be an ISO-8601 string with a UTC offset")
    try:
        ts = datetime.fromisoformat(ts_text)
    except ValueError:
        raise ReplayError(f"{where}: 'ts' {_shown(ts_text)} is not ISO-8601") from None
    if ts.tzinfo is None:
        raise ReplayError(
            f"{where}: 'ts' {_shown(ts_text)} has no UTC offset; times must be unambiguous"
        )
    if not FIRST_TS <= ts < END_TS:
        raise ReplayError(
            f"{where}: 'ts' {_shown(ts_text)} is outside the dates the trading calendar covers "
            f"({FIRST_TS:%Y-%m-%d} to {END_TS - timedelta(days=1):%Y-%m-%d} UTC)"
        )
    return ts_text, ts


def parse_line(text: str, number: int, instruments: InstrumentBook) -> ReplayLine:
    where = f"line {number}"
    raw = _decode(text, where)
    if not isinstance(raw, dict):
        raise ReplayError(f"{where}: expected a JSON object")
    ts_text, ts = _timestamp(raw, where)
    kind = _field(raw, "type", where)
    event: AccountEvent
    if kind == "fill":
        contract = _contract(raw, where, instruments, ts)
        side_text = _field(raw, "side", where)
        if side_text not in ("buy", "sell"):
            raise ReplayError(f"{where}: 'side' must be 'buy' or 'sell', got {_shown(side_text)}")
        qty = _qty(raw, where)
        price = _amount(raw, "price", where, above_zero=True, high=MAX_PRICE)
        # No fee on the line: the broker reported none (charged from the schedule with
        # --commissions, booked as nothing without it).
        fee = (
            _amount(raw, "fee", where, above_zero=False, high=MAX_FEE)
            if raw.get("fee") is not None
            else None
        )
        event = Fill(ts, contract, Side(side_text), qty, price, fee)
    elif kind == "mark":
        contract = _contract(raw, where, instruments, ts)
        quotes = {
            key: _amount(raw, key, where, above_zero=True, high=MAX_PRICE)
            for key in ("bid", "ask", "last")
            if raw.get(key) is not None
        }
        if not quotes:
            raise ReplayError(f"{where}: a mark needs 'bid' and 'ask', or 'last'")
        event = Mark(ts, contract, **quotes)
    elif kind == "clock":
        event = ClockTick(ts)
    elif kind == "kill":
        event = KillRequest(ts, _text(raw, "reason", where, "manual kill"))
    elif kind == "unlock":
        confirmed = raw.get("confirmed", False)
        if not isinstance(confirmed, bool):
            raise ReplayError(f"{where}: 'confirmed' must be true or false")
        event = UnlockRequest(ts, confirmed, _text(raw, "scope", where, "this account"))
    elif kind == "reconnect":
        event = ConnectionRestored(ts, _down_for(raw, where))
    else:
        raise ReplayError(
            f"{where}: unknown type {_shown(kind)} "
            "(expected fill, mark, clock, kill, unlock or reconnect)"
        )
    return ReplayLine(number, ts_text, event)


def _contract(
    raw: dict[str, Any], where: str, instruments: InstrumentBook, ts: datetime
) -> Contract:
    """A one-digit year (ESZ6) is read as of the line's own time, not today's."""
    symbol = _field(raw, "symbol", where)
    if not isinstance(symbol, str):
        raise ReplayError(f"{where}: 'symbol' must be a string")
    exchange = raw.get("exchange")
    if exchange is not None and not isinstance(exchange, str):
        raise ReplayError(f"{where}: 'exchange' must be a string, got {_shown(exchange)}")
    try:
        return instruments.parse(symbol, exchange=exchange, at=ts)
    except UnknownSymbolError as exc:
        raise ReplayError(f"{where}: {exc}") from None


def read_lines(stream: Iterable[bytes], instruments: InstrumentBook) -> list[ReplayLine]:
    """Parse every line up front; blank lines and `#` comments are skipped.

    The stream is bytes, decoded one line at a time, so a line that is not UTF-8 is named by its
    number (a text stream decodes whole chunks and fails before the lines ahead of the bad byte).
    """
    lines: list[ReplayLine] = []
    for number, data in enumerate(stream, start=1):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ReplayError(
                f"line {number}: not UTF-8 text (byte 0x{data[exc.start]:02x} at byte "
                f"{exc.start + 1}); save the file as UTF-8"
            ) from None
        stripped = text.strip()
        if not stripped or stripped.startswith("#"):
            continue
        line = parse_line(stripped, number, instruments)
        if lines and line.event.ts < lines[-1].event.ts:
            previous = lines[-1]
            raise ReplayError(
                f"line {number}: 'ts' {line.ts_text} is earlier than line {previous.number}'s "
                f"{previous.ts_text}; times must not go backwards"
            )
        lines.append(line)
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
    commissions: CommissionTable | None = None,
) -> list[dict[str, Any]]:
    """One output record per input line, in order; all of them, or a ReplayError naming the line.

    A list, not a stream: the caller prints nothing until every line has gone through. With
    `commissions`, fills without a fee are charged from it and each record also says the fees.
    """
    account = AccountRisk(
        profile,
        calendar=calendar,
        protocol=protocol,
        news=news,
        balance=balance,
        commissions=commissions,
    )
    records = []
    for line in lines:
        try:
            records.append(_process(account, line))
        except (ArithmeticError, ValueError) as exc:
            # The checks in parse_line are meant to make this unreachable; if a value still breaks
            # the engine, the trader gets the line, not a traceback and half an output.
            detail = (
                "a number is too large or too precise to compute exactly"
                if isinstance(exc, DecimalException)
                else str(exc) or type(exc).__name__
            )
            raise ReplayError(f"line {line.number}: cannot process this line: {detail}") from exc
    return records


def _process(account: AccountRisk, line: ReplayLine) -> dict[str, Any]:
    actions = account.process(line.event)
    view = account.view()
    record: dict[str, Any] = {
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
    if account.commissions is not None:
        record["fees"] = cents(view.fees)
        record["estimated_fees"] = cents(view.estimated_fees)
    return record


def write_jsonl(records: Iterable[dict[str, Any]], out: TextIO) -> int:
    count = 0
    for record in records:
        out.write(json.dumps(record, ensure_ascii=False) + "\n")
        count += 1
    return count

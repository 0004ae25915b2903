"""Futures instruments, and the broker symbols that name one contract of them.

`InstrumentBook.from_toml` turns resources/instruments.toml into `Instrument`s (tick size and value
as exact Decimals); `InstrumentBook.parse` turns whatever a broker calls a contract into a
`Contract` whose `key` ("ESZ26") is the one identity used everywhere else in propdesk.

Symbol forms read by `parse` (case-insensitive, surrounding whitespace ignored):

- ``ESZ6``: Rithmic, Tradovate. The one-digit year is resolved against the time of the event
  (`at`: the fill's or the quote's own time): it is the nearest year ending in that digit whose
  contract has not stopped trading at that time, provided CME lists that contract that far ahead
  (`listed_months`). When that reading is not listed (ESZ6 on 24 Dec 2026 would be ESZ36, nine
  years past what CME lists), the symbol is read as the latest expired contract (ESZ26) rather than
  refused: a refused fill would vanish from the ledger, while an expired contract is a flagged one
  (the account raises an expiry alert on any fill in it; see `Contract.expired_at`).
- ``ESZ26``: two-digit year, 20YY, taken as written. This is the canonical key.
- ``ESZ2026``: four-digit year, taken as written.
- ``CON.F.US.EP.Z25``: a ProjectX contract id, whose product code (EP) is not the root (ES).

Roots beginning with digits (``6EH7``) need no special case: a symbol splits deterministically
into year (the trailing digits), month (the letter before them) and root (everything before
that), and the root is then looked up exactly. So MES can never be read as "ME" + "S...", nor MNQ
as NQ, whatever order the roots are listed in.

Exchange: when a caller passes the exchange a broker reported, it must equal the instrument's own
exchange (CME, CBOT, NYMEX or COMEX). CME Group's four exchanges are not lumped together as "CME":
Rithmic reports the listing exchange itself (async-rithmic's docs show SI on "COMEX"), and no
broker propdesk speaks was found reporting "CME" for a CBOT, NYMEX or COMEX product. A mismatch is
refused, not guessed.

Expiry: each instrument names its CME termination rule (`expiry`, a key of expiry.RULES) and the
time CME states for it; `Contract.last_trade` and `Contract.trading_ends` are computed from them
with the exchange's business days (expiry.py), lazily, so parsing a two-digit symbol never loads
the calendar.

Every failure raises `UnknownSymbolError` (a ValueError) saying what was expected; nothing falls
back to a default instrument or month. The reading of a symbol is cached, so a symbol seen on
every fill and mark is parsed once; only a one-digit year is resolved again for each event time.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Context, Decimal, DivisionByZero, Inexact, InvalidOperation
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from propdesk.domain import expiry as _expiry

__all__ = [
    "EXCHANGES",
    "MONTH_CODES",
    "PRODUCT_GROUPS",
    "Contract",
    "Instrument",
    "InstrumentBook",
    "InstrumentDataError",
    "UnknownSymbolError",
]

MONTH_CODES = "FGHJKMNQUVXZ"
"""Futures month codes, January to December."""

_MONTH_NAMES = dict(
    zip(
        MONTH_CODES,
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"),
        strict=True,
    )
)

PRODUCT_GROUPS = frozenset({"equity", "energy", "metals", "fx", "rates", "grains", "livestock"})
"""The trading calendar's keys: each group has its own holiday hours and early closes."""

EXCHANGES = frozenset({"CME", "CBOT", "NYMEX", "COMEX"})
"""CME Group's four exchanges, the only venues the instrument book knows."""

# A contract key carries a two-digit year, so only this century can round-trip through it.
_FIRST_YEAR = 2000
_LAST_YEAR = 2099

_CACHE_LIMIT = 4096
"""Parsed symbols kept; a real session sees a few dozen, so hitting this means junk input."""

_PLAIN = re.compile(r"([0-9A-Z]+)([A-Z])([0-9]+)")
_PROJECTX = re.compile(r"CON\.F\.US\.([0-9A-Z]+)\.([A-Z])([0-9]+)")
_CODE = re.compile(r"[0-9A-Z]+")
_CURRENCY = re.compile(r"[A-Z]{3}")
_CHICAGO = "America/Chicago"
# No CME product lists further out than this (NG: the current year and the next 12); a larger
# `listed_months` is a typo.
_MAX_LISTED_MONTHS = 12 * 14

_EXPECTED_FORMS = (
    "expected <root><month code><year> with a 1-, 2- or 4-digit year (ESZ6, ESZ26, ESZ2026) "
    "or a ProjectX contract id (CON.F.US.EP.Z26)"
)

# Exact arithmetic for point values: a tick value that is not an exact multiple of the tick size
# is a data error, not something to round.
_EXACT = Context(prec=60, traps=[Inexact, InvalidOperation, DivisionByZero])


class UnknownSymbolError(ValueError):
    """A symbol that names no single contract in the instrument book; the message says why."""


class InstrumentDataError(ValueError):
    """instruments.toml is malformed; the message names the entry and the field."""


@dataclass(frozen=True, slots=True)
class Instrument:
    """One futures product (all its contract months), as listed by its exchange."""

    root: str
    name: str
    exchange: str
    product_group: str
    tick_size: Decimal
    tick_value: Decimal
    currency: str
    point_value: Decimal
    full_size_root: str | None
    micro_ratio: int
    months: str
    projectx_code: str | None  # None: no ProjectX contract id is known for this product
    expiry: str  # the CME termination rule, a key of expiry.RULES
    last_trade_time: time | None  # when trading ends on the last trade date, where CME says
    last_trade_tz: str  # the zone of last_trade_time
    listed_months: int  # CME lists contract months at most this many months ahead


@dataclass(frozen=True, slots=True)
class Contract:
    """One listed contract month of an instrument.

    Identity is `key` (root + month code + two-digit year): contracts with the same key are equal
    and hash alike, whichever broker form they were parsed from. `key` may be omitted when
    constructing; it is derived, and a key that disagrees with the other fields is refused.
    """

    instrument: Instrument = field(repr=False, compare=False)
    month_code: str
    year: int
    key: str = ""

    def __post_init__(self) -> None:
        inst = self.instrument
        if len(self.month_code) != 1 or self.month_code not in inst.months:
            raise ValueError(
                f"{inst.root} lists months {' '.join(inst.months)}, not {self.month_code!r}"
            )
        if isinstance(self.year, bool) or not isinstance(self.year, int):
            raise TypeError(f"year must be an int, got {self.year!r}")
        if not _FIRST_YEAR <= self.year <= _LAST_YEAR:
            raise ValueError(
                f"year {self.year} is outside {_FIRST_YEAR}-{_LAST_YEAR}, "
                "which a two-digit contract key cannot tell apart"
            )
        key = f"{inst.root}{self.month_code}{self.year % 100:02d}"
        if not self.key:
            object.__setattr__(self, "key", key)
        elif self.key != key:
            raise ValueError(f"contract key {self.key!r} does not match its fields ({key!r})")

    @property
    def projectx_id(self) -> str:
        """The ProjectX contract id, e.g. CON.F.US.EP.Z26 for ESZ26."""
        code = self.instrument.projectx_code
        if code is None:
            raise UnknownSymbolError(
                f"{self.key}: no ProjectX contract id is known for {self.instrument.root} "
                f"({self.instrument.name}); it cannot be traded or watched through ProjectX"
            )
        return f"CON.F.US.{code}.{self.month_code}{self.year % 100:02d}"

    @property
    def last_trade(self) -> date:
        """The last trade date, from the product's CME termination rule."""
        return _expiry.last_trade_date(self.instrument.expiry, self.year, self._month)

    @property
    def trading_ends(self) -> datetime:
        """The instant (UTC) trading ends: CME's stated time on the last trade date, or the end of
        that trade date (17:00 CT) when CME states no time."""
        inst = self.instrument
        return _expiry.trading_ends(
            inst.expiry, self.year, self._month, inst.last_trade_time, inst.last_trade_tz
        )

    def expired_at(self, ts: datetime) -> bool:
        """True once trading in this contract has ended (at `ts`, an aware datetime)."""
        return ts >= self.trading_ends

    def listed_at(self, ts: datetime) -> bool:
        """False while the contract month is further ahead than CME lists the product."""
        return _months_ahead(self.year, self._month, ts) <= self.instrument.listed_months

    @property
    def _month(self) -> int:
        return MONTH_CODES.index(self.month_code) + 1


class InstrumentBook:
    """The instruments propdesk knows, and the parser from broker symbols to contracts."""

    __slots__ = ("_by_projectx", "_by_root", "_cache", "_contracts")

    def __init__(self, instruments: Iterable[Instrument]) -> None:
        """Index `instruments`, checking what holds between entries (not each entry's own fields;
        `from_toml` checks those): unique roots and ProjectX codes, and micros that point at a
        full-size contract with `micro_ratio` times their point value."""
        by_root: dict[str, Instrument] = {}
        by_projectx: dict[str, Instrument] = {}
        for inst in instruments:
            if inst.root in by_root:
                raise InstrumentDataError(f"instrument {inst.root!r}: the root is listed twice")
            other = by_projectx.get(inst.projectx_code) if inst.projectx_code else None
            if other is not None:
                raise InstrumentDataError(
                    f"instrument {inst.root!r}, field 'projectx_code': {inst.projectx_code!r} "
                    f"is already the code of {other.root!r}"
                )
            by_root[inst.root] = inst
            if inst.projectx_code is not None:
                by_projectx[inst.projectx_code] = inst
        for inst in by_root.values():
            _check_micro(inst, by_root)
        self._by_root = by_root
        self._by_projectx = by_projectx
        self._cache: dict[tuple[str, str | None], Contract | _OneDigitYear] = {}
        self._contracts: dict[tuple[str, str, int], Contract] = {}

    @classmethod
    def from_toml(cls, text: str) -> InstrumentBook:
        """Parse and validate instruments.toml (its text; reading the file is the caller's job)."""
        try:
            document = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise InstrumentDataError(f"instruments.toml is not valid TOML: {exc}") from exc
        extra = sorted(set(document) - {"instruments"})
        if extra:
            raise InstrumentDataError(
                f"instruments.toml: unknown top-level key(s) {', '.join(extra)}; "
                "every instrument goes in an [instruments.<ROOT>] table"
            )
        entries = document.get("instruments")
        if not isinstance(entries, dict) or not entries:
            raise InstrumentDataError(
                "instruments.toml: no instruments; expected [instruments.<ROOT>] tables"
            )
        instruments = [_instrument_from_entry(root, entry) for root, entry in entries.items()]
        book = cls(instruments)
        for inst in instruments:
            if inst.full_size_root is not None:
                _check_micro_tick(inst, book._by_root[inst.full_size_root], entries[inst.root])
        return book

    def instrument(self, root: str) -> Instrument:
        """The instrument with this root (case-insensitive); UnknownSymbolError if there is none."""
        inst = self._by_root.get(root.strip().upper()) if isinstance(root, str) else None
        if inst is None:
            raise UnknownSymbolError(
                f"unknown root {root!r}: expected one of {', '.join(self._by_root)}"
            )
        return inst

    def parse(
        self, symbol: str, *, exchange: str | None = None, at: datetime | None = None
    ) -> Contract:
        """The contract a broker's symbol names; UnknownSymbolError if it names none.

        `exchange`, if given, is the exchange the broker reported, and must be the instrument's.
        `at` (an aware datetime) is the time of the event the symbol came with: a one-digit year
        is resolved against it (see the module docstring). It defaults to the wall clock, so
        callers that own a Clock, or replay old data, must pass it.
        """
        if not isinstance(symbol, str):
            raise UnknownSymbolError(f"symbol {symbol!r} is not a string; {_EXPECTED_FORMS}")
        cache_key = (symbol, exchange)
        reading = self._cache.get(cache_key)
        if reading is None:
            reading = self._read(symbol, exchange)
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            self._cache[cache_key] = reading
        if isinstance(reading, Contract):
            return reading
        if at is None:
            at = datetime.now(UTC)
        elif not isinstance(at, datetime) or at.utcoffset() is None:
            raise TypeError(f"at must be a timezone-aware datetime, got {at!r}")
        return self._one_digit_year(reading, at)

    def __iter__(self) -> Iterator[Instrument]:
        return iter(self._by_root.values())

    def __len__(self) -> int:
        return len(self._by_root)

    def __repr__(self) -> str:
        return f"InstrumentBook({', '.join(self._by_root)})"

    def _read(self, symbol: str, exchange: str | None) -> Contract | _OneDigitYear:
        """What the symbol says, before any year is resolved against a time."""
        text = symbol.strip().upper()
        if not text:
            raise UnknownSymbolError(f"empty symbol {symbol!r}: {_EXPECTED_FORMS}")
        if text.startswith("CON."):
            match = _PROJECTX.fullmatch(text)
            if match is None:
                raise UnknownSymbolError(
                    f"symbol {symbol!r} is not a well-formed ProjectX contract id: expected "
                    "CON.F.US.<product code>.<month code><year>, e.g. CON.F.US.EP.Z26"
                )
            code, month, digits = match.groups()
            inst = self._by_projectx.get(code)
            if inst is None:
                raise UnknownSymbolError(
                    f"symbol {symbol!r}: ProjectX product code {code!r} is not in the instrument "
                    f"book; expected one of {', '.join(self._by_projectx)}"
                )
        else:
            match = _PLAIN.fullmatch(text)
            if match is None:
                raise UnknownSymbolError(f"cannot read symbol {symbol!r}: {_EXPECTED_FORMS}")
            root, month, digits = match.groups()
            inst = self._by_root.get(root)
            if inst is None:
                raise UnknownSymbolError(
                    f"symbol {symbol!r}: root {root!r} is not in the instrument book; "
                    f"expected one of {', '.join(self._by_root)}"
                )

        if month not in _MONTH_NAMES:
            raise UnknownSymbolError(
                f"symbol {symbol!r}: {month!r} is not a futures month code; "
                f"expected one of {' '.join(MONTH_CODES)}"
            )
        if month not in inst.months:
            raise UnknownSymbolError(
                f"symbol {symbol!r}: {inst.root} ({inst.name}) lists months "
                f"{' '.join(inst.months)} only, not {month} ({_MONTH_NAMES[month]})"
            )
        if exchange is not None:
            _check_exchange(symbol, exchange, inst)
        if len(digits) == 1:
            return _OneDigitYear(inst, month, int(digits))
        return Contract(inst, month, _written_year(symbol, digits))

    def _one_digit_year(self, reading: _OneDigitYear, at: datetime) -> Contract:
        """The contract a one-digit symbol names at `at`: the nearest one that has not stopped
        trading, if CME lists it; else the latest expired one (which the account flags)."""
        digit = reading.digit
        this_year = at.astimezone(UTC).year
        # Every contract of a year before this_year - 1 has expired, and every one of a year after
        # this_year + 1 trades past `at`: only a candidate in between needs its expiry computed.
        first = this_year - 1
        live = first + (digit - first) % 10
        if live < _FIRST_YEAR or (
            live <= min(this_year + 1, _LAST_YEAR) and self._contract(reading, live).expired_at(at)
        ):
            live += 10
        expired = live - 10
        if live <= _LAST_YEAR and self._contract(reading, live).listed_at(at):
            return self._contract(reading, live)
        if expired >= _FIRST_YEAR:
            return self._contract(reading, expired)
        if live <= _LAST_YEAR:
            return self._contract(reading, live)  # the only reading; flagged as not listed
        raise UnknownSymbolError(
            f"{reading.instrument.root}{reading.month}{digit}: no year ending in {digit} within "
            f"{_FIRST_YEAR}-{_LAST_YEAR} names a contract around {at:%Y-%m-%d}"
        )

    def _contract(self, reading: _OneDigitYear, year: int) -> Contract:
        key = (reading.instrument.root, reading.month, year)
        contract = self._contracts.get(key)
        if contract is None:
            if len(self._contracts) >= _CACHE_LIMIT:
                self._contracts.clear()
            contract = self._contracts[key] = Contract(reading.instrument, reading.month, year)
        return contract


@dataclass(frozen=True, slots=True)
class _OneDigitYear:
    """A symbol whose year is one digit: which year it names depends on when it is read."""

    instrument: Instrument
    month: str
    digit: int


def _months_ahead(year: int, month: int, ts: datetime) -> int:
    """Calendar months from ts's month (in Chicago, where CME lists) to year/month."""
    if ts.utcoffset() is None:
        raise ValueError(f"naive datetime {ts.isoformat()}: expiry checks need aware times")
    local = ts.astimezone(_expiry.CHICAGO)
    return (year * 12 + month) - (local.year * 12 + local.month)


def _written_year(symbol: str, digits: str) -> int:
    if len(digits) == 2:
        year = 2000 + int(digits)
    elif len(digits) == 4:
        year = int(digits)
    else:
        raise UnknownSymbolError(
            f"symbol {symbol!r}: year {digits!r} has {len(digits)} digits; expected 1, 2 or 4"
        )
    if not _FIRST_YEAR <= year <= _LAST_YEAR:
        raise UnknownSymbolError(
            f"symbol {symbol!r}: year {year} is outside {_FIRST_YEAR}-{_LAST_YEAR}, "
            "which a two-digit contract key cannot represent"
        )
    return year


def _check_exchange(symbol: str, exchange: object, inst: Instrument) -> None:
    if not isinstance(exchange, str) or exchange.strip().upper() != inst.exchange:
        raise UnknownSymbolError(
            f"symbol {symbol!r} was reported on exchange {exchange!r}, but {inst.root} "
            f"({inst.name}) is listed on {inst.exchange}; a symbol from another exchange is "
            "refused rather than guessed"
        )


def _check_micro(inst: Instrument, by_root: Mapping[str, Instrument]) -> None:
    where = f"instrument {inst.root!r}"
    if inst.full_size_root is None:
        if inst.micro_ratio != 1:
            raise InstrumentDataError(
                f"{where}, field 'ratio': a full-size contract has ratio 1, got {inst.micro_ratio}"
            )
        return
    full = by_root.get(inst.full_size_root)
    if full is None:
        raise InstrumentDataError(
            f"{where}, field 'full_size': {inst.full_size_root!r} is not in the instrument book"
        )
    if full.full_size_root is not None:
        raise InstrumentDataError(
            f"{where}, field 'full_size': {full.root!r} is itself a fraction of "
            f"{full.full_size_root!r}; point at the full-size contract"
        )
    for name in ("product_group", "currency"):
        if getattr(inst, name) != getattr(full, name):
            raise InstrumentDataError(
                f"{where}, field {name!r}: {getattr(inst, name)!r} differs from its full size "
                f"{full.root}'s {getattr(full, name)!r}"
            )
    if inst.point_value * inst.micro_ratio != full.point_value:
        raise InstrumentDataError(
            f"{where}, field 'ratio': {inst.micro_ratio} x point value {inst.point_value} = "
            f"{inst.point_value * inst.micro_ratio}, but {full.root}'s point value is "
            f"{full.point_value}; check tick_value and ratio"
        )


def _check_micro_tick(inst: Instrument, full: Instrument, entry: Mapping[str, object]) -> None:
    # A micro that ticks differently from its full size is legitimate (exchanges do list such
    # products), but it is also what a typo looks like, so it has to say why.
    if inst.tick_size != full.tick_size and "tick_size_differs" not in entry:
        raise InstrumentDataError(
            f"instrument {inst.root!r}, field 'tick_size': {inst.tick_size} differs from "
            f"{full.root}'s {full.tick_size}; if that is right, say why in 'tick_size_differs'"
        )


_REQUIRED = (
    "name",
    "exchange",
    "product_group",
    "tick_size",
    "tick_value",
    "currency",
    "months",
    "expiry",
    "listed_months",
)
_OPTIONAL = (
    "projectx_code",
    "projectx_code_unknown",
    "last_trade_time",
    "last_trade_tz",
    "full_size",
    "ratio",
    "tick_size_differs",
)


def _instrument_from_entry(root: str, entry: object) -> Instrument:
    where = f"instrument {root!r}"
    if not _CODE.fullmatch(root):
        raise InstrumentDataError(f"{where}: a root is upper-case letters and digits, e.g. ES, 6E")
    if not isinstance(entry, dict):
        raise InstrumentDataError(f"{where}: expected a table, got {type(entry).__name__}")
    missing = [name for name in _REQUIRED if name not in entry]
    if missing:
        raise InstrumentDataError(f"{where}, field {missing[0]!r}: missing")
    unknown = sorted(set(entry) - set(_REQUIRED) - set(_OPTIONAL))
    if unknown:
        raise InstrumentDataError(
            f"{where}, field {unknown[0]!r}: unknown field; expected "
            f"{', '.join(_REQUIRED + _OPTIONAL)}"
        )

    def text(name: str) -> str:
        value = entry[name]
        if not isinstance(value, str) or not value.strip():
            raise InstrumentDataError(
                f"{where}, field {name!r}: expected a non-empty string, got {value!r}"
            )
        return value

    def choice(name: str, allowed: frozenset[str]) -> str:
        value = text(name)
        if value not in allowed:
            raise InstrumentDataError(
                f"{where}, field {name!r}: {value!r} is not one of {', '.join(sorted(allowed))}"
            )
        return value

    def positive_decimal(name: str) -> Decimal:
        value = entry[name]
        if not isinstance(value, str):
            # TOML floats are binary: 0.1 would already be inexact before propdesk saw it.
            raise InstrumentDataError(
                f'{where}, field {name!r}: expected a decimal in a string (e.g. "0.25"), '
                f"got {type(value).__name__} {value!r}"
            )
        try:
            number = Decimal(value)
        except InvalidOperation:
            raise InstrumentDataError(
                f"{where}, field {name!r}: {value!r} is not a decimal number"
            ) from None
        if not number.is_finite() or number <= 0:
            raise InstrumentDataError(f"{where}, field {name!r}: must be > 0, got {value!r}")
        return number

    name = text("name")
    exchange = choice("exchange", EXCHANGES)
    product_group = choice("product_group", PRODUCT_GROUPS)
    tick_size = positive_decimal("tick_size")
    tick_value = positive_decimal("tick_value")

    currency = text("currency")
    if not _CURRENCY.fullmatch(currency):
        raise InstrumentDataError(
            f"{where}, field 'currency': expected an ISO 4217 code such as USD, got {currency!r}"
        )

    months = text("months")
    if (
        any(code not in _MONTH_NAMES for code in months)
        or len(set(months)) != len(months)
        or months != "".join(code for code in MONTH_CODES if code in months)
    ):
        raise InstrumentDataError(
            f"{where}, field 'months': {months!r} must be distinct month codes from "
            f'{MONTH_CODES} in calendar order, e.g. "HMUZ"'
        )

    projectx_code = _projectx_code(where, entry, text)
    expiry = choice("expiry", frozenset(_expiry.RULES))
    last_trade_time, last_trade_tz = _last_trade_time(where, entry, text)
    listed_months = entry["listed_months"]
    if (
        isinstance(listed_months, bool)
        or not isinstance(listed_months, int)
        or not 1 <= listed_months <= _MAX_LISTED_MONTHS
    ):
        raise InstrumentDataError(
            f"{where}, field 'listed_months': expected a whole number of months from 1 to "
            f"{_MAX_LISTED_MONTHS} (how far ahead CME lists), got {listed_months!r}"
        )

    full_size_root: str | None = None
    micro_ratio = 1
    if ("full_size" in entry) != ("ratio" in entry):
        given, needed = ("full_size", "ratio") if "full_size" in entry else ("ratio", "full_size")
        raise InstrumentDataError(f"{where}, field {needed!r}: missing ({given!r} needs it)")
    if "full_size" in entry:
        full_size_root = text("full_size")
        if full_size_root == root:
            raise InstrumentDataError(f"{where}, field 'full_size': names the entry itself")
        ratio = entry["ratio"]
        if isinstance(ratio, bool) or not isinstance(ratio, int) or ratio < 2:
            raise InstrumentDataError(
                f"{where}, field 'ratio': expected an integer >= 2 (how many make one "
                f"{full_size_root}), got {ratio!r}"
            )
        micro_ratio = ratio
    if "tick_size_differs" in entry:
        if full_size_root is None:
            raise InstrumentDataError(
                f"{where}, field 'tick_size_differs': only a micro (with 'full_size') takes it"
            )
        text("tick_size_differs")

    try:
        point_value = _EXACT.divide(tick_value, tick_size)
    except Inexact:
        raise InstrumentDataError(
            f"{where}, field 'tick_value': {tick_value} / tick_size {tick_size} is not an exact "
            "decimal point value"
        ) from None
    # 15.625 / 0.015625 comes out as 1E+3; show point values the way people write them.
    if point_value == point_value.to_integral_value():
        point_value = _EXACT.quantize(point_value, Decimal(1))
    else:
        point_value = point_value.normalize(_EXACT)

    return Instrument(
        root=root,
        name=name,
        exchange=exchange,
        product_group=product_group,
        tick_size=tick_size,
        tick_value=tick_value,
        currency=currency,
        point_value=point_value,
        full_size_root=full_size_root,
        micro_ratio=micro_ratio,
        months=months,
        projectx_code=projectx_code,
        expiry=expiry,
        last_trade_time=last_trade_time,
        last_trade_tz=last_trade_tz,
        listed_months=listed_months,
    )


def _projectx_code(
    where: str, entry: Mapping[str, object], text: Callable[[str], str]
) -> str | None:
    # An instrument without a ProjectX code must say why, so a forgotten code is not silent.
    if ("projectx_code" in entry) == ("projectx_code_unknown" in entry):
        raise InstrumentDataError(
            f"{where}, field 'projectx_code': give the code, or say in 'projectx_code_unknown' "
            "why none is known (exactly one of the two)"
        )
    if "projectx_code_unknown" in entry:
        text("projectx_code_unknown")
        return None
    code = text("projectx_code")
    if not _CODE.fullmatch(code):
        raise InstrumentDataError(
            f"{where}, field 'projectx_code': expected upper-case letters and digits, got {code!r}"
        )
    return code


def _last_trade_time(
    where: str, entry: Mapping[str, object], text: Callable[[str], str]
) -> tuple[time | None, str]:
    if "last_trade_tz" in entry and "last_trade_time" not in entry:
        raise InstrumentDataError(
            f"{where}, field 'last_trade_time': missing ('last_trade_tz' needs it)"
        )
    if "last_trade_time" not in entry:
        return None, _CHICAGO
    raw = text("last_trade_time")
    try:
        at = time.fromisoformat(raw)
    except ValueError:
        raise InstrumentDataError(
            f"{where}, field 'last_trade_time': expected \"HH:MM\", got {raw!r}"
        ) from None
    if at.tzinfo is not None:
        raise InstrumentDataError(
            f"{where}, field 'last_trade_time': write the zone in 'last_trade_tz', not an offset"
        )
    tz = text("last_trade_tz") if "last_trade_tz" in entry else _CHICAGO
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise InstrumentDataError(
            f"{where}, field 'last_trade_tz': unknown time zone {tz!r}"
        ) from None
    return at, tz

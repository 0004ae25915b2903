"""Instrument data (resources/instruments.toml) and broker-symbol parsing."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from propdesk.domain import expiry
from propdesk.domain import instruments as instruments_module
from propdesk.domain.instruments import (
    MONTH_CODES,
    Contract,
    Instrument,
    InstrumentBook,
    InstrumentDataError,
    UnknownSymbolError,
)
from propdesk.resources import read_text

BOOK = InstrumentBook.from_toml(read_text("instruments.toml"))
ALL_MONTHS = "FGHJKMNQUVXZ"
CT = ZoneInfo("America/Chicago")
# A time in 2026 at which every one-digit symbol below reads as its 2026 or 2027 contract.
AT = datetime(2026, 11, 17, 9, 0, tzinfo=CT)


def ct(y: int, mo: int, d: int, h: int = 9, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=CT)


@pytest.fixture
def book() -> InstrumentBook:
    # A fresh book per test, so one test's cache never answers another's question.
    return InstrumentBook.from_toml(read_text("instruments.toml"))


# --- the shipped data ---------------------------------------------------------------------------

# root: exchange, product group, tick size, tick value, point value, ProjectX code (None: unknown)
SPECS = {
    "ES": ("CME", "equity", "0.25", "12.50", "50", "EP"),
    "MES": ("CME", "equity", "0.25", "1.25", "5", "MES"),
    "NQ": ("CME", "equity", "0.25", "5", "20", "ENQ"),
    "MNQ": ("CME", "equity", "0.25", "0.50", "2", "MNQ"),
    "RTY": ("CME", "equity", "0.10", "5", "50", "RTY"),
    "M2K": ("CME", "equity", "0.10", "0.50", "5", "M2K"),
    "YM": ("CBOT", "equity", "1", "5", "5", "YM"),
    "MYM": ("CBOT", "equity", "1", "0.50", "0.5", "MYM"),
    "CL": ("NYMEX", "energy", "0.01", "10", "1000", "CLE"),
    "MCL": ("NYMEX", "energy", "0.01", "1", "100", "MCLE"),
    "GC": ("COMEX", "metals", "0.10", "10", "100", "GCE"),
    "MGC": ("COMEX", "metals", "0.10", "1", "10", "MGC"),
    "SI": ("COMEX", "metals", "0.005", "25", "5000", "SIE"),
    "6E": ("CME", "fx", "0.00005", "6.25", "125000", "EU6"),
    "6J": ("CME", "fx", "0.0000005", "6.25", "12500000", "JY6"),
    "ZN": ("CBOT", "rates", "0.015625", "15.625", "1000", "TYA"),
    "ZB": ("CBOT", "rates", "0.03125", "31.25", "1000", "USA"),
    "ZF": ("CBOT", "rates", "0.0078125", "7.8125", "1000", "FVA"),
    "ZT": ("CBOT", "rates", "0.00390625", "7.8125", "2000", "TUA"),
    "UB": ("CBOT", "rates", "0.03125", "31.25", "1000", "ULA"),
    "NG": ("NYMEX", "energy", "0.001", "10", "10000", "NGE"),
    "RB": ("NYMEX", "energy", "0.0001", "4.20", "42000", "RBE"),
    "HO": ("NYMEX", "energy", "0.0001", "4.20", "42000", "HOE"),
    "HG": ("COMEX", "metals", "0.0005", "12.50", "25000", "CPE"),
    "MHG": ("COMEX", "metals", "0.0005", "1.25", "2500", "MHG"),
    "SIL": ("COMEX", "metals", "0.005", "5", "1000", "SIL"),
    "M6E": ("CME", "fx", "0.0001", "1.25", "12500", "M6E"),
    "6B": ("CME", "fx", "0.0001", "6.25", "62500", "BP6"),
    "6A": ("CME", "fx", "0.00005", "5", "100000", "DA6"),
    "6C": ("CME", "fx", "0.00005", "5", "100000", "CA6"),
    "ZC": ("CBOT", "grains", "0.25", "12.50", "50", "ZCE"),
    "ZS": ("CBOT", "grains", "0.25", "12.50", "50", "ZSE"),
    "ZW": ("CBOT", "grains", "0.25", "12.50", "50", "ZWA"),
    "LE": ("CME", "livestock", "0.025", "10", "400", "GLE"),
    "HE": ("CME", "livestock", "0.025", "10", "400", "HE"),
    "GF": ("CME", "livestock", "0.025", "12.50", "500", "GF"),
    "BTC": ("CME", "equity", "5", "25", "5", None),
    "MBT": ("CME", "equity", "5", "0.50", "0.1", "MBT"),
}

# micro: (full size, how many make one)
MICROS = {
    "MES": ("ES", 10),
    "MNQ": ("NQ", 10),
    "M2K": ("RTY", 10),
    "MYM": ("YM", 10),
    "MCL": ("CL", 10),
    "MGC": ("GC", 10),
    "MHG": ("HG", 10),
    "SIL": ("SI", 5),
    "M6E": ("6E", 10),
    "MBT": ("BTC", 50),
}


def test_the_book_holds_exactly_the_supported_roots() -> None:
    assert sorted(inst.root for inst in BOOK) == sorted(SPECS)
    assert len(BOOK) == 38


@pytest.mark.parametrize("root", list(SPECS))
def test_contract_specs_are_exact_decimals(root: str) -> None:
    exchange, group, tick_size, tick_value, point_value, projectx_code = SPECS[root]
    inst = BOOK.instrument(root)
    assert inst.exchange == exchange
    assert inst.product_group == group
    assert inst.currency == "USD"
    assert inst.projectx_code == projectx_code
    for value in (inst.tick_size, inst.tick_value, inst.point_value):
        assert type(value) is Decimal
    assert inst.tick_size == Decimal(tick_size)
    assert inst.tick_value == Decimal(tick_value)
    assert inst.point_value == Decimal(point_value)
    assert inst.point_value * inst.tick_size == inst.tick_value


@pytest.mark.parametrize(
    ("root", "point_value"),
    [("ZN", 1000), ("ZF", 1000), ("ZB", 1000), ("6J", 12_500_000), ("ES", 50), ("MES", 5)],
)
def test_point_values_are_exact_integers_where_they_should_be(root: str, point_value: int) -> None:
    value = BOOK.instrument(root).point_value
    assert value == point_value
    # Exponent 0: shown as "1000", not "1E+3".
    assert str(value) == str(point_value)


@pytest.mark.parametrize(("micro", "full", "ratio"), [(m, f, r) for m, (f, r) in MICROS.items()])
def test_micros_are_their_stated_fraction_of_their_full_size(
    micro: str, full: str, ratio: int
) -> None:
    small, big = BOOK.instrument(micro), BOOK.instrument(full)
    assert small.full_size_root == full
    assert small.micro_ratio == ratio
    assert small.point_value * small.micro_ratio == big.point_value
    # Only the E-micro EUR/USD ticks coarser than its full size, and the file says why.
    assert (small.tick_size == big.tick_size) == (micro != "M6E")
    assert small.product_group == big.product_group
    assert big.full_size_root is None
    assert big.micro_ratio == 1


def test_full_size_contracts_have_no_full_size() -> None:
    for inst in BOOK:
        if inst.root not in MICROS:
            assert inst.full_size_root is None
            assert inst.micro_ratio == 1


@pytest.mark.parametrize(
    ("root", "months"),
    [
        ("ES", "HMUZ"),
        ("MNQ", "HMUZ"),
        ("YM", "HMUZ"),
        ("ZN", "HMUZ"),
        ("ZB", "HMUZ"),
        ("ZF", "HMUZ"),
        ("CL", ALL_MONTHS),
        ("MCL", ALL_MONTHS),
        ("GC", ALL_MONTHS),
        ("SI", ALL_MONTHS),
        ("MGC", "GJMQVZ"),
        ("6E", ALL_MONTHS),
        ("6J", ALL_MONTHS),
        ("6B", ALL_MONTHS),
        ("M6E", "HMUZ"),
        ("ZT", "HMUZ"),
        ("UB", "HMUZ"),
        ("NG", ALL_MONTHS),
        ("HG", ALL_MONTHS),
        ("ZC", "HKNUZ"),
        ("ZS", "FHKNQUX"),
        ("ZW", "HKNUZ"),
        ("LE", "GJMQVZ"),
        ("HE", "GJKMNQVZ"),
        ("GF", "FHJKQUVX"),
        ("MBT", ALL_MONTHS),
    ],
)
def test_listed_months(root: str, months: str) -> None:
    assert BOOK.instrument(root).months == months


def test_the_data_file_says_where_its_numbers_come_from() -> None:
    header = read_text("instruments.toml").split("[instruments.", 1)[0]
    assert "CME Group contract specifications" in header
    assert "checked 20" in header


def test_instrument_lookup_is_case_insensitive_and_refuses_unknown_roots() -> None:
    assert BOOK.instrument(" es ") is BOOK.instrument("ES")
    with pytest.raises(UnknownSymbolError, match=r"unknown root 'PL'.*expected one of ES, MES"):
        BOOK.instrument("PL")


# --- symbol forms -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("symbol", "key"),
    [
        ("ESZ6", "ESZ26"),
        ("ESH7", "ESH27"),
        ("ESZ26", "ESZ26"),
        ("ESZ31", "ESZ31"),  # two- and four-digit years are taken as written
        ("ESZ2026", "ESZ26"),
        ("ESZ2031", "ESZ31"),
        ("esz26", "ESZ26"),
        ("  eSz6\t\n", "ESZ26"),
        ("6EH7", "6EH27"),
        ("6JM26", "6JM26"),
        ("6EF27", "6EF27"),  # serial FX month
        ("M2KU6", "M2KU26"),  # M2KU26 ended in September: see the one-digit table below
        ("ZNH2027", "ZNH27"),
        ("CON.F.US.EP.Z25", "ESZ25"),
        ("CON.F.US.ENQ.H26", "NQH26"),
        ("CON.F.US.MES.M26", "MESM26"),
        ("CON.F.US.MNQ.U26", "MNQU26"),
        ("CON.F.US.CLE.N26", "CLN26"),
        ("CON.F.US.MCLE.N26", "MCLN26"),
        ("CON.F.US.GCE.Q26", "GCQ26"),
        ("CON.F.US.MGC.J26", "MGCJ26"),
        ("CON.F.US.SIE.K26", "SIK26"),
        ("CON.F.US.EU6.M26", "6EM26"),
        ("CON.F.US.JY6.U26", "6JU26"),
        ("CON.F.US.TYA.M26", "ZNM26"),
        ("CON.F.US.USA.Z26", "ZBZ26"),
        ("CON.F.US.FVA.H27", "ZFH27"),
        ("CON.F.US.RTY.Z26", "RTYZ26"),
        ("CON.F.US.M2K.Z26", "M2KZ26"),
        ("CON.F.US.YM.Z26", "YMZ26"),
        ("CON.F.US.MYM.Z26", "MYMZ26"),
        ("CON.F.US.NGE.F27", "NGF27"),
        ("CON.F.US.CPE.H27", "HGH27"),
        ("CON.F.US.MHG.H27", "MHGH27"),
        ("CON.F.US.SIL.H27", "SILH27"),
        ("CON.F.US.RBE.F27", "RBF27"),
        ("CON.F.US.HOE.F27", "HOF27"),
        ("CON.F.US.M6E.H27", "M6EH27"),
        ("CON.F.US.BP6.H27", "6BH27"),
        ("CON.F.US.DA6.H27", "6AH27"),
        ("CON.F.US.CA6.H27", "6CH27"),
        ("CON.F.US.TUA.H27", "ZTH27"),
        ("CON.F.US.ULA.H27", "UBH27"),
        ("CON.F.US.ZCE.H27", "ZCH27"),
        ("CON.F.US.ZSE.F27", "ZSF27"),
        ("CON.F.US.ZWA.H27", "ZWH27"),
        ("CON.F.US.GLE.G27", "LEG27"),
        ("CON.F.US.HE.G27", "HEG27"),
        ("CON.F.US.GF.F27", "GFF27"),
        ("CON.F.US.MBT.F27", "MBTF27"),
        (" con.f.us.ep.z25 ", "ESZ25"),
    ],
)
def test_symbol_forms(book: InstrumentBook, symbol: str, key: str) -> None:
    contract = book.parse(symbol, at=AT)
    assert contract.key == key
    assert contract.instrument is book.instrument(key[:-3])
    assert contract.month_code == key[-3]
    assert contract.year == 2000 + int(key[-2:])


# --- one-digit years: the nearest listed contract that has not stopped trading at the event ---

# (symbol, the event's time, the contract it names, why)
ONE_DIGIT = [
    ("ESZ6", ct(2026, 12, 10), "ESZ26", "live until 18 Dec 2026 08:30 CT"),
    ("ESZ6", ct(2026, 12, 18, 8, 29), "ESZ26", "a minute before trading ends"),
    ("ESZ6", ct(2026, 12, 18, 8, 30), "ESZ26", "ended; ESZ36 is not listed: the expired one"),
    ("ESZ6", ct(2026, 12, 24), "ESZ26", "expired, flagged by the account (ESZ36 unlisted)"),
    ("ESH7", ct(2026, 12, 24), "ESH27", "the next listed month"),
    ("ESZ7", ct(2026, 12, 24), "ESZ27", "a year out, well inside 21 quarters"),
    ("ESZ5", ct(2026, 3, 2), "ESZ25", "ESZ35 is beyond the listing: the expired ESZ25"),
    ("ESZ0", ct(2031, 7, 1), "ESZ30", "both readings expired or unlisted: the latest expired"),
    ("ESH1", ct(2029, 1, 5), "ESH31", "ESH31 is 26 months ahead: listed"),
    ("CLZ6", ct(2026, 11, 20, 12), "CLZ26", "CLZ26's last day is 20 Nov 2026"),
    ("CLZ6", ct(2026, 11, 23), "CLZ36", "CL lists 10+ years out: the live December 2036"),
    ("CLF7", ct(2026, 12, 21, 16), "CLF27", "CLF27 trades to the end of 21 Dec 2026"),
    ("CLF7", ct(2026, 12, 21, 17), "CLF37", "the trade date of 22 Dec: CLF27 has ended"),
    ("MCLF7", ct(2026, 12, 21, 9), "MCLF27", "ended 18 Dec; MCL lists 12 months: the expired one"),
    ("NGF7", ct(2026, 12, 30), "NGF37", "NGF27 ended 29 Dec; NG lists 12 years out"),
    ("6EZ6", ct(2026, 12, 14, 9, 15), "6EZ26", "a minute before 09:16 CT on 14 Dec"),
    ("6EZ6", ct(2026, 12, 14, 9, 16), "6EZ26", "ended; 6EZ36 is not listed"),
    ("ZNH7", ct(2027, 3, 19, 12, 0), "ZNH27", "before 12:01 CT on its last day"),
    ("GCG7", ct(2027, 1, 4), "GCG27", "an ordinary front month"),
    ("MBTZ6", ct(2026, 12, 24, 9, 59), "MBTZ26", "trading ends 16:00 London = 10:00 CT"),
]


@pytest.mark.parametrize(("symbol", "at", "key", "why"), ONE_DIGIT)
def test_one_digit_years_resolve_against_the_time_of_the_event(
    book: InstrumentBook, symbol: str, at: datetime, key: str, why: str
) -> None:
    assert book.parse(symbol, at=at).key == key, why


def test_a_one_digit_year_is_resolved_again_for_each_time(book: InstrumentBook) -> None:
    before = book.parse("CLZ6", at=ct(2026, 11, 20, 12))
    after = book.parse("CLZ6", at=ct(2026, 11, 23))
    assert (before.key, after.key) == ("CLZ26", "CLZ36")
    assert book.parse("CLZ6", at=ct(2026, 11, 20, 13)) is before


def test_an_expired_reading_is_returned_so_the_account_can_flag_it(book: InstrumentBook) -> None:
    at = ct(2026, 12, 24)
    contract = book.parse("ESZ6", at=at)
    assert contract.expired_at(at)
    assert contract.listed_at(at)
    live = book.parse("ESH7", at=at)
    assert not live.expired_at(at)


def test_the_one_digit_reference_must_be_an_aware_datetime(book: InstrumentBook) -> None:
    with pytest.raises(TypeError, match="timezone-aware datetime"):
        book.parse("ESZ6", at=datetime(2026, 12, 1))  # naive: refused
    with pytest.raises(TypeError, match="timezone-aware datetime"):
        book.parse("ESZ6", at=2026)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("micro", "full"),
    [("MESZ6", "ESZ6"), ("MNQH7", "NQH7"), ("MCLF7", "CLF7"), ("MGCG7", "GCG7"), ("MYMZ6", "YMZ6")],
)
def test_a_micro_root_is_never_read_as_its_full_size(
    book: InstrumentBook, micro: str, full: str
) -> None:
    small = book.parse(micro, at=AT)
    big = book.parse(full, at=AT)
    assert small.instrument.root == micro[:-2]
    assert big.instrument.root == full[:-2]
    assert small.instrument.full_size_root == big.instrument.root


def test_m2k_is_read_whole_not_as_a_root_ending_in_a_digit(book: InstrumentBook) -> None:
    contract = book.parse("M2KZ26")
    assert contract.instrument.root == "M2K"
    assert contract.instrument.full_size_root == "RTY"


@pytest.mark.parametrize(
    ("symbol", "exchange"),
    [
        ("ESZ6", "CME"),
        ("ESZ6", "cme"),
        ("6EH7", "CME"),
        ("YMZ6", "CBOT"),
        ("ZNH7", " CBOT "),
        ("CLZ6", "NYMEX"),
        ("MCLZ6", "NYMEX"),
        ("GCG7", "COMEX"),
        ("SIH7", "COMEX"),
        ("ZCH7", "CBOT"),
        ("LEG7", "CME"),
        ("CON.F.US.EP.Z26", "CME"),
    ],
)
def test_the_exchange_a_broker_reports_is_checked(
    book: InstrumentBook, symbol: str, exchange: str
) -> None:
    assert book.parse(symbol, exchange=exchange, at=AT) == book.parse(symbol, at=AT)


@pytest.mark.parametrize(
    ("symbol", "exchange", "listed_on"),
    [
        ("CLZ6", "CME", "NYMEX"),
        ("GCG7", "NYMEX", "COMEX"),
        ("ZNH7", "CME", "CBOT"),
        ("ESZ6", "CBOT", "CME"),
        ("ESZ6", "EUREX", "CME"),
        ("ESZ6", "", "CME"),
    ],
)
def test_a_symbol_reported_on_another_exchange_is_refused(
    book: InstrumentBook, symbol: str, exchange: str, listed_on: str
) -> None:
    with pytest.raises(UnknownSymbolError) as caught:
        book.parse(symbol, exchange=exchange, at=AT)
    message = str(caught.value)
    assert repr(symbol) in message
    assert f"exchange {exchange!r}" in message
    assert f"listed on {listed_on}" in message


def test_without_a_time_a_one_digit_year_is_read_as_of_now(book: InstrumentBook) -> None:
    # Derived from the clock rather than pinned, so it holds in any year.
    now = datetime.now(UTC)
    for symbol in ("ESZ6", "CLF7", "GCG0", "6EH9"):
        assert book.parse(symbol) == book.parse(symbol, at=now)


def test_every_form_of_one_contract_is_the_same_contract(book: InstrumentBook) -> None:
    forms = ["ESZ6", "ESZ26", "ESZ2026", "esz26", "CON.F.US.EP.Z26"]
    contracts = {book.parse(form, at=AT) for form in forms}
    assert len(contracts) == 1
    (contract,) = contracts
    assert contract.key == "ESZ26"
    assert contract.projectx_id == "CON.F.US.EP.Z26"


def test_parse_returns_the_cached_contract(book: InstrumentBook) -> None:
    first = book.parse("NQH27", exchange="CME", at=AT)
    assert book.parse("NQH27", exchange="CME", at=AT) is first
    assert book.parse("NQH7", exchange="CME", at=AT) is book.parse("NQH7", exchange="CME", at=AT)


def test_the_cache_stays_bounded(book: InstrumentBook) -> None:
    for n in range(instruments_module._CACHE_LIMIT + 10):
        assert book.parse(" " * n + "ESZ26").key == "ESZ26"
    assert 0 < len(book._cache) <= instruments_module._CACHE_LIMIT
    assert book.parse("CLZ6", at=AT).key == "CLZ26"


# --- expiry -------------------------------------------------------------------------------------

# (contract, last trade date, when trading ends in CT, how the date follows from CME's rule)
EXPIRIES = [
    ("ESZ26", date(2026, 12, 18), time(8, 30), "3rd Friday of Dec 2026 (4, 11, 18)"),
    ("ESH27", date(2027, 3, 19), time(8, 30), "3rd Friday of Mar 2027 (5, 12, 19)"),
    ("ESM26", date(2026, 6, 18), time(8, 30), "3rd Friday 19 Jun is Juneteenth: the day before"),
    ("MNQZ26", date(2026, 12, 18), time(8, 30), "the same rule as ES"),
    ("YMH27", date(2027, 3, 19), time(8, 30), "the same rule as ES"),
    ("CLZ26", date(2026, 11, 20), time(17), "25 Nov is a Wednesday: 3 business days before"),
    ("CLF27", date(2026, 12, 21), time(17), "25 Dec is a holiday: 4 business days before (24-21)"),
    ("MCLF27", date(2026, 12, 18), time(17), "the business day before CLF27's 21 Dec"),
    ("NGF27", date(2026, 12, 29), time(17), "3rd last business day of Dec 2026 (31, 30, 29)"),
    ("RBF27", date(2026, 12, 31), time(17), "last business day of Dec 2026"),
    ("HOF27", date(2026, 12, 31), time(17), "last business day of Dec 2026"),
    ("GCZ26", date(2026, 12, 29), time(17), "3rd last business day of Dec 2026"),
    ("GCG27", date(2027, 2, 24), time(17), "3rd last business day of Feb 2027 (26, 25, 24)"),
    ("SIH27", date(2027, 3, 29), time(17), "3rd last business day of Mar 2027 (31, 30, 29)"),
    ("HGH27", date(2027, 3, 29), time(17), "3rd last business day of Mar 2027"),
    ("6EZ26", date(2026, 12, 14), time(9, 16), "3rd Wednesday 16 Dec, 2 business days before"),
    ("6EH27", date(2027, 3, 15), time(9, 16), "3rd Wednesday 17 Mar, 2 business days before"),
    ("M6EZ26", date(2026, 12, 14), time(9, 16), "as 6E"),
    ("6CZ26", date(2026, 12, 15), time(9, 16), "the business day before 16 Dec"),
    ("ZNZ26", date(2026, 12, 21), time(12, 1), "7 business days before 31 Dec, skipping 25 Dec"),
    ("ZNH27", date(2027, 3, 19), time(12, 1), "7 business days before 31 Mar, skipping Good Fri"),
    ("UBZ26", date(2026, 12, 21), time(12, 1), "as ZN"),
    ("ZFZ26", date(2026, 12, 31), time(12, 1), "last business day of Dec 2026"),
    ("ZTH27", date(2027, 3, 31), time(12, 1), "last business day of Mar 2027"),
    ("ZCZ26", date(2026, 12, 14), time(12, 1), "business day before Tue 15 Dec"),
    ("ZCH27", date(2027, 3, 12), time(12, 1), "business day before Mon 15 Mar"),
    ("ZSF27", date(2027, 1, 14), time(12, 1), "business day before Fri 15 Jan"),
    ("LEZ26", date(2026, 12, 31), time(12), "last business day of Dec 2026"),
    ("HEZ26", date(2026, 12, 14), time(12), "10th business day of Dec 2026"),
    ("HEG27", date(2027, 2, 12), time(12), "10th business day of Feb 2027"),
    ("GFF27", date(2027, 1, 28), time(12), "last Thursday of Jan 2027"),
    ("GFX26", date(2026, 11, 19), time(12), "the Thursday before Thanksgiving (26 Nov)"),
    ("GFK26", date(2026, 5, 21), time(12), "Memorial Day in the week before 28 May"),
    ("MBTZ26", date(2026, 12, 24), time(10), "last Friday 25 Dec is a holiday; 16:00 London"),
    ("BTCF27", date(2027, 1, 29), time(10), "last Friday of Jan 2027; 16:00 London"),
]


@pytest.mark.parametrize(("key", "last_trade", "ends_ct", "why"), EXPIRIES)
def test_last_trade_dates_follow_each_products_cme_rule(
    key: str, last_trade: date, ends_ct: time, why: str
) -> None:
    contract = BOOK.parse(key)
    assert contract.last_trade == last_trade, why
    ends = datetime.combine(last_trade, ends_ct, tzinfo=CT)
    assert contract.trading_ends == ends, why
    assert contract.trading_ends.tzinfo is UTC
    assert not contract.expired_at(ends - timedelta(microseconds=1))
    assert contract.expired_at(ends)


def test_every_instrument_has_an_expiry_for_each_listed_month() -> None:
    for inst in BOOK:
        for month in inst.months:
            contract = Contract(inst, month, 2027)
            month_number = MONTH_CODES.index(month) + 1
            # No CME contract stops trading after its own month or before the month before it.
            assert (contract.last_trade.year, contract.last_trade.month) <= (2027, month_number)
            earliest = (2027, month_number - 1) if month_number > 1 else (2026, 12)
            assert (contract.last_trade.year, contract.last_trade.month) >= earliest


@pytest.mark.parametrize(
    ("key", "at", "listed"),
    [
        ("ESZ31", ct(2026, 12, 10), True),  # 60 months ahead: 21 quarters
        ("ESH32", ct(2026, 12, 10), True),  # the bound allows a front month 3 months away
        ("ESM32", ct(2026, 12, 10), False),
        ("ZNU27", ct(2026, 12, 10), True),  # the third quarterly contract
        ("ZNZ27", ct(2026, 12, 10), False),
        ("CLZ37", ct(2026, 12, 10), True),
    ],
)
def test_a_month_further_out_than_cme_lists_is_not_listed(
    key: str, at: datetime, listed: bool
) -> None:
    assert BOOK.parse(key).listed_at(at) is listed


def test_an_unknown_expiry_rule_is_refused() -> None:
    with pytest.raises(ValueError, match=r"unknown expiry rule 'fourth_friday'.*third_friday"):
        expiry.last_trade_date("fourth_friday", 2026, 12)


def test_a_contract_without_a_projectx_code_has_no_projectx_id() -> None:
    with pytest.raises(UnknownSymbolError, match="no ProjectX contract id is known for BTC"):
        _ = BOOK.parse("BTCZ26").projectx_id


# --- refusals -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("symbol", "fragments"),
    [
        ("", ["empty symbol ''", "ESZ6, ESZ26, ESZ2026", "CON.F.US.EP.Z26"]),
        ("   ", ["empty symbol '   '", "expected <root><month code><year>"]),
        ("ES", ["cannot read symbol 'ES'", "expected <root><month code><year>"]),
        ("!!!", ["cannot read symbol '!!!'", "expected"]),
        ("ES Z6", ["cannot read symbol 'ES Z6'"]),
        ("ESZ", ["cannot read symbol 'ESZ'"]),
        ("Z6", ["cannot read symbol 'Z6'"]),
        ("XXZ6", ["root 'XX' is not in the instrument book", "expected one of ES, MES"]),
        ("PLZ6", ["root 'PL' is not in the instrument book"]),
        ("MEZ6", ["root 'ME' is not in the instrument book"]),
        ("ESF26", ["ES (E-mini S&P 500) lists months H M U Z only, not F (Jan)"]),
        ("ZNK26", ["ZN (10-Year T-Note) lists months H M U Z only, not K (May)"]),
        ("MGCF26", ["MGC (Micro Gold, 10 troy oz) lists months G J M Q V Z only, not F (Jan)"]),
        ("ESA6", ["'A' is not a futures month code", "F G H J K M N Q U V X Z"]),
        ("ESZ123", ["year '123' has 3 digits; expected 1, 2 or 4"]),
        ("ESZ20266", ["year '20266' has 5 digits"]),
        ("ESZ1999", ["year 1999 is outside 2000-2099"]),
        ("CON.F.US.ES.Z26", ["ProjectX product code 'ES' is not in the instrument book", "EP"]),
        ("CON.F.US.EP", ["not a well-formed ProjectX contract id", "CON.F.US.<product code>"]),
        ("CON.F.US.EP.26", ["not a well-formed ProjectX contract id"]),
        ("CON.F.EU.EP.Z26", ["not a well-formed ProjectX contract id"]),
        ("CON.F.US.EP.F26", ["ES (E-mini S&P 500) lists months H M U Z only, not F (Jan)"]),
    ],
)
def test_unreadable_symbols_are_refused_with_a_reason(
    book: InstrumentBook, symbol: str, fragments: list[str]
) -> None:
    with pytest.raises(UnknownSymbolError) as caught:
        book.parse(symbol, at=AT)
    message = str(caught.value)
    for fragment in fragments:
        assert fragment in message
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize("symbol", [None, 42, b"ESZ6"])
def test_a_symbol_that_is_not_a_string_is_refused(book: InstrumentBook, symbol: object) -> None:
    with pytest.raises(UnknownSymbolError, match="is not a string"):
        book.parse(symbol)  # type: ignore[arg-type]


def test_a_refusal_is_not_cached(book: InstrumentBook) -> None:
    for _ in range(2):
        with pytest.raises(UnknownSymbolError):
            book.parse("ESF26")
    assert len(book._cache) == 0


# --- contracts ----------------------------------------------------------------------------------


def test_a_contract_derives_its_key() -> None:
    contract = Contract(BOOK.instrument("6J"), "M", 2026)
    assert contract.key == "6JM26"
    assert contract.projectx_id == "CON.F.US.JY6.M26"
    assert Contract(BOOK.instrument("6J"), "M", 2026, "6JM26") == contract


@pytest.mark.parametrize(
    ("month_code", "year", "key", "error", "fragment"),
    [
        ("Z", 2026, "ESZ6", ValueError, "does not match"),
        ("Z", 2026, "MESZ26", ValueError, "does not match"),
        ("F", 2026, "", ValueError, "lists months H M U Z"),
        ("ZZ", 2026, "", ValueError, "lists months"),
        ("Z", 1999, "", ValueError, "outside 2000-2099"),
        ("Z", 2100, "", ValueError, "outside 2000-2099"),
        ("Z", True, "", TypeError, "year must be an int"),
    ],
)
def test_an_inconsistent_contract_cannot_be_built(
    month_code: str, year: int, key: str, error: type[Exception], fragment: str
) -> None:
    with pytest.raises(error, match=fragment):
        Contract(BOOK.instrument("ES"), month_code, year, key)


def test_contract_identity_is_its_key() -> None:
    a = BOOK.parse("ESZ26")
    b = Contract(BOOK.instrument("ES"), "Z", 2026)
    assert a == b
    assert hash(a) == hash(b)
    assert {a: 1}[b] == 1
    assert a != BOOK.parse("MESZ26")


@st.composite
def contracts(draw: st.DrawFn) -> Contract:
    inst: Instrument = draw(st.sampled_from(list(BOOK)))
    month = draw(st.sampled_from(inst.months))
    year = draw(st.integers(min_value=2020, max_value=2039))
    return Contract(inst, month, year)


@settings(deadline=None)  # the first use of a year loads its exchange calendar
@given(contracts())
def test_every_contract_round_trips_through_its_key_and_other_forms(contract: Contract) -> None:
    inst = contract.instrument
    assert BOOK.parse(contract.key) == contract
    assert BOOK.parse(contract.key).instrument is inst
    if inst.projectx_code is not None:
        assert BOOK.parse(contract.projectx_id) == contract
    assert BOOK.parse(f"{inst.root}{contract.month_code}{contract.year}") == contract
    one_digit = f"{inst.root}{contract.month_code}{contract.year % 10}"
    # The day before it stops trading, the contract is the live, listed reading of its digit.
    assert BOOK.parse(one_digit, at=contract.trading_ends - timedelta(days=1)) == contract
    assert BOOK.parse(contract.key.lower(), exchange=inst.exchange) == contract


@given(st.text(max_size=12))
def test_parse_either_answers_a_contract_or_refuses(symbol: str) -> None:
    try:
        contract = BOOK.parse(symbol, at=AT)
    except UnknownSymbolError:
        return
    assert BOOK.parse(contract.key) == contract


def test_every_listed_month_of_every_instrument_parses() -> None:
    for inst in BOOK:
        for month in MONTH_CODES:
            symbol = f"{inst.root}{month}27"
            if month in inst.months:
                assert BOOK.parse(symbol).month_code == month
            else:
                with pytest.raises(UnknownSymbolError, match="lists months"):
                    BOOK.parse(symbol)


# --- bad instrument data ------------------------------------------------------------------------


def _entry(**overrides: object) -> dict[str, object]:
    entry: dict[str, object] = {
        "name": "E-mini S&P 500",
        "exchange": "CME",
        "product_group": "equity",
        "tick_size": "0.25",
        "tick_value": "12.50",
        "currency": "USD",
        "months": "HMUZ",
        "projectx_code": "EP",
        "expiry": "third_friday",
        "last_trade_time": "08:30",
        "listed_months": 63,
    }
    entry.update(overrides)
    return {key: value for key, value in entry.items() if value is not None}


def _micro(**overrides: object) -> dict[str, object]:
    base: dict[str, object] = {
        "name": "Micro E-mini S&P 500",
        "tick_value": "1.25",
        "projectx_code": "MES",
        "full_size": "ES",
        "ratio": 10,
    }
    base.update(overrides)
    return _entry(**base)


def _toml(entries: dict[str, dict[str, object]]) -> str:
    lines: list[str] = []
    for root, entry in entries.items():
        lines.append(f"[instruments.{root}]")
        for key, value in entry.items():
            # json.dumps writes strings, ints, floats and booleans as TOML writes them.
            lines.append(f"{key} = {json.dumps(value)}")
    return "\n".join(lines) + "\n"


def test_a_minimal_valid_file_loads() -> None:
    book = InstrumentBook.from_toml(_toml({"ES": _entry(), "MES": _micro()}))
    assert [inst.root for inst in book] == ["ES", "MES"]
    assert book.instrument("MES").point_value == 5
    assert book.parse("MESZ26").key == "MESZ26"


@pytest.mark.parametrize(
    ("entries", "fragments"),
    [
        ({"ES": _entry(tick_size=None)}, ["'ES'", "'tick_size'", "missing"]),
        ({"ES": _entry(projectx_code=None)}, ["'ES'", "'projectx_code'", "projectx_code_unknown"]),
        (
            {"ES": _entry(projectx_code_unknown="no idea")},
            ["'ES'", "'projectx_code'", "exactly one of the two"],
        ),
        ({"ES": _entry(expiry=None)}, ["'ES'", "'expiry'", "missing"]),
        ({"ES": _entry(expiry="3rd_friday")}, ["'ES'", "'expiry'", "third_friday"]),
        ({"ES": _entry(listed_months=None)}, ["'ES'", "'listed_months'", "missing"]),
        ({"ES": _entry(listed_months=0)}, ["'ES'", "'listed_months'", "from 1 to 168"]),
        ({"ES": _entry(listed_months=500)}, ["'ES'", "'listed_months'", "from 1 to 168"]),
        ({"ES": _entry(listed_months="63")}, ["'ES'", "'listed_months'", "whole number"]),
        ({"ES": _entry(last_trade_time="8.30")}, ["'ES'", "'last_trade_time'", "HH:MM"]),
        ({"ES": _entry(last_trade_time="08:30-05:00")}, ["'ES'", "'last_trade_tz'", "offset"]),
        ({"ES": _entry(last_trade_tz="Mars/Olympus")}, ["'ES'", "'last_trade_tz'", "Mars"]),
        (
            {"ES": _entry(last_trade_time=None, last_trade_tz="Europe/London")},
            ["'ES'", "'last_trade_time'", "missing"],
        ),
        ({"ES": _entry(tick_size=0.25)}, ["'ES'", "'tick_size'", "decimal in a string", "float"]),
        ({"ES": _entry(tick_value=12)}, ["'ES'", "'tick_value'", "int"]),
        ({"ES": _entry(tick_size="0")}, ["'ES'", "'tick_size'", "must be > 0"]),
        ({"ES": _entry(tick_value="-12.50")}, ["'ES'", "'tick_value'", "must be > 0"]),
        ({"ES": _entry(tick_size="NaN")}, ["'ES'", "'tick_size'", "must be > 0"]),
        ({"ES": _entry(tick_size="a quarter")}, ["'ES'", "'tick_size'", "not a decimal"]),
        ({"ES": _entry(tick_size="0.3", tick_value="1")}, ["'ES'", "'tick_value'", "not an exact"]),
        ({"ES": _entry(product_group="crypto")}, ["'ES'", "'product_group'", "'crypto'", "fx"]),
        ({"ES": _entry(exchange="CMX")}, ["'ES'", "'exchange'", "'CMX'", "COMEX"]),
        ({"ES": _entry(name="")}, ["'ES'", "'name'", "non-empty string"]),
        ({"ES": _entry(name=5)}, ["'ES'", "'name'", "non-empty string"]),
        ({"ES": _entry(currency="usd")}, ["'ES'", "'currency'", "ISO 4217"]),
        ({"ES": _entry(months="ZHMU")}, ["'ES'", "'months'", "calendar order"]),
        ({"ES": _entry(months="HHMUZ")}, ["'ES'", "'months'", "distinct"]),
        ({"ES": _entry(months="HMUA")}, ["'ES'", "'months'"]),
        ({"ES": _entry(projectx_code="e-p")}, ["'ES'", "'projectx_code'"]),
        ({"ES": _entry(tick_sise="0.25")}, ["'ES'", "'tick_sise'", "unknown field"]),
        ({"es": _entry()}, ["'es'", "upper-case"]),
        ({"ES": _entry(), "MES": _micro(full_size="SP")}, ["'MES'", "'full_size'", "'SP'"]),
        ({"ES": _entry(), "MES": _micro(full_size="MES")}, ["'MES'", "'full_size'", "itself"]),
        ({"ES": _entry(), "MES": _micro(ratio=None)}, ["'MES'", "'ratio'", "missing"]),
        ({"ES": _entry(), "MES": _micro(full_size=None)}, ["'MES'", "'full_size'", "missing"]),
        ({"ES": _entry(), "MES": _micro(ratio=1)}, ["'MES'", "'ratio'", ">= 2"]),
        ({"ES": _entry(), "MES": _micro(ratio=True)}, ["'MES'", "'ratio'", ">= 2"]),
        ({"ES": _entry(), "MES": _micro(ratio="10")}, ["'MES'", "'ratio'", ">= 2"]),
        # A wrong tick value shows up as a point value that is not 1/ratio of the full size's.
        ({"ES": _entry(), "MES": _micro(tick_value="12.50")}, ["'MES'", "'ratio'", "point value"]),
        ({"ES": _entry(), "MES": _micro(ratio=5)}, ["'MES'", "'ratio'", "point value"]),
        (
            {"ES": _entry(), "MES": _micro(tick_size="0.05", tick_value="0.25")},
            ["'MES'", "'tick_size'", "differs", "'tick_size_differs'"],
        ),
        (
            {"ES": _entry(), "MES": _micro(product_group="fx")},
            ["'MES'", "'product_group'", "differs"],
        ),
        (
            {"ES": _entry(tick_size_differs="because")},
            ["'ES'", "'tick_size_differs'", "only a micro"],
        ),
        (
            {
                "ES": _entry(),
                "MES": _micro(),
                "XMES": _micro(full_size="MES", ratio=2, projectx_code="XMES"),
            },
            ["'XMES'", "'full_size'", "itself a fraction"],
        ),
        ({"ES": _entry(), "SP": _entry()}, ["'SP'", "'projectx_code'", "'EP'", "'ES'"]),
    ],
)
def test_bad_instrument_data_names_the_entry_and_field(
    entries: dict[str, dict[str, object]], fragments: list[str]
) -> None:
    with pytest.raises(InstrumentDataError) as caught:
        InstrumentBook.from_toml(_toml(entries))
    message = str(caught.value)
    for fragment in fragments:
        assert fragment in message
    assert isinstance(caught.value, ValueError)


def test_a_micro_with_a_documented_tick_size_difference_loads() -> None:
    micro = _micro(tick_size="0.05", tick_value="0.25", tick_size_differs="finer tick by design")
    book = InstrumentBook.from_toml(_toml({"ES": _entry(), "MES": micro}))
    assert book.instrument("MES").tick_size == Decimal("0.05")
    assert book.instrument("MES").point_value == 5


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("[instruments.ES\n", "not valid TOML"),
        ("", "no instruments"),
        ("[instruments]\n", "no instruments"),
        ("checked = 2026\n" + _toml({"ES": _entry()}), "unknown top-level key(s) checked"),
        ("[instruments]\nES = 1\n", "expected a table"),
    ],
)
def test_a_malformed_file_is_refused(text: str, fragment: str) -> None:
    with pytest.raises(InstrumentDataError) as caught:
        InstrumentBook.from_toml(text)
    assert fragment in str(caught.value)


def test_a_book_refuses_a_root_listed_twice() -> None:
    es = BOOK.instrument("ES")
    with pytest.raises(InstrumentDataError, match="'ES': the root is listed twice"):
        InstrumentBook([es, es])

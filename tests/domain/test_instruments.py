"""Instrument data (resources/instruments.toml) and broker-symbol parsing."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

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


@pytest.fixture
def book() -> InstrumentBook:
    # A fresh book per test, so one test's cache never answers another's question.
    return InstrumentBook.from_toml(read_text("instruments.toml"))


# --- the shipped data ---------------------------------------------------------------------------

# root: exchange, product group, tick size, tick value, point value, ProjectX code
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
}

MICROS = {"MES": "ES", "MNQ": "NQ", "M2K": "RTY", "MYM": "YM", "MCL": "CL", "MGC": "GC"}


def test_the_book_holds_exactly_the_supported_roots() -> None:
    assert [inst.root for inst in BOOK] == list(SPECS)
    assert len(BOOK) == 18


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


@pytest.mark.parametrize(("micro", "full"), list(MICROS.items()))
def test_micros_are_a_tenth_of_their_full_size(micro: str, full: str) -> None:
    small, big = BOOK.instrument(micro), BOOK.instrument(full)
    assert small.full_size_root == full
    assert small.micro_ratio == 10
    assert small.point_value * small.micro_ratio == big.point_value
    assert small.tick_size == big.tick_size
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
    with pytest.raises(UnknownSymbolError, match=r"unknown root 'NG'.*expected one of ES, MES"):
        BOOK.instrument("NG")


# --- symbol forms -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("symbol", "reference_year", "key"),
    [
        ("ESZ6", 2026, "ESZ26"),
        ("ESZ5", 2026, "ESZ25"),  # last year: the window starts at reference_year - 1
        ("ESZ4", 2026, "ESZ34"),  # ... and ends at reference_year + 8
        ("ESH7", 2026, "ESH27"),
        ("ESZ6", 2027, "ESZ26"),
        ("ESZ5", 2027, "ESZ35"),
        ("ESZ0", 2031, "ESZ30"),
        ("ESZ26", 2026, "ESZ26"),
        ("ESZ26", 2040, "ESZ26"),  # two- and four-digit years ignore the reference year
        ("ESZ2026", 2026, "ESZ26"),
        ("ESZ2031", 2026, "ESZ31"),
        ("esz26", 2026, "ESZ26"),
        ("  eSz6\t\n", 2026, "ESZ26"),
        ("6EH7", 2026, "6EH27"),
        ("6JM26", 2026, "6JM26"),
        ("6EF27", 2026, "6EF27"),  # serial FX month
        ("M2KU6", 2026, "M2KU26"),
        ("ZNH2027", 2026, "ZNH27"),
        ("CON.F.US.EP.Z25", 2026, "ESZ25"),
        ("CON.F.US.ENQ.H26", 2026, "NQH26"),
        ("CON.F.US.MES.M26", 2026, "MESM26"),
        ("CON.F.US.MNQ.U26", 2026, "MNQU26"),
        ("CON.F.US.CLE.N26", 2026, "CLN26"),
        ("CON.F.US.MCLE.N26", 2026, "MCLN26"),
        ("CON.F.US.GCE.Q26", 2026, "GCQ26"),
        ("CON.F.US.MGC.J26", 2026, "MGCJ26"),
        ("CON.F.US.SIE.K26", 2026, "SIK26"),
        ("CON.F.US.EU6.M26", 2026, "6EM26"),
        ("CON.F.US.JY6.U26", 2026, "6JU26"),
        ("CON.F.US.TYA.M26", 2026, "ZNM26"),
        ("CON.F.US.USA.Z26", 2026, "ZBZ26"),
        ("CON.F.US.FVA.H27", 2026, "ZFH27"),
        ("CON.F.US.RTY.Z26", 2026, "RTYZ26"),
        ("CON.F.US.M2K.Z26", 2026, "M2KZ26"),
        ("CON.F.US.YM.Z26", 2026, "YMZ26"),
        ("CON.F.US.MYM.Z26", 2026, "MYMZ26"),
        (" con.f.us.ep.z25 ", 2026, "ESZ25"),
    ],
)
def test_symbol_forms(book: InstrumentBook, symbol: str, reference_year: int, key: str) -> None:
    contract = book.parse(symbol, reference_year=reference_year)
    assert contract.key == key
    assert contract.instrument is book.instrument(key[:-3])
    assert contract.month_code == key[-3]
    assert contract.year == 2000 + int(key[-2:])


@pytest.mark.parametrize(
    ("micro", "full"),
    [("MESZ6", "ESZ6"), ("MNQH7", "NQH7"), ("MCLF7", "CLF7"), ("MGCG7", "GCG7"), ("MYMZ6", "YMZ6")],
)
def test_a_micro_root_is_never_read_as_its_full_size(
    book: InstrumentBook, micro: str, full: str
) -> None:
    small = book.parse(micro, reference_year=2026)
    big = book.parse(full, reference_year=2026)
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
        ("CON.F.US.EP.Z26", "CME"),
    ],
)
def test_the_exchange_a_broker_reports_is_checked(
    book: InstrumentBook, symbol: str, exchange: str
) -> None:
    assert book.parse(symbol, exchange=exchange, reference_year=2026) == book.parse(
        symbol, reference_year=2026
    )


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
        book.parse(symbol, exchange=exchange, reference_year=2026)
    message = str(caught.value)
    assert repr(symbol) in message
    assert f"exchange {exchange!r}" in message
    assert f"listed on {listed_on}" in message


def test_the_default_reference_year_is_the_current_utc_year(book: InstrumentBook) -> None:
    # Derived from the clock rather than pinned, so it holds in any year.
    this_year = datetime.now(UTC).year
    digit = this_year % 10
    assert book.parse(f"ESZ{digit}").year == this_year
    last_year = this_year - 1
    assert book.parse(f"ESZ{last_year % 10}").year == last_year
    assert book.parse(f"ESZ{(this_year + 8) % 10}").year == this_year + 8


def test_every_form_of_one_contract_is_the_same_contract(book: InstrumentBook) -> None:
    forms = ["ESZ6", "ESZ26", "ESZ2026", "esz26", "CON.F.US.EP.Z26"]
    contracts = {book.parse(form, reference_year=2026) for form in forms}
    assert len(contracts) == 1
    (contract,) = contracts
    assert contract.key == "ESZ26"
    assert contract.projectx_id == "CON.F.US.EP.Z26"


def test_parse_returns_the_cached_contract(book: InstrumentBook) -> None:
    first = book.parse("NQH27", exchange="CME", reference_year=2026)
    assert book.parse("NQH27", exchange="CME", reference_year=2026) is first


def test_the_cache_stays_bounded(book: InstrumentBook) -> None:
    # A two-digit year ignores the reference year, but each one is still a distinct cache key.
    for reference_year in range(instruments_module._CACHE_LIMIT + 10):
        assert book.parse("ESZ26", reference_year=reference_year).key == "ESZ26"
    assert 0 < len(book._cache) <= instruments_module._CACHE_LIMIT
    assert book.parse("CLZ6", reference_year=2026).key == "CLZ26"


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
        ("NGZ6", ["root 'NG' is not in the instrument book"]),
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
        book.parse(symbol, reference_year=2026)
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


@given(contracts())
def test_every_contract_round_trips_through_its_key_and_other_forms(contract: Contract) -> None:
    inst = contract.instrument
    assert BOOK.parse(contract.key) == contract
    assert BOOK.parse(contract.key).instrument is inst
    assert BOOK.parse(contract.projectx_id) == contract
    assert BOOK.parse(f"{inst.root}{contract.month_code}{contract.year}") == contract
    one_digit = f"{inst.root}{contract.month_code}{contract.year % 10}"
    assert BOOK.parse(one_digit, reference_year=contract.year) == contract
    assert BOOK.parse(contract.key.lower(), exchange=inst.exchange) == contract


@given(st.text(max_size=12))
def test_parse_either_answers_a_contract_or_refuses(symbol: str) -> None:
    try:
        contract = BOOK.parse(symbol, reference_year=2026)
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
        ({"ES": _entry(projectx_code=None)}, ["'ES'", "'projectx_code'", "missing"]),
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

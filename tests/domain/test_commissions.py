"""Commissions on fills the broker reports without a fee: the schedules, and the account charging them.

Tradovate's and Rithmic's fills carry no fee; the firms judge their limits net of fees. Booked as they
came, every round trip left equity too high by its commission.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal as D
from zoneinfo import ZoneInfo

import pytest

from propdesk.domain.account import AccountRisk
from propdesk.domain.calendar import TradingCalendar
from propdesk.domain.commissions import CommissionBook, CommissionTable, parse_commissions
from propdesk.domain.events import Fill, Side
from propdesk.domain.firms import ProfileError, ProfileSet
from propdesk.domain.guard import Action, ActionType
from propdesk.domain.instruments import InstrumentBook
from propdesk.domain.protocol import Protocol
from propdesk.resources import load_commissions, read_text

CT = ZoneInfo("America/Chicago")
T9 = datetime(2026, 11, 17, 9, 0, tzinfo=CT)  # a Tuesday session


@pytest.fixture(scope="module")
def book() -> CommissionBook:
    return load_commissions()


def account(
    profiles: ProfileSet, calendar: TradingCalendar, table: CommissionTable | None, profile: str
) -> AccountRisk:
    return AccountRisk(
        profiles.get(profile), calendar=calendar, protocol=Protocol.none(), commissions=table
    )


def round_trip(
    risk: AccountRisk,
    instruments: InstrumentBook,
    symbol: str = "ESZ6",
    qty: int = 1,
    fee: D | None = None,
) -> list[Action]:
    """Buy and sell `qty` at the same price: the only cost is the fees."""
    contract = instruments.parse(symbol)
    actions = risk.process(Fill(T9, contract, Side.BUY, qty, D("6000.00"), fee))
    actions += risk.process(Fill(T9, contract, Side.SELL, qty, D("6000.00"), fee))
    return actions


# -- the account charging a schedule ------------------------------------------------------------------
def test_a_round_trip_without_a_broker_fee_costs_the_schedules_round_turn(
    profiles: ProfileSet,
    instruments: InstrumentBook,
    calendar: TradingCalendar,
    book: CommissionBook,
) -> None:
    table = book.table(profiles.get("tpt-test-50k").commissions, "tradovate")
    risk = account(profiles, calendar, table, "tpt-test-50k")
    assert round_trip(risk, instruments) == []
    view = risk.view()
    assert view.equity == D("49995.00"), "one ES round turn on Take Profit Trader's Test: $5.00"
    assert (view.fees, view.estimated_fees) == (D("5.00"), D("5.00"))
    round_trip(risk, instruments, "MESZ6", qty=3)
    view = risk.view()
    assert view.equity == D("49993.50"), "micros have their own line: 3 × $0.50"
    assert view.balance == view.equity, "flat: the fees are realized"
    assert (view.fees, view.estimated_fees) == (D("6.50"), D("6.50"))


def test_without_a_schedule_a_missing_fee_books_nothing_as_before(
    profiles: ProfileSet, instruments: InstrumentBook, calendar: TradingCalendar
) -> None:
    risk = account(profiles, calendar, None, "tpt-test-50k")
    assert round_trip(risk, instruments) == []
    assert (risk.view().equity, risk.view().fees) == (D(50_000), D(0))


def test_a_fee_the_broker_reported_is_not_charged_again(
    profiles: ProfileSet,
    instruments: InstrumentBook,
    calendar: TradingCalendar,
    book: CommissionBook,
) -> None:
    table = book.table("tpt-test-pro", "projectx")
    risk = account(profiles, calendar, table, "tpt-test-50k")
    round_trip(risk, instruments, qty=2, fee=D("2.80"))
    view = risk.view()
    assert view.equity == D("49994.40")
    assert (view.fees, view.estimated_fees) == (D("5.60"), D(0))


def test_a_reported_fee_of_zero_stays_zero(
    profiles: ProfileSet,
    instruments: InstrumentBook,
    calendar: TradingCalendar,
    book: CommissionBook,
) -> None:
    risk = account(profiles, calendar, book.table("tpt-test-pro"), "tpt-test-50k")
    round_trip(risk, instruments, fee=D(0))
    assert (risk.view().equity, risk.view().fees, risk.view().estimated_fees) == (
        D(50_000),
        D(0),
        D(0),
    )


def test_a_root_the_schedule_does_not_price_is_alerted_once_per_root(
    profiles: ProfileSet, instruments: InstrumentBook, calendar: TradingCalendar
) -> None:
    table = CommissionTable("es-only", "tradovate", {"ES": D("4.00")})
    risk = account(profiles, calendar, table, "topstep-combine-50k")
    first = round_trip(risk, instruments, "NQZ6")
    alerts = [a for a in first if a.type is ActionType.ALERT]
    assert len(alerts) == 1, "once for NQ, not once per fill"
    assert alerts[0].rule == "commission"
    assert "no fee for a NQ fill" in alerts[0].reason
    assert "'es-only' has no amount for NQ" in alerts[0].reason
    assert risk.view().fees == D(0), "not estimated as anything: the alert says so"
    assert not [a for a in round_trip(risk, instruments, "NQZ6") if a.rule == "commission"]
    assert [a.rule for a in round_trip(risk, instruments, "MNQZ6")] == ["commission"], "per root"
    assert round_trip(risk, instruments, "ESZ6") == []
    assert risk.view().fees == D("4.00")


def test_a_profile_without_a_schedule_or_with_an_unknown_one_says_so(
    profiles: ProfileSet,
    instruments: InstrumentBook,
    calendar: TradingCalendar,
    book: CommissionBook,
) -> None:
    none = account(profiles, calendar, book.table(None, "rithmic"), "ftmo-2step-100k")
    [alert] = round_trip(none, instruments)
    assert "names no commission schedule" in alert.reason
    unknown = account(profiles, calendar, book.table("my-firm", "rithmic"), "custom")
    [alert] = round_trip(unknown, instruments)
    assert "no commission schedule 'my-firm' in resources/commissions.toml" in alert.reason


def test_estimated_fees_survive_a_saved_state(
    profiles: ProfileSet,
    instruments: InstrumentBook,
    calendar: TradingCalendar,
    book: CommissionBook,
) -> None:
    table = book.table("tpt-test-pro")
    risk = account(profiles, calendar, table, "tpt-test-50k")
    round_trip(risk, instruments)
    saved = risk.save_state()
    restored = account(profiles, calendar, table, "tpt-test-50k")
    restored.restore_state(saved, instruments)
    assert (restored.view().fees, restored.view().estimated_fees) == (D("5.00"), D("5.00"))
    del saved["ledger"]["estimated_fees"]  # a state saved before fees were estimated
    older = account(profiles, calendar, table, "tpt-test-50k")
    older.restore_state(saved, instruments)
    assert (older.view().fees, older.view().estimated_fees) == (D("5.00"), D(0))


# -- the schedules ------------------------------------------------------------------------------------
def test_every_shipped_profile_names_a_schedule_except_the_cfd_firm(
    profiles: ProfileSet, book: CommissionBook
) -> None:
    without = sorted(p.id for p in profiles.values() if p.commissions is None)
    assert without == ["ftmo-1step-100k", "ftmo-2step-100k"], "FTMO charges per lot, on CFDs"
    assert book.unknown_references(profiles.values()) == []
    assert profiles.get("tpt-test-50k").commissions == "tpt-test-pro"


def test_every_scheduled_root_is_a_known_instrument_and_every_amount_is_sourced(
    book: CommissionBook, instruments: InstrumentBook
) -> None:
    roots = {i.root for i in instruments}
    for name, schedule in book.schedules.items():
        covered = {root for line in schedule.lines for root in line.roots}
        assert covered <= roots, name
        assert covered == roots, f"{name} prices every root propdesk knows"
        for line in schedule.lines:
            assert line.round_turn.source in book.sources
            micros = {r for r in line.roots if instruments.instrument(r).full_size_root}
            assert micros in (set(), set(line.roots)), "micros have lines of their own"
    standin = book.schedules["unverified-standin"]
    assert {line.round_turn.source for line in standin.lines} == {"UNVERIFIED"}


def test_a_platform_line_wins_over_the_general_one() -> None:
    book = parse_commissions(
        SOURCES
        + """
[schedules.firm]
firm = "A firm"
[[schedules.firm.lines]]
roots = ["ES", "MES"]
round_turn = { value = "4.00", source = "S1", checked = 2026-12-04 }
[[schedules.firm.lines]]
roots = ["ES"]
platforms = ["tradovate"]
round_turn = { value = "3.10", source = "S1", checked = 2026-12-04 }
"""
    )
    assert book.table("firm", "tradovate").round_turns == {"ES": D("3.10"), "MES": D("4.00")}
    assert book.table("firm", "rithmic").round_turns == {"ES": D("4.00"), "MES": D("4.00")}
    assert book.table("firm").fee("ES", 3) == D("6.00"), "half a round turn per contract per fill"
    assert book.table("firm").fee("NQ", 1) is None


def test_a_table_survives_its_journal_form(book: CommissionBook) -> None:
    for table in (book.table("tpt-test-pro", "rithmic"), book.table("gone"), book.table(None)):
        assert CommissionTable.from_json(table.to_json()) == table


SOURCES = '[sources]\nS1 = "https://example.com/fees (firm)"\n'
LINE = '[schedules.firm]\nfirm = "A firm"\n[[schedules.firm.lines]]\n'


@pytest.mark.parametrize(
    ("text", "path", "message"),
    [
        (
            LINE
            + 'roots = ["ES"]\nround_turn = { value = 4.5, source = "S1", checked = 2026-12-04 }',
            "schedules.firm.lines.0.round_turn.value",
            "floats are inexact",
        ),
        (
            LINE
            + 'roots = ["ES"]\nround_turn = { value = "4", source = "S9", checked = 2026-12-04 }',
            "schedules.firm.lines.0.round_turn.source",
            "unknown source key 'S9'",
        ),
        (
            LINE
            + 'roots = ["ES", "ES"]\nround_turn = { value = "4", source = "S1", checked = 2026-12-04 }',
            "schedules.firm.lines.0.roots",
            "ES already has an amount in lines.0",
        ),
        (
            LINE
            + 'roots = ["es"]\nround_turn = { value = "4", source = "S1", checked = 2026-12-04 }',
            "schedules.firm.lines.0.roots.0",
            "contract root",
        ),
        (
            LINE
            + 'roots = ["ES"]\nround_turn = { value = "-1", source = "S1", checked = 2026-12-04 }',
            "schedules.firm.lines.0.round_turn.value",
            "greater than or equal to 0",
        ),
        (
            LINE
            + 'roots = ["ES"]\nround_trip = { value = "4", source = "S1", checked = 2026-12-04 }',
            "schedules.firm.lines.0.round_trip",
            "unknown key",
        ),
        ('[schedules.firm]\nfirm = "A firm"\nlines = []', "schedules.firm.lines", "at least one"),
    ],
)
def test_a_bad_schedule_is_refused_naming_the_field(text: str, path: str, message: str) -> None:
    with pytest.raises(ProfileError) as caught:
        parse_commissions(SOURCES + text)
    lines = str(caught.value).splitlines()
    assert any(
        line.startswith(f"commissions.toml: {path}: ") and message in line for line in lines
    ), lines


def test_a_profile_naming_an_unknown_schedule_is_reported(
    profiles: ProfileSet, book: CommissionBook
) -> None:
    profile = profiles.get("custom").model_copy(update={"commissions": "my-firm"})
    [problem] = book.unknown_references([profile])
    assert (problem.file, problem.path) == ("custom.toml", "commissions")
    assert "no schedule 'my-firm'" in problem.message


def test_the_shipped_file_parses_as_read(book: CommissionBook) -> None:
    assert parse_commissions(read_text("commissions.toml")) == book

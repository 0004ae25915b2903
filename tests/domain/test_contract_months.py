"""Contract months through the account engine: expiry alerts, rolls, spreads against the size cap.

Real profiles and the real calendar, as in test_account.py; symbols are parsed the way brokers and
`propdesk replay` parse them, against the time of each event.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal as D
from zoneinfo import ZoneInfo

import pytest

from propdesk.domain.account import AccountRisk
from propdesk.domain.calendar import TradingCalendar
from propdesk.domain.events import ClockTick, Fill, Side
from propdesk.domain.firm_overrides import apply_overrides
from propdesk.domain.firms import FirmProfile, ProfileSet
from propdesk.domain.guard import Action, ActionType
from propdesk.domain.instruments import InstrumentBook
from propdesk.domain.protocol import Protocol
from propdesk.replay import ReplayLine, parse_line, read_lines, run

CT = ZoneInfo("America/Chicago")


def ct(y: int, mo: int, d: int, h: int, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=CT)


def fill(
    account: AccountRisk,
    book: InstrumentBook,
    ts: datetime,
    side: str,
    qty: int,
    symbol: str,
    price: str = "6000.00",
) -> list[Action]:
    contract = book.parse(symbol, at=ts)
    return account.process(Fill(ts, contract, Side(side), qty, D(price)))


def expiry_alerts(actions: list[Action]) -> list[Action]:
    return [a for a in actions if a.rule == "expiry"]


@pytest.fixture
def account(profiles: ProfileSet, calendar: TradingCalendar) -> AccountRisk:
    return AccountRisk(
        profiles.get("topstep-combine-50k"), calendar=calendar, protocol=Protocol.none()
    )


# --- expiry -------------------------------------------------------------------------------------


def test_a_fill_in_esz6_after_its_expiry_is_an_alert(
    account: AccountRisk, instruments: InstrumentBook
) -> None:
    actions = fill(account, instruments, ct(2026, 12, 24, 9), "buy", 1, "ESZ6")
    (alert,) = expiry_alerts(actions)
    assert alert.type is ActionType.ALERT
    assert "ESZ26" in alert.reason
    assert "Fri 18 Dec 2026 (08:30 CT)" in alert.reason  # its last trade date and time
    assert "buy 1 ESZ26 @ 6000.00 at 2026-12-24 09:00 CT" in alert.reason  # the fill
    # The fill is still booked as reported: dropping it would make every number wrong.
    assert account.ledger.positions["ESZ26"].net == 1


def test_a_fill_in_esz6_before_its_expiry_is_not(
    account: AccountRisk, instruments: InstrumentBook
) -> None:
    actions = fill(account, instruments, ct(2026, 12, 10, 9), "buy", 1, "ESZ6")
    assert expiry_alerts(actions) == []
    assert account.ledger.positions["ESZ26"].net == 1


def test_the_last_minutes_before_termination_are_not_expired(
    account: AccountRisk, instruments: InstrumentBook
) -> None:
    assert (
        expiry_alerts(fill(account, instruments, ct(2026, 12, 18, 8, 29), "buy", 1, "ESZ6")) == []
    )
    late = fill(account, instruments, ct(2026, 12, 18, 8, 31), "sell", 1, "ESZ26")
    assert len(expiry_alerts(late)) == 1


def test_a_fill_in_a_month_cme_does_not_list_is_an_alert(
    account: AccountRisk, instruments: InstrumentBook
) -> None:
    actions = fill(account, instruments, ct(2026, 12, 10, 9), "buy", 1, "ESZ2036")
    (alert,) = expiry_alerts(actions)
    assert "month CME does not list" in alert.reason
    assert "ESZ36" in alert.reason


def test_a_position_held_past_expiry_is_an_alert_on_the_next_trading_day(
    account: AccountRisk, instruments: InstrumentBook
) -> None:
    fill(account, instruments, ct(2026, 12, 17, 10), "sell", 2, "ESZ6")
    assert expiry_alerts(account.process(ClockTick(ct(2026, 12, 17, 17)))) == []  # still trades
    actions = account.process(ClockTick(ct(2026, 12, 18, 17)))  # trade date 21 Dec begins
    (alert,) = expiry_alerts(actions)
    assert "-2 ESZ26 is still held" in alert.reason
    assert "18 Dec 2026" in alert.reason


# --- propdesk replay ------------------------------------------------------------------------------


def _lines(instruments: InstrumentBook, *records: dict[str, object]) -> list[ReplayLine]:
    data = [json.dumps(record).encode() for record in records]
    return read_lines(data, instruments)


def test_replay_shows_the_expiry_alert_on_the_fills_line(
    profiles: ProfileSet, instruments: InstrumentBook, calendar: TradingCalendar
) -> None:
    lines = _lines(
        instruments,
        {"ts": "2026-12-10T09:00:00-06:00", "type": "fill", "symbol": "ESZ6", "side": "buy",
         "qty": 1, "price": "6000"},
        {"ts": "2026-12-10T09:30:00-06:00", "type": "fill", "symbol": "ESZ6", "side": "sell",
         "qty": 1, "price": "6010"},
        {"ts": "2026-12-24T09:00:00-06:00", "type": "fill", "symbol": "ESZ6", "side": "buy",
         "qty": 1, "price": "6020"},
    )  # fmt: skip
    profile = profiles.get("topstep-combine-50k")
    records = run(lines, profile, calendar=calendar, protocol=Protocol.none())
    assert records[0]["actions"] == []
    # The profitable round trip may raise the firm's consistency warning; no expiry alert.
    assert not [a for a in records[1]["actions"] if "expired" in a["reason"]]
    (alert,) = records[2]["actions"]
    assert alert["type"] == "alert"
    assert "fill in an expired contract: ESZ26" in alert["reason"]


@pytest.mark.parametrize(
    ("ts", "key"),
    [
        ("2026-11-20T12:00:00-06:00", "CLZ26"),  # CLZ26's last trade date
        ("2026-11-23T09:00:00-06:00", "CLZ36"),  # CLZ26 has ended; CL lists December 2036
        ("2026-12-24T09:00:00-06:00", "ESZ26"),  # ended, and ESZ36 is not listed
        ("2026-12-24T09:00:00-06:00", "ESH27"),
    ],
)
def test_replay_reads_one_digit_years_at_each_lines_own_time(
    instruments: InstrumentBook, ts: str, key: str
) -> None:
    symbol = key[:-2] + key[-1]
    text = json.dumps({"ts": ts, "type": "mark", "symbol": symbol, "bid": "60", "ask": "61"})
    assert parse_line(text, 1, instruments).event.contract.key == key  # type: ignore[union-attr]


# --- rolls --------------------------------------------------------------------------------------


def test_a_roll_is_shown_on_both_legs(account: AccountRisk, instruments: InstrumentBook) -> None:
    fill(account, instruments, ct(2026, 12, 10, 9), "buy", 2, "ESZ6")
    fill(account, instruments, ct(2026, 12, 10, 9, 5), "sell", 2, "NQZ6", "21000.00")
    before = {p.key: p.roll_with for p in account.view().positions}
    assert before == {"ESZ26": None, "NQZ26": None}
    # Rolling: sell the December contract, buy March. Midway both legs are open at once.
    fill(account, instruments, ct(2026, 12, 10, 9, 10), "sell", 2, "ESZ6")
    fill(account, instruments, ct(2026, 12, 10, 9, 10), "buy", 2, "ESH7")
    fill(account, instruments, ct(2026, 12, 10, 9, 11), "sell", 2, "ESZ6")
    during = {p.key: (p.net, p.roll_with) for p in account.view().positions}
    assert during == {"ESZ26": (-2, "ESH27"), "ESH27": (2, "ESZ26"), "NQZ26": (-2, None)}
    fill(account, instruments, ct(2026, 12, 10, 9, 12), "buy", 2, "ESZ6")
    after = {p.key: p.roll_with for p in account.view().positions}
    assert after == {"ESH27": None, "NQZ26": None}


def test_two_months_held_the_same_way_are_not_a_roll(
    account: AccountRisk, instruments: InstrumentBook
) -> None:
    fill(account, instruments, ct(2026, 12, 10, 9), "buy", 1, "ESZ6")
    fill(account, instruments, ct(2026, 12, 10, 9), "buy", 1, "ESH7")
    fill(account, instruments, ct(2026, 12, 10, 9), "sell", 1, "MESH7")  # another root
    assert {p.key: p.roll_with for p in account.view().positions} == {
        "ESZ26": None,
        "ESH27": None,
        "MESH27": None,
    }


# --- spreads against the size cap ---------------------------------------------------------------


def _netting(profile: FirmProfile) -> FirmProfile:
    return apply_overrides(profile, {"size.spreads_count": "net"}, checked=date(2026, 12, 4))


def _spread(account: AccountRisk, book: InstrumentBook) -> list[Action]:
    """Short 3 ESZ6 + long 3 ESH7 against Topstep 50K's cap of 5 contracts."""
    fill(account, book, ct(2026, 12, 10, 9), "sell", 3, "ESZ6")
    return fill(account, book, ct(2026, 12, 10, 9, 1), "buy", 3, "ESH7")


def test_both_legs_of_a_spread_count_unless_the_firm_says_otherwise(
    account: AccountRisk, instruments: InstrumentBook
) -> None:
    assert account.profile.size.spreads_count is None
    actions = _spread(account, instruments)
    assert account.snapshot().size == 6
    assert [(a.type, a.rule) for a in actions] == [(ActionType.FLATTEN, "size")]


def test_a_firm_that_nets_spreads_counts_the_roots_net_position(
    profiles: ProfileSet, instruments: InstrumentBook, calendar: TradingCalendar
) -> None:
    profile = _netting(profiles.get("topstep-combine-50k"))
    assert profile.size.spreads_count is not None
    assert profile.size.spreads_count.value == "net"
    account = AccountRisk(profile, calendar=calendar, protocol=Protocol.none())
    actions = _spread(account, instruments)
    assert account.snapshot().size == 0
    assert actions == []
    # Net is per root: an outright position in another root still counts in full, and micros
    # count the firm's way.
    fill(account, instruments, ct(2026, 12, 10, 9, 2), "buy", 4, "NQZ6", "21000.00")
    fill(account, instruments, ct(2026, 12, 10, 9, 3), "buy", 1, "ESH7")
    assert account.snapshot().size == 5
    actions = fill(account, instruments, ct(2026, 12, 10, 9, 4), "buy", 1, "MNQZ6", "21000.00")
    assert account.snapshot().size == 6  # Topstep counts a micro 1:1
    assert [(a.type, a.rule) for a in actions] == [(ActionType.FLATTEN, "size")]


def test_spreads_count_is_a_sourced_profile_value(profiles: ProfileSet) -> None:
    profile = _netting(profiles.get("custom"))
    counted = profile.size.spreads_count
    assert counted is not None
    assert (counted.value, counted.source) == ("net", "user override")
    with pytest.raises(ValueError, match="spreads_count"):
        apply_overrides(
            profiles.get("custom"), {"size.spreads_count": "one_leg"}, checked=date(2026, 12, 4)
        )


def test_netted_micros_still_count_the_firms_way(
    profiles: ProfileSet, instruments: InstrumentBook, calendar: TradingCalendar
) -> None:
    lucid = profiles.get("lucid-flex-50k")  # 10 micros make one contract
    sizes = []
    for profile in (lucid, _netting(lucid)):
        account = AccountRisk(profile, calendar=calendar, protocol=Protocol.none())
        fill(account, instruments, ct(2026, 12, 10, 9), "buy", 5, "MESH7")
        fill(account, instruments, ct(2026, 12, 10, 9), "sell", 2, "MESZ6")
        sizes.append(account.snapshot().size)
    assert sizes == [D("0.7"), D("0.3")]

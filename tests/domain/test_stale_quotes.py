"""A fill is a price: a quote older than the last fill on its contract never values the position."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal as D
from zoneinfo import ZoneInfo

from propdesk.domain.account import AccountRisk
from propdesk.domain.calendar import TradingCalendar
from propdesk.domain.events import Fill, Mark, Side
from propdesk.domain.firms import ProfileSet
from propdesk.domain.guard import ActionType
from propdesk.domain.instruments import InstrumentBook
from propdesk.domain.protocol import Protocol

CT = ZoneInfo("America/Chicago")


def ct(d: int, h: int, mi: int = 0, mo: int = 11) -> datetime:
    return datetime(2026, mo, d, h, mi, tzinfo=CT)


class Tape:
    def __init__(self, account: AccountRisk, book: InstrumentBook) -> None:
        self.account, self.book = account, book

    def fill(self, ts: datetime, side: str, qty: int, price: str) -> list:
        return self.account.process(Fill(ts, self.book.parse("ESZ26"), Side(side), qty, D(price)))

    def mark(self, ts: datetime, bid: str) -> list:
        contract = self.book.parse("ESZ26")
        return self.account.process(Mark(ts, contract, D(bid), D(bid) + D("0.25")))


def test_a_new_position_is_marked_at_its_fill_not_at_an_older_quote(
    profiles: ProfileSet, instruments: InstrumentBook, calendar: TradingCalendar
) -> None:
    profile = profiles["apex-intraday-50k"]
    account = AccountRisk(profile, calendar=calendar, protocol=Protocol.none())
    tape = Tape(account, instruments)
    tape.fill(ct(17, 9, 0), "buy", 1, "5000")
    tape.mark(ct(17, 9, 1), "5010")  # +500 open: a real high
    high = account.view().high_water
    assert high == D(50_500)
    floor = account.view().max_loss_floor
    tape.fill(ct(17, 9, 5), "sell", 1, "4980")  # −1,000 realized
    tape.fill(ct(17, 9, 12), "buy", 2, "4980")  # no quote since 09:01
    view = account.view()
    assert view.open_pnl == 0, "the fill is the price until a newer quote arrives"
    assert view.positions[0].mark_price == D(4980)
    assert view.equity == D(49_000)
    assert view.high_water == high, "the 11-minute-old bid must not lift the high-water mark"
    assert view.max_loss_floor == floor
    # The next real quote values it; nothing was breached on the way.
    actions = tape.mark(ct(17, 9, 13), "4979.75")
    assert account.view().equity == D(49_000) - 2 * D("0.25") * 50
    assert not [a for a in actions if a.type is ActionType.FLATTEN]


def test_a_quote_stamped_before_the_last_fill_is_ignored(
    profiles: ProfileSet, instruments: InstrumentBook, calendar: TradingCalendar
) -> None:
    account = AccountRisk(
        profiles["apex-intraday-50k"], calendar=calendar, protocol=Protocol.none()
    )
    tape = Tape(account, instruments)
    tape.fill(ct(17, 9, 10), "buy", 1, "5000")
    tape.mark(ct(17, 9, 9), "5050")  # arrives late, stamped before the fill
    view = account.view()
    assert view.equity == D(50_000)
    assert view.high_water == D(50_000)
    tape.mark(ct(17, 9, 11), "5004")
    assert account.view().equity == D(50_200)


def test_a_quote_from_an_earlier_day_never_marks_a_later_entry(
    profiles: ProfileSet, instruments: InstrumentBook, calendar: TradingCalendar
) -> None:
    account = AccountRisk(
        profiles["topstep-combine-50k"], calendar=calendar, protocol=Protocol.none()
    )
    tape = Tape(account, instruments)
    tape.fill(ct(17, 9, 0), "buy", 1, "5000")
    tape.mark(ct(17, 9, 1), "4990")
    tape.fill(ct(17, 9, 2), "sell", 1, "4990")
    # Two days later, an entry far from Tuesday's bid; no quote yet today.
    actions = tape.fill(ct(19, 9, 0), "buy", 2, "5030")
    assert not [a for a in actions if a.type is ActionType.FLATTEN], actions
    assert account.view().open_pnl == 0
    assert account.view().day_pnl == 0

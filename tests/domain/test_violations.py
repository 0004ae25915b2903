"""Fills the firm forbids: inside a no-executions window, and new exposure while reduce-only."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal as D
from zoneinfo import ZoneInfo

from propdesk.domain.account import AccountRisk
from propdesk.domain.calendar import TradingCalendar
from propdesk.domain.events import Fill, Mark, Side
from propdesk.domain.firms import ProfileSet
from propdesk.domain.guard import Action, ActionType, GuardState
from propdesk.domain.instruments import InstrumentBook
from propdesk.domain.news import NewsEvent
from propdesk.domain.protocol import Protocol

ET = ZoneInfo("America/New_York")
CT = ZoneInfo("America/Chicago")
FOMC = datetime(2026, 12, 9, 14, 0, tzinfo=ET)


def alerts(actions: list[Action], rule: str) -> list[Action]:
    return [a for a in actions if a.type is ActionType.ALERT and a.rule == rule]


def test_fills_inside_a_no_executions_window_are_violations(
    profiles: ProfileSet, instruments: InstrumentBook, calendar: TradingCalendar
) -> None:
    profile = profiles["ftmo-1step-100k"]
    assert profile.news.restriction == "no_executions"
    account = AccountRisk(
        profile,
        calendar=calendar,
        protocol=Protocol.none(),
        news=[NewsEvent(FOMC, "FOMC statement")],
    )
    es = instruments.parse("ESZ26")
    before = account.process(Fill(FOMC - timedelta(minutes=10), es, Side.BUY, 1, D(6000)))
    assert not alerts(before, "news_violation")
    # The position may be held through the window, but its stop filling inside it is a violation.
    stop = account.process(Fill(FOMC + timedelta(seconds=40), es, Side.SELL, 1, D(5990)))
    [alert] = alerts(stop, "news_violation")
    assert "FOMC statement" in alert.reason
    assert "SELL 1 ESZ26 @ 5990" in alert.reason
    assert "12:58 CT–2026-12-09 13:02 CT" in alert.reason  # the window, in exchange time
    assert "at 13:00:40 CT" in alert.reason
    entry = account.process(Fill(FOMC + timedelta(seconds=50), es, Side.BUY, 1, D(5991)))
    assert len(alerts(entry, "news_violation")) == 1
    after = account.process(Fill(FOMC + timedelta(minutes=3), es, Side.SELL, 1, D(5995)))
    assert not alerts(after, "news_violation")


def test_a_scoped_window_covers_the_micro_of_its_root(
    profiles: ProfileSet, instruments: InstrumentBook, calendar: TradingCalendar
) -> None:
    account = AccountRisk(
        profiles["ftmo-1step-100k"],
        calendar=calendar,
        protocol=Protocol.none(),
        news=[NewsEvent(FOMC, "EIA petroleum status", roots=frozenset({"CL"}))],
    )
    mcl = instruments.parse("MCLF27")
    actions = account.process(Fill(FOMC, mcl, Side.BUY, 1, D(70)))
    assert len(alerts(actions, "news_violation")) == 1
    es = instruments.parse("ESZ26")
    assert not alerts(account.process(Fill(FOMC, es, Side.BUY, 1, D(6000))), "news_violation")


def test_new_exposure_while_reduce_only_is_an_alert_and_is_closed(
    profiles: ProfileSet, instruments: InstrumentBook, calendar: TradingCalendar
) -> None:
    profile = profiles["topstep-combine-50k"]
    account = AccountRisk(profile, calendar=calendar, protocol=Protocol())
    es = instruments.parse("ESZ26")
    t = datetime(2026, 11, 17, 9, 0, tzinfo=CT)
    account.process(Fill(t, es, Side.BUY, 1, D(6000)))
    loss = profile.daily_loss.amount.value * D("0.70")  # between reduce-only and the stop
    bid = D(6000) - loss / 50
    account.process(Mark(t + timedelta(minutes=1), es, bid, bid + D("0.25")))
    assert account.status.state is GuardState.REDUCE_ONLY
    reducing = account.process(Fill(t + timedelta(minutes=2), es, Side.SELL, 1, bid))
    assert not alerts(reducing, "reduce_only_violation")
    adding = account.process(Fill(t + timedelta(minutes=3), es, Side.BUY, 2, bid))
    [alert] = alerts(adding, "reduce_only_violation")
    assert "BUY 2 ESZ26" in alert.reason
    [close] = [a for a in adding if a.type is ActionType.FLATTEN]
    assert close.roots == frozenset({"ES"})
    assert account.status.state is GuardState.REDUCE_ONLY, "closing it is not a lock"

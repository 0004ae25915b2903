"""Which month the simulator trades, and the demo wiring."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sim_helpers import CT, OPEN, ManualClock

from propdesk.brokers.sim import DEMO_ROOTS, build_demo, front_month, front_months
from propdesk.domain.calendar import TradingCalendar
from propdesk.domain.instruments import InstrumentBook


def test_front_month_rolls_before_the_expiring_month(instruments: InstrumentBook) -> None:
    es, cl, mgc = (instruments.instrument(r) for r in ("ES", "CL", "MGC"))
    assert front_month(es, datetime(2025, 6, 1, tzinfo=CT)).key == "ESM25"
    assert front_month(es, datetime(2025, 6, 11, tzinfo=CT)).key == "ESU25"
    assert front_month(es, datetime(2025, 12, 20, tzinfo=CT)).key == "ESH26"
    assert front_month(cl, datetime(2025, 6, 11, tzinfo=CT)).key == "CLN25"
    assert front_month(mgc, datetime(2025, 6, 11, tzinfo=CT)).key == "MGCQ25"
    keys = [c.key for c in front_months(instruments, DEMO_ROOTS, OPEN)]
    assert keys == ["ESU25", "NQU25", "MESU25", "CLN25"]


def test_build_demo_wires_two_sessions_on_one_venue(
    instruments: InstrumentBook, calendar: TradingCalendar
) -> None:
    demo = build_demo(
        instruments, calendar, ManualClock(OPEN), accounts={"X1": Decimal(100_000)}, seed=4
    )
    [account] = demo.accounts
    assert account.broker == demo.broker.name == "sim"
    assert demo.strategy.accounts == (account,)
    assert demo.strategy.session is not demo.broker
    assert demo.strategy.session.watches(account)
    assert demo.broker.watches(account)
    assert {c.instrument.root for c in demo.strategy.contracts} == set(DEMO_ROOTS)

"""Which month the simulator trades, and the demo wiring."""

from __future__ import annotations

from datetime import datetime, timedelta
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


def test_the_simulator_never_trades_a_month_that_has_stopped_trading(
    instruments: InstrumentBook,
) -> None:
    # CL stops trading in the month before its name: on 4 Dec 2026, CLZ26 ended on 20 Nov.
    cl = instruments.instrument("CL")
    assert front_month(cl, datetime(2026, 12, 4, 13, tzinfo=CT)).key == "CLF27"
    for root in ("ES", "NQ", "MES", "CL", "GC", "ZN", "6E", "NG", "ZC", "LE"):
        instrument = instruments.instrument(root)
        for day in range(0, 730, 3):
            at = datetime(2026, 1, 1, 12, tzinfo=CT) + timedelta(days=day)
            contract = front_month(instrument, at)
            assert not contract.expired_at(at), (root, at, contract.key)


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

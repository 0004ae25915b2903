"""Which contract month the simulator trades: an approximate front month."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta

from propdesk.domain.instruments import MONTH_CODES, Contract, Instrument, InstrumentBook

__all__ = ["DEMO_ROOTS", "front_month", "front_months"]

DEMO_ROOTS = ("ES", "NQ", "MES", "CL")
"""What the demo strategy trades."""

# Volume moves to the next month about a week before the middle of the expiring one (equity index
# futures expire on the third Friday and roll the Thursday a week earlier). Close enough for a
# simulator; a month whose own last trade date comes sooner (CL stops in the month before its
# name) is skipped while it still has less than _LAST_DAYS to run.
_ROLL_DAY = 8
_LAST_DAYS = timedelta(days=2)


def front_month(instrument: Instrument, at: datetime) -> Contract:
    """The listed month most traded at `at`, approximately: the first whose roll day is after it
    and that trades on for a few days more."""
    today = at.date()
    year, month = today.year, today.month
    for _ in range(36):
        code = MONTH_CODES[month - 1]
        if code in instrument.months and date(year, month, _ROLL_DAY) > today:
            contract = Contract(instrument, code, year)
            if contract.trading_ends > at + _LAST_DAYS:
                return contract
        month += 1
        if month > 12:
            year, month = year + 1, 1
    raise ValueError(f"{instrument.root} lists no month within three years of {today}")


def front_months(book: InstrumentBook, roots: Iterable[str], at: datetime) -> list[Contract]:
    return [front_month(book.instrument(root), at) for root in roots]

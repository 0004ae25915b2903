"""Which contract month the simulator trades: an approximate front month."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime

from propdesk.domain.instruments import MONTH_CODES, Contract, Instrument, InstrumentBook

__all__ = ["DEMO_ROOTS", "front_month", "front_months"]

DEMO_ROOTS = ("ES", "NQ", "MES", "CL")
"""What the demo strategy trades."""

# Volume moves to the next month about a week before the middle of the expiring one (equity index
# futures expire on the third Friday and roll the Thursday a week earlier). Close enough for a
# simulator; real roll dates differ per product (CL expires in the month before its name).
_ROLL_DAY = 8


def front_month(instrument: Instrument, at: datetime) -> Contract:
    """The listed month most traded at `at`, approximately: the first whose roll day is after it."""
    today = at.date()
    year, month = today.year, today.month
    for _ in range(36):
        code = MONTH_CODES[month - 1]
        if code in instrument.months and date(year, month, _ROLL_DAY) > today:
            return Contract(instrument, code, year)
        month += 1
        if month > 12:
            year, month = year + 1, 1
    raise ValueError(f"{instrument.root} lists no month within three years of {today}")


def front_months(book: InstrumentBook, roots: Iterable[str], at: datetime) -> list[Contract]:
    return [front_month(book.instrument(root), at) for root in roots]

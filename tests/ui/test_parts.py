"""The console's small parts: the chart's ring buffer and how money and time are written."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest

from propdesk.ui import text
from propdesk.ui.series import RingSeries


def test_ring_series_keeps_the_newest_samples_in_order_without_copying() -> None:
    ring = RingSeries(4)
    for i in range(10):
        ring.append(float(i), float(10 * i))
    t, y = ring.arrays()
    assert t.tolist() == [6.0, 7.0, 8.0, 9.0]
    assert y.tolist() == [60.0, 70.0, 80.0, 90.0]
    assert np.shares_memory(t, ring._t)  # a view into the preallocated buffer
    assert len(ring) == 4


def test_ring_series_add_moves_the_tip_until_a_step_has_passed() -> None:
    ring = RingSeries(8)
    ring.add(0.0, 1.0, min_step=1.0)
    ring.add(0.1, 2.0, min_step=1.0)
    ring.add(0.6, 3.0, min_step=1.0)
    assert ring.arrays()[1].tolist() == [3.0]  # the live tip moved
    ring.add(1.0, 4.0, min_step=1.0)
    ring.add(2.0, 5.0, min_step=1.0)
    t, y = ring.arrays()
    assert t.tolist() == [0.6, 1.0, 2.0]
    assert y.tolist() == [3.0, 4.0, 5.0]


def test_ring_series_rejects_a_useless_capacity() -> None:
    with pytest.raises(ValueError, match="capacity"):
        RingSeries(1)


@pytest.mark.parametrize(
    ("value", "sign", "written"),
    [
        (Decimal("1234.5"), False, "$1,234.50"),
        (Decimal("-1234.567"), False, "\u2212$1,234.57"),
        (Decimal("12.3"), True, "+$12.30"),
        (Decimal("0"), True, "$0.00"),
        (None, False, "\u2014"),
    ],
)
def test_money(value: Decimal | None, sign: bool, written: str) -> None:
    assert text.money(value, sign=sign) == written


def test_prices_keep_their_tick_and_averages_stay_readable() -> None:
    assert text.price(Decimal("6004.5"), Decimal("0.25")) == "6,004.50"
    assert text.price(Decimal("69.98666666666666666666666667"), Decimal("0.01")) == "69.9867"


def test_spans_and_exchange_times() -> None:
    assert text.span(timedelta(hours=2, minutes=3, seconds=4)) == "2:03:04"
    assert text.span(timedelta(days=1, seconds=5)) == "1d 0:00:05"
    assert text.span(timedelta(seconds=-3)) == "0:00:00"
    assert text.ct_time(datetime(2026, 7, 1, 19, 40, tzinfo=UTC)) == "14:40 CT"  # CDT
    assert text.ct_time(datetime(2026, 12, 1, 20, 40, tzinfo=UTC)) == "14:40 CT"  # CST

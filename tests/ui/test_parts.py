"""The console's small parts: the chart's buffers, the header's news countdown, money and time."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from desk_helpers import Desk, build_desk, ct

from propdesk.domain.news import NewsEvent, Restriction
from propdesk.runtime.journal import JournalHealth
from propdesk.ui import text, theme
from propdesk.ui.header import Header, next_news
from propdesk.ui.pnl_chart import step_line
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


def test_ring_series_columns_share_one_time_axis_and_keep_their_dtype() -> None:
    ring = RingSeries(3, columns=2, dtype=np.float32)
    for i in range(5):
        ring.append(float(i), 50_000.0 + i, float(-i))
    t, values = ring.all_arrays()
    assert t.dtype == np.float64  # epoch seconds need it
    assert values.dtype == np.float32
    assert t.tolist() == [2.0, 3.0, 4.0]
    assert values[0].tolist() == [50_002.0, 50_003.0, 50_004.0]
    assert ring.arrays(1)[1].tolist() == [-2.0, -3.0, -4.0]
    assert ring.last_values() == (50_004.0, -4.0)


def test_ring_series_add_change_stores_only_changes_and_folds_quick_ones() -> None:
    nan = float("nan")
    ring = RingSeries(8, columns=2)
    assert ring.add_change(0.0, 48_000.0, nan, min_step=1.0)
    assert not ring.add_change(5.0, 48_000.0, nan, min_step=1.0)  # NaN equals NaN: no change
    assert ring.add_change(10.0, 48_500.0, nan, min_step=1.0)
    assert ring.add_change(10.4, 48_600.0, nan, min_step=1.0)  # within a step: folded in place
    t, values = ring.all_arrays()
    assert t.tolist() == [0.0, 10.0]
    assert values[0].tolist() == [48_000.0, 48_600.0]


def test_step_line_holds_each_value_until_the_next_and_the_last_until_the_end() -> None:
    x, y = step_line(np.array([0.0, 10.0, 20.0]), np.array([1.0, 2.0, 3.0]), end=25.0)
    assert x.tolist() == [0.0, 10.0, 10.0, 20.0, 20.0, 25.0]
    assert y.tolist() == [1.0, 1.0, 2.0, 2.0, 3.0, 3.0]


# -- the header's news countdown ---------------------------------------------------------------------
EIA = NewsEvent(
    at=ct(9, 30),
    title="EIA crude inventories",
    roots=frozenset({"CL"}),
    pre=timedelta(minutes=2),
    post=timedelta(minutes=3),
    restriction=Restriction.FLAT,
)


@pytest.fixture
def news_desk(qapp, tmp_path: Path) -> Iterator[Desk]:
    yield from build_desk(tmp_path, start=ct(8, 0), news=(EIA,))


def test_the_header_counts_down_to_the_next_news_window(news_desk: Desk, qtbot) -> None:
    header = Header(news_desk.runtime, "test")
    qtbot.addWidget(header)

    def shown(when: datetime) -> tuple[str, str, str]:
        header.refresh(news_desk.at(when))
        big = header.news_countdown
        return (
            big.text(),
            header.news_detail.text(),
            big.styleSheet().removeprefix("color: ").rstrip(";"),
        )

    big, detail, colour = shown(ct(8, 0))
    assert big.endswith("news in </span>1:28:00")  # to the window's start: 09:30 − 2 min
    assert detail == "EIA crude inventories (flat)\n09:28–09:33 CT"
    assert colour == theme.TEXT
    assert "Topstep 50K Combine" in header.news_detail.toolTip()

    big, _detail, colour = shown(ct(9, 20))
    assert big.endswith("0:08:00")
    assert colour == theme.BAD  # close: red

    big, _detail, colour = shown(ct(9, 29))  # inside the window: how long until it ends
    assert big.endswith("news ends in </span>0:04:00")
    assert colour == theme.BAD

    big, detail, colour = shown(ct(9, 34))
    assert detail == "no news window ahead"
    assert colour == theme.TEXT


def test_next_news_names_every_account_the_window_restricts(news_desk: Desk) -> None:
    news = next_news(news_desk.runtime, ct(8, 0))
    assert news is not None
    assert news.window.start == ct(9, 28)
    assert news.window.end == ct(9, 33)
    assert news.accounts == ("Topstep 50K Combine", "Apex 50K EOD", "Tradeify 50K Growth")
    assert next_news(news_desk.runtime, ct(9, 33)) is None


def test_the_header_says_while_the_journal_cannot_be_written(
    news_desk: Desk, qtbot, monkeypatch: pytest.MonkeyPatch
) -> None:
    header = Header(news_desk.runtime, "test")
    qtbot.addWidget(header)
    header.refresh(news_desk.at(ct(8, 0)))
    assert header.journal_label.isHidden()
    journal = news_desk.runtime.journal
    monkeypatch.setattr(journal, "_health", JournalHealth(False, "the disk is full (x)", 12))
    header.refresh(news_desk.at(ct(8, 0)))
    assert not header.journal_label.isHidden()
    assert header.journal_label.text() == "● journal: NOT WRITABLE"
    assert "the disk is full (x)" in header.journal_label.toolTip()
    assert str(journal.path) in header.journal_label.toolTip()
    monkeypatch.setattr(journal, "_health", JournalHealth(True, written=12))
    header.refresh(news_desk.at(ct(8, 0)))
    assert header.journal_label.isHidden()

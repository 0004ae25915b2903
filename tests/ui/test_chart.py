"""The P&L chart against a desk driven by hand: levels, markers, the stepped floor, every account."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from desk_helpers import Desk, build_desk, ct
from PySide6.QtGui import QColor
from ui_helpers import open_console, until

from propdesk.domain.guard import GuardState
from propdesk.ui import pnl_chart, theme
from propdesk.ui.chart_axes import place_tags
from propdesk.ui.pnl_chart import Measure, PnlChart, Scope

TS = "sim:TS-50K"  # Topstep 50K Combine: $1,000 daily limit, $2,000 EOD-trailing max loss


@pytest.fixture
def desk(qapp, tmp_path: Path) -> Iterator[Desk]:
    yield from build_desk(tmp_path, start=ct(8, 30))


@pytest.fixture
def chart(desk: Desk, qtbot) -> PnlChart:
    chart = PnlChart(desk.bridge)
    qtbot.addWidget(chart)
    # An explicit minimum: a top-level whose layout changed its minimum would make the offscreen
    # platform warn ("does not support propagateSizeHints").
    chart.setMinimumSize(1200, 420)
    chart.resize(1200, 420)
    chart.show()
    chart.show_account(TS, "Topstep 50K Combine")
    return chart


def draw(desk: Desk, chart: PnlChart, when) -> None:
    desk.deliver()
    chart.refresh(desk.at(when))


def expected_levels(desk: Desk) -> dict[str, Decimal]:
    """The guard's levels from the firm's numbers and the protocol's fractions, worked by hand."""
    account = desk.runtime.accounts[TS]
    profile, protocol = account.setup.profile, account.setup.protocol
    start = profile.start_balance
    daily = profile.daily_loss.amount.value
    drawdown = profile.max_loss.amount.value
    max_loss_floor = start - drawdown
    return {
        "daily floor": start - daily,
        "max-loss floor": max_loss_floor,
        # The higher of the daily reading and the max-loss cushion reading: equity meets it first.
        "warn": max(
            start - protocol.warn_fraction * daily,
            max_loss_floor + (1 - protocol.warn_fraction) * drawdown,
        ),
        "your stop": max(
            start - protocol.stop_fraction * daily,
            max_loss_floor + (1 - protocol.stop_fraction) * drawdown,
        ),
        "day start": start,
    }


def test_the_lines_sit_at_the_guards_levels_in_equity_and_in_day_pnl(
    desk: Desk, chart: PnlChart
) -> None:
    desk.fill(TS, ct(9, 0), "buy", 1, "6000.00")
    desk.mark(TS, ct(9, 1), "5994.00")  # −6 points × $50: −$300
    draw(desk, chart, ct(9, 1, 5))

    wanted = expected_levels(desk)
    assert wanted["warn"] == Decimal(49_500)
    assert wanted["your stop"] == Decimal(49_250)
    lines = {
        "daily floor": chart.daily_line,
        "max-loss floor": chart.max_loss_line,
        "warn": chart.warn_line,
        "your stop": chart.stop_line,
        "day start": chart.start_line,
    }
    for name, line in lines.items():
        assert line.isVisible(), name
        assert line.value() == pytest.approx(float(wanted[name])), name
    # Every line is named by a tag at its own level, and the live equity has one too.
    tags = {t.label.rsplit(" ", 1)[0]: t.value for t in chart.tags.tags}
    for name in lines:
        assert tags[name] == pytest.approx(float(wanted[name])), name
    assert tags["equity"] == pytest.approx(49_700.0)

    chart.set_measure(Measure.DAY_PNL)
    start = float(wanted["day start"])
    for name, line in lines.items():
        assert line.value() == pytest.approx(float(wanted[name]) - start), name
    _x, y = chart.curve.getData()
    assert y[-1] == pytest.approx(-300.0)


def test_close_levels_get_tags_that_do_not_overlap(desk: Desk, chart: PnlChart) -> None:
    desk.mark(TS, ct(9, 0), "6000.00")
    draw(desk, chart, ct(9, 0, 5))
    placed = chart.tags.layout()
    assert len(placed) == len(chart.tags.tags)  # 420 px hold every tag
    centres = sorted(centre for _tag, _level, centre in placed)
    gaps = np.diff(centres)
    assert gaps.min() >= chart.tags.tag_height - 1e-6
    # Day start and high-water are the same $50,000: both named, one nudged off the other.
    names = {tag.label.split(" $")[0] for tag, _level, _centre in placed}
    assert {"day start", "high-water"} <= names


def test_place_tags_keeps_order_spacing_and_bounds() -> None:
    wanted = [100.0, 101.0, 102.0, 5.0, 395.0]
    placed = place_tags(wanted, height=400.0, tag_height=20.0)
    order = sorted(range(len(wanted)), key=lambda i: wanted[i])
    assert [placed[i] for i in order] == sorted(placed)  # no tag jumps over another
    assert np.diff(sorted(placed)).min() >= 20.0
    assert min(placed) >= 10.0
    assert max(placed) <= 390.0
    # The three close ones spread around their middle (101), each as near its line as it can be.
    assert [placed[0], placed[1], placed[2]] == pytest.approx([81.0, 101.0, 121.0])
    assert placed[3] == pytest.approx(10.0)  # held inside the top
    assert placed[4] == pytest.approx(390.0)  # and the bottom


def test_a_fill_is_a_marker_at_its_time_and_the_equity_then(desk: Desk, chart: PnlChart) -> None:
    desk.mark(TS, ct(9, 0), "6000.00")
    draw(desk, chart, ct(9, 0, 1))
    buy_at, sell_at = ct(9, 5), ct(9, 20)
    desk.fill(TS, buy_at, "buy", 2, "6000.00")
    desk.mark(TS, ct(9, 10), "6004.00")  # +4 points × 2 × $50 = +$400 open
    desk.fill(TS, sell_at, "sell", 2, "6004.00")  # realized: +$400
    draw(desk, chart, ct(9, 20, 5))

    bx, by = chart.buys.getData()
    sx, sy = chart.sells.getData()
    assert bx.tolist() == [buy_at.timestamp()]
    assert by.tolist() == [pytest.approx(50_000.0)]  # a buy at the bid leaves equity where it was
    assert sx.tolist() == [sell_at.timestamp()]
    assert sy.tolist() == [pytest.approx(50_400.0)]

    chart.set_measure(Measure.DAY_PNL)  # the markers follow the curve's measure
    assert chart.sells.getData()[1].tolist() == [pytest.approx(400.0)]


def test_fill_markers_keep_the_newest_when_the_day_has_more_than_fit(desk: Desk) -> None:
    history = desk.bridge.account(TS)
    capacity = history.fills.capacity
    desk.mark(TS, ct(9, 0), "6000.00")
    for i in range(capacity + 5):
        side = "buy" if i % 2 == 0 else "sell"
        desk.fill(TS, ct(9, 1, 0).replace(microsecond=i), side, 1, "6000.00")
    desk.deliver()
    t, _values = history.fills.all_arrays()
    assert len(t) == capacity
    assert t[-1] == ct(9, 1, 0).replace(microsecond=capacity + 4).timestamp()


def test_a_state_change_is_a_marker_in_the_states_colour(desk: Desk, chart: PnlChart) -> None:
    desk.fill(TS, ct(9, 0), "buy", 1, "6000.00")
    draw(desk, chart, ct(9, 0, 5))
    assert len(chart.state_marks.data) == 0
    when = ct(9, 3)
    desk.mark(TS, when, "5989.00")  # −$550: past the warn level
    assert desk.runtime.accounts[TS].risk.status.state is GuardState.WARNING
    draw(desk, chart, ct(9, 3, 5))

    points = chart.state_marks.points()
    assert len(points) == 1
    spot = points[0]
    assert spot.pos().x() == when.timestamp()
    assert spot.pos().y() == pytest.approx(49_450.0)
    assert spot.brush().color() == QColor(theme.STATE_COLOURS[GuardState.WARNING][0])
    assert "ACTIVE → WARNING" in spot.data()
    assert chart.state_label.isVisible()
    assert chart.state_label.textItem.toPlainText() == theme.STATE_WORDS[GuardState.WARNING]


def test_the_stepped_floor_follows_the_floor_when_it_moves(desk: Desk, chart: PnlChart) -> None:
    desk.fill(TS, ct(9, 0), "buy", 1, "6000.00")
    desk.fill(TS, ct(9, 30), "sell", 1, "6010.00")  # +$500 realized: closes the day at 50,500
    draw(desk, chart, ct(9, 30, 5))
    before = desk.runtime.accounts[TS].risk.view().max_loss_floor
    desk.mark(TS, ct(16, 0, 1), "6010.00")  # past the session close: the EOD floor trails up
    moved_at = ct(16, 0, 5)
    draw(desk, chart, moved_at)
    after = desk.runtime.accounts[TS].risk.view().max_loss_floor
    assert (before, after) == (Decimal(48_000), Decimal(48_500))

    x, y = chart.floor_steps.getData()
    # Stairs: 48,000 from the first frame until the change, then 48,500 up to the curve's tip.
    assert y.tolist() == [48_000.0, 48_000.0, 48_500.0, 48_500.0]
    assert x.tolist() == [
        ct(9, 30, 5).timestamp(),
        moved_at.timestamp(),
        moved_at.timestamp(),
        moved_at.timestamp(),
    ]
    assert chart.max_loss_line.value() == pytest.approx(48_500.0)
    # The high it trails: the highest close, 50,500.
    assert chart.high_water_steps.getData()[1][-1] == pytest.approx(50_500.0)


def test_the_all_accounts_view_draws_one_curve_per_account(desk: Desk, chart: PnlChart) -> None:
    for key in desk.runtime.accounts:
        desk.mark(key, ct(9, 0), "6000.00")
    draw(desk, chart, ct(9, 0, 1))
    desk.fill(TS, ct(9, 1), "buy", 1, "6000.00")
    desk.mark(TS, ct(9, 2), "5998.00")  # Topstep −$100
    draw(desk, chart, ct(9, 2, 5))

    chart.set_scope(Scope.ALL)
    assert set(chart.account_curves) == set(desk.runtime.accounts)
    assert all(curve.isVisible() for curve in chart.account_curves.values())
    assert not chart.curve.isVisible()
    assert not chart.daily_line.isVisible()
    assert chart.zero_line.isVisible()
    assert chart.zero_line.value() == 0.0
    colours = {c.opts["pen"].color().name() for c in chart.account_curves.values()}
    assert len(colours) == len(desk.runtime.accounts)

    # Equity − start: each curve is its own equity, moved down by its starting balance.
    curve = chart.account_curves[TS]
    _x, y = curve.getData()
    assert y[-1] + curve.pos().y() == pytest.approx(-100.0)

    chart.set_measure(Measure.DAY_PNL)
    _x, y = chart.account_curves[TS].getData()
    assert (y[-1], chart.account_curves[TS].pos().y()) == (pytest.approx(-100.0), 0.0)
    # Every account's stop sits at −75% of its own daily limit: Tradeify's limit differs, so no
    # single stop line would be true for all of them.
    assert chart.shared_stop is None
    assert not chart.shared_stop_line.isVisible()

    chart.show_account(TS, "Topstep 50K Combine")  # a click on a card charts that account
    assert chart.scope is Scope.SELECTED
    assert chart.curve.isVisible()
    assert not any(curve.isVisible() for curve in chart.account_curves.values())


def test_a_frame_redraws_only_what_moved(desk: Desk, chart: PnlChart, monkeypatch) -> None:
    desk.mark(TS, ct(9, 0), "6000.00")
    draw(desk, chart, ct(9, 0, 1))
    calls: list[str] = []
    for name in ("curve", "floor_steps", "buys", "sells", "state_marks"):
        item = getattr(chart, name)
        original = item.setData
        monkeypatch.setattr(
            item, "setData", lambda *a, _o=original, _n=name, **k: (calls.append(_n), _o(*a, **k))
        )
    chart.refresh(desk.bridge.current)  # the same frame again: nothing moved
    assert calls == []
    chart.refresh(desk.at(ct(9, 0, 3)))  # time moved: the curve's tip (and the stairs' end)
    assert sorted(calls) == ["curve", "floor_steps"]


def test_the_chart_shows_exchange_time_around_daylight_saving(desk: Desk, chart: PnlChart) -> None:
    draw(desk, chart, ct(9, 0))
    offset = ct(9, 0).utcoffset()
    assert offset is not None
    assert chart.axis.utcOffset == -int(offset.total_seconds())


def test_the_all_accounts_view_redraws_its_curves_in_turn(
    desk: Desk, chart: PnlChart, monkeypatch
) -> None:
    monkeypatch.setattr(pnl_chart, "ALL_CURVES_PER_FRAME", 1)  # 3 accounts: one curve a frame
    for key in desk.runtime.accounts:
        desk.mark(key, ct(9, 0), "6000.00")
    draw(desk, chart, ct(9, 0, 1))
    chart.set_scope(Scope.ALL)  # a new view draws every curve at once
    redrawn: list[str] = []
    for key, curve in chart.account_curves.items():
        original = curve.setData
        monkeypatch.setattr(
            curve, "setData", lambda *a, _o=original, _k=key, **k: (redrawn.append(_k), _o(*a, **k))
        )
    for second in range(2, 8):
        chart.refresh(desk.at(ct(9, 0, second)))  # every account's samples move every frame
    # Six frames, three accounts: each curve redrawn every third frame, one curve a frame.
    assert len(redrawn) == 6
    assert sorted(redrawn) == sorted(list(desk.runtime.accounts) * 2)


def _drawn(curve) -> int:
    x, _y = curve.getData()
    return 0 if x is None else len(x)


@pytest.mark.timeout(60)
async def test_the_demo_console_counts_down_to_its_news_and_charts_every_account(
    tmp_path: Path, qtbot
) -> None:
    async with open_console(tmp_path, qtbot) as console:
        window = console.window
        header = window.header
        await until(lambda: window.bridge.current is not None, what="a first frame")
        # The demo starts at 13:45 CT; its Fed speaker's window opens at 13:58 CT.
        await until(lambda: "Fed speaker" in header.news_detail.text(), what="the news window")
        assert "news in" in header.news_countdown.text()
        assert "no executions" in header.news_detail.text()

        window.chart.scope_buttons.buttons[Scope.ALL].click()  # the segmented control, clicked
        assert window.chart.scope is Scope.ALL
        await until(
            lambda: (
                len(window.chart.account_curves) == len(console.workspace.runtime.accounts)
                and all(_drawn(c) > 1 for c in window.chart.account_curves.values())
            ),
            what="a curve per account",
        )
        window.chart.measure_buttons.buttons[Measure.DAY_PNL].click()
        assert window.chart.title.text() == "All accounts · day P&L"

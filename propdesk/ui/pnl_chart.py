"""The P&L chart: one account's equity (or day P&L) against its levels, or every account's curve.

Selected account: the curve against horizontal lines at the protocol's warn level, the user's stop, the
firm's daily and max-loss floors and the day's start; the max-loss floor's history as a stepped line
and the high it trails as another; fills (▲ buy / ▼ sell) and state changes (◆ in the state's colour)
as markers. All accounts: one curve per account (day P&L, or equity − start) around the zero line.

Each level is named by a tag in the right margin (chart_axes.LevelTags). Everything drawn comes from
the bridge's preallocated buffers, with one `setData` per item per frame and only when its buffer
moved; dense curves use width-1 pens (wide pens are the real cost: research/qt-stack.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QVBoxLayout, QWidget

from propdesk.domain.account import AccountView
from propdesk.domain.guard import GuardState
from propdesk.ui import text, theme
from propdesk.ui.bridge import (
    DAY_PNL,
    DAY_START,
    EQUITY,
    HIGH_WATER,
    MARK_KIND,
    MAX_LOSS_FLOOR,
    AccountHistory,
    Bridge,
    Frame,
)
from propdesk.ui.chart_axes import (
    GRID_Z,
    ExchangeTimeAxis,
    LevelTags,
    MoneyAxis,
    Tag,
    short_money,
)
from propdesk.ui.segments import Segments

MIN_SPAN = 30 * 60.0  # clock seconds: a fresh chart shows half an hour, not a few seconds
X_SLACK = 0.01  # of the x range: how near its edges the data may come before the range moves
MIN_MONEY_SPAN = 100.0  # dollars: a flat curve is not blown up to fill the chart
# The all-accounts view redraws this many curves a frame, in turn: 20 accounts × 82,800 samples
# every frame cost ~70 ms a frame (measured); in turn, each curve still moves twice a second.
ALL_CURVES_PER_FRAME = 4


class Scope(StrEnum):
    SELECTED = "selected"
    ALL = "all"


class Measure(StrEnum):
    EQUITY = "equity"
    DAY_PNL = "day_pnl"


# -- drawing helpers ------------------------------------------------------------------------------
def step_line(t: np.ndarray, v: np.ndarray, end: float) -> tuple[np.ndarray, np.ndarray]:
    """Stairs through the changes (t_i, v_i): each value holds until the next; the last until `end`."""
    n = len(t)
    x = np.empty(2 * n, dtype=np.float64)
    y = np.empty(2 * n, dtype=np.float64)
    x[0::2] = t
    x[1:-1:2] = t[1:]
    x[-1] = max(end, float(t[-1]))
    y[0::2] = v
    y[1::2] = v
    return x, y


def _dense(curve: pg.PlotDataItem) -> pg.PlotDataItem:
    """A curve of up to a day of samples: peak-downsampled to one min/max pair a pixel column.

    pyqtgraph's default keeps ~5 samples a pixel; peak mode already draws each column's extremes,
    so one is lossless on screen and a fifth of the path to build and paint.
    """
    curve.opts["autoDownsampleFactor"] = 1.0
    return curve


def _hline(colour: str, style: Qt.PenStyle, width: int = 1) -> pg.InfiniteLine:
    line = pg.InfiniteLine(angle=0, movable=False, pen=pg.mkPen(colour, width=width, style=style))
    line.setVisible(False)
    return line


_SYMBOL_BUY, _SYMBOL_SELL, _SYMBOL_STATE = "t1", "t", "d"  # ▲ ▼ ◆


# Level name → (colour, tag priority: when the margin is full, the lowest numbers stay).
_LEVEL_STYLE: dict[str, tuple[str, int]] = {
    "max-loss floor": (theme.CHART_MAX_LOSS_FLOOR, 1),
    "daily floor": (theme.CHART_DAILY_FLOOR, 2),
    "your stop": (theme.CHART_STOP, 3),
    "warn": (theme.CHART_WARN, 4),
    "day start": (theme.CHART_START, 5),
    "high-water": (theme.CHART_HIGH_WATER, 6),
}


@dataclass(frozen=True, slots=True)
class _Level:
    """One horizontal line: its value in the chart's measure (None: hidden)."""

    name: str
    value: float | None


class PnlChart(QWidget):
    def __init__(self, bridge: Bridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.scope = Scope.SELECTED
        self.measure = Measure.EQUITY
        self.key: str | None = None

        box = QVBoxLayout(self)
        box.setContentsMargins(8, 4, 8, 8)
        box.setSpacing(2)
        top = QHBoxLayout()
        top.setSpacing(12)
        self.title = QLabel("")
        self.title.setFont(theme.font(theme.TITLE_PT - 1, bold=True))
        self.legend = QLabel("")
        self.legend.setTextFormat(Qt.TextFormat.RichText)
        self.legend.setWordWrap(True)
        self.legend.setFont(theme.font(theme.SMALL_PT))
        self.legend.setProperty("role", "dim")
        self.scope_buttons = Segments(
            [
                (Scope.SELECTED, "Selected account", "Chart the account whose card you clicked"),
                (Scope.ALL, "All accounts", "Every account's curve on one chart"),
            ]
        )
        self.measure_buttons = Segments(
            [
                (Measure.EQUITY, "Equity", "Equity (all accounts: equity − starting balance)"),
                (Measure.DAY_PNL, "Day P&&L", "P&L since the trading day's start"),
            ]
        )
        self.scope_buttons.changed.connect(lambda v: self.set_scope(Scope(v)))
        self.measure_buttons.changed.connect(lambda v: self.set_measure(Measure(v)))
        top.addWidget(self.title)
        top.addWidget(self.legend, 1)
        top.addWidget(self.scope_buttons)
        top.addWidget(self.measure_buttons)
        box.addLayout(top)

        self.axis = ExchangeTimeAxis(orientation="bottom")
        self.tags = LevelTags()
        self.plot = pg.PlotWidget(
            axisItems={
                "bottom": self.axis,
                "left": MoneyAxis(orientation="left"),
                "right": self.tags,
            },
            background=theme.CHART_BACKGROUND,
        )
        item = self.plot.getPlotItem()
        item.showAxis("right")
        item.showGrid(x=True, y=True, alpha=0.15)
        item.setMenuEnabled(False)
        item.hideButtons()
        item.setClipToView(True)
        item.setDownsampling(auto=True, mode="peak")
        tick_font = theme.font(theme.SMALL_PT)
        for side in ("left", "bottom"):
            axis = item.getAxis(side)
            axis.setZValue(GRID_Z)
            axis.setTickFont(tick_font)
            axis.setTextPen(pg.mkPen(theme.TEXT_DIM))
            axis.setPen(pg.mkPen(theme.BORDER))
        self.tags.setPen(pg.mkPen(theme.BORDER))
        item.getAxis("left").setWidth(96)
        item.setLabel("bottom", "exchange time (CT)", color=theme.TEXT_DIM)
        self.plot.setMouseEnabled(x=False, y=False)
        item.disableAutoRange()
        self._item = item

        # The selected account's items, back to front.
        dash, dot, dashdot = (
            Qt.PenStyle.DashLine,
            Qt.PenStyle.DotLine,
            Qt.PenStyle.DashDotLine,
        )
        self.start_line = _hline(theme.CHART_START, dash)
        self.high_water_line = _hline(theme.CHART_HIGH_WATER, dot)
        self.warn_line = _hline(theme.CHART_WARN, dot, 2)
        self.stop_line = _hline(theme.CHART_STOP, dashdot, 2)
        self.daily_line = _hline(theme.CHART_DAILY_FLOOR, dash, 2)
        self.max_loss_line = _hline(theme.CHART_MAX_LOSS_FLOOR, dash)
        self._lines = {
            "day start": self.start_line,
            "high-water": self.high_water_line,
            "warn": self.warn_line,
            "your stop": self.stop_line,
            "daily floor": self.daily_line,
            "max-loss floor": self.max_loss_line,
        }
        for line in self._lines.values():
            item.addItem(line, ignoreBounds=True)
        # The floor's and the high's history: a few changes a day, so a width-2 pen costs nothing.
        self.high_water_steps = item.plot(
            pen=pg.mkPen(theme.CHART_HIGH_WATER, width=1, style=dot), name="high-water"
        )
        self.floor_steps = item.plot(
            pen=pg.mkPen(theme.CHART_MAX_LOSS_FLOOR, width=2), name="max-loss floor"
        )
        self.curve = _dense(item.plot(pen=pg.mkPen(theme.CHART_EQUITY, width=1), name="equity"))
        edge = pg.mkPen(theme.CHART_MARKER_EDGE, width=1)
        self.buys = pg.ScatterPlotItem(
            symbol=_SYMBOL_BUY, size=12, pen=edge, brush=pg.mkBrush(theme.CHART_BUY)
        )
        self.sells = pg.ScatterPlotItem(
            symbol=_SYMBOL_SELL, size=12, pen=edge, brush=pg.mkBrush(theme.CHART_SELL)
        )
        self.state_marks = pg.ScatterPlotItem(
            symbol=_SYMBOL_STATE,
            size=14,
            pen=pg.mkPen(theme.TEXT, width=1),
            hoverable=True,
            tip=lambda x, y, data: (
                f"{text.ct_time(datetime.fromtimestamp(x, UTC), seconds=True)}  {data}"
            ),
        )
        self.state_label = pg.TextItem("", anchor=(0, 1.2))
        self.state_label.setFont(theme.font(theme.SMALL_PT, bold=True))
        self.state_label.setVisible(False)
        for marker in (self.buys, self.sells, self.state_marks, self.state_label):
            item.addItem(marker, ignoreBounds=True)
        self._state_brushes = {
            state: pg.mkBrush(colours[0]) for state, colours in theme.STATE_COLOURS.items()
        }
        self._selected_items: tuple[pg.GraphicsObject, ...] = (
            self.high_water_steps,
            self.floor_steps,
            self.curve,
            self.buys,
            self.sells,
            self.state_marks,
        )

        # The all-accounts items: the zero line and the stop they share, if they share one.
        self.zero_line = _hline(theme.CHART_START, dash)
        self.shared_stop_line = _hline(theme.CHART_STOP, dashdot, 2)
        item.addItem(self.zero_line, ignoreBounds=True)
        item.addItem(self.shared_stop_line, ignoreBounds=True)
        self.account_curves: dict[str, pg.PlotDataItem] = {}
        self.shared_stop: float | None = None

        box.addWidget(self.plot, 1)

        self._name = ""
        self._legend_size = 0
        self._frame_no = 0  # frames drawn in the all-accounts view: whose turn it is to redraw
        self._drawn: dict[str, int] = {}  # item name → the buffer version it shows
        self._step_extent: list[float] = []  # the stepped floor's low and high, for the fit
        self._levels: tuple[_Level, ...] = ()
        self._range: tuple[float, float] | None = None
        self._x_range: tuple[float, float] | None = None
        self._apply_scope()

    def hasHeightForWidth(self) -> bool:
        # The wrapping legend would make the chart height-for-width, and the window's layout would
        # then size it by that instead of leaving it what the cards do not take.
        return False

    # -- choices --------------------------------------------------------------------------------
    def show_account(self, key: str, name: str) -> None:
        """Chart this account (a click on its card): the selected view, from scratch."""
        self.key = key
        self._name = name
        self.scope_buttons.set_value(Scope.SELECTED)
        self.scope = Scope.SELECTED
        self._apply_scope()

    def set_scope(self, scope: Scope) -> None:
        self.scope = scope
        self.scope_buttons.set_value(scope)
        self._apply_scope()

    def set_measure(self, measure: Measure) -> None:
        self.measure = measure
        self.measure_buttons.set_value(measure)
        self._apply_scope()

    def _apply_scope(self) -> None:
        """Show the scope's items, forget what was drawn, redraw from the current frame."""
        selected = self.scope is Scope.SELECTED
        for thing in self._selected_items:
            thing.setVisible(selected)
            if isinstance(thing, pg.PlotDataItem | pg.ScatterPlotItem):
                thing.setData([], [])
        self.state_label.setVisible(False)
        for line in self._lines.values():
            line.setVisible(False)
        self.zero_line.setVisible(not selected)
        self.shared_stop_line.setVisible(False)
        for curve in self.account_curves.values():
            curve.setVisible(not selected)
            curve.setData([], [])
        self._drawn.clear()
        self._levels = ()
        self._range = None
        self._x_range = None
        self.tags.set_tags(())
        self._write_title()
        current = self.bridge.current
        if current is not None:
            self.refresh(current)

    def _write_title(self) -> None:
        measure = "Equity" if self.measure is Measure.EQUITY else "Day P&L"
        if self.scope is Scope.ALL:
            what = "equity − start" if self.measure is Measure.EQUITY else "day P&L"
            self.title.setText(f"All accounts · {what}")
            self._write_account_legend()
            return
        name = self._name or (self.key or "")
        self.title.setText(f"{measure} · {name}" if name else measure)
        # The lines are named by their tags on the right; the legend names what has no tag.
        self.legend.setText(
            " &nbsp; ".join(
                [
                    f'<span style="color: {theme.CHART_BUY};">▲</span> buy',
                    f'<span style="color: {theme.CHART_SELL};">▼</span> sell',
                    "◆ state change (hover: why)",
                    f'<span style="color: {theme.CHART_MAX_LOSS_FLOOR};">━━</span> max-loss floor '
                    "over time",
                ]
            )
        )

    def _write_account_legend(self) -> None:
        self._legend_size = len(self.bridge.runtime.accounts)
        parts = []
        for index, key in enumerate(self.bridge.runtime.accounts):
            account = self.bridge.runtime.accounts[key]
            colour = self._account_colour(index)
            dashed = index >= len(theme.CHART_ACCOUNTS)
            line = "╌╌" if dashed else text.DASH + text.DASH
            name = (account.setup.name or key).replace(" ", "&nbsp;")  # wraps between entries only
            parts.append(f'<span style="color: {colour};">{line}&nbsp;{name}</span>')
        self.legend.setText(" &nbsp; ".join(parts))

    @staticmethod
    def _account_colour(index: int) -> str:
        return theme.CHART_ACCOUNTS[index % len(theme.CHART_ACCOUNTS)]

    # -- the frame --------------------------------------------------------------------------------
    def refresh(self, frame: Frame) -> None:
        self.axis.set_time(frame.now.timestamp())
        if self.scope is Scope.SELECTED:
            self._refresh_selected(frame)
        else:
            self._refresh_all(frame)

    def _moved(self, name: str, version: int) -> bool:
        if self._drawn.get(name) == version:
            return False
        self._drawn[name] = version
        return True

    # -- one account ------------------------------------------------------------------------------
    def _refresh_selected(self, frame: Frame) -> None:
        key = self.key
        if key is None:
            return
        view = frame.views.get(key)
        history = self.bridge.history.get(key)
        if view is None or history is None or not len(history.samples):
            return
        day = self.measure is Measure.DAY_PNL
        column = DAY_PNL if day else EQUITY
        base = float(view.day_start_balance or 0) if day else 0.0

        levels = self._levels_of(view, base)
        if levels != self._levels:
            self._levels = levels
            for level in levels:
                line = self._lines[level.name]
                line.setVisible(level.value is not None)
                if level.value is not None:
                    line.setPos(level.value)
            self._range = None  # refit with the new levels

        samples = history.samples
        t, y = samples.arrays(column)
        moved = self._moved("samples", samples.version)
        if moved:
            self.curve.setData(t, y)
            self._steps(history, day, float(t[-1]))
        elif self._moved("levels", history.levels.version):
            self._steps(history, day, float(t[-1]))
        self._drawn["levels"] = history.levels.version
        if self._moved("fills", history.fills.version):
            self._fills(history, column)
        if self._moved("states", history.states.version):
            self._states(history, column)
        if moved or self._range is None:
            self._fit_x(float(t[0]), float(t[-1]))
            low, high = float(y.min()), float(y.max())
            extra = [lv.value for lv in levels if lv.value is not None]
            extra += self._step_extent
            self._fit(min([low, *extra]), max([high, *extra]))
            self.tags.set_tags(self._selected_tags(levels, float(y[-1]), day))

    def _levels_of(self, view: AccountView, base: float) -> tuple[_Level, ...]:
        def at(value: Decimal | None) -> float | None:
            return None if value is None else float(value) - base

        return (
            _Level("day start", at(view.day_start_balance)),
            _Level("high-water", at(view.high_water)),
            _Level("warn", at(view.warn_level)),
            _Level("your stop", at(view.stop_level)),
            _Level("daily floor", at(view.daily_floor)),
            _Level("max-loss floor", at(view.max_loss_floor)),
        )

    def _selected_tags(self, levels: Sequence[_Level], now: float, day: bool) -> list[Tag]:
        tags = [
            Tag(
                now,
                f"{'day' if day else 'equity'} {short_money(now, sign=day)}",
                theme.CHART_EQUITY,
                0,
            )
        ]
        for level in levels:
            if level.value is None:
                continue
            colour, priority = _LEVEL_STYLE[level.name]
            tags.append(
                Tag(
                    level.value,
                    f"{level.name} {short_money(level.value, sign=day)}",
                    colour,
                    priority,
                )
            )
        return tags

    def _steps(self, history: AccountHistory, day: bool, end: float) -> None:
        """The max-loss floor's and the high-water's history as stairs up to the curve's tip."""
        t, values = history.levels.all_arrays()
        if not len(t):
            self._step_extent = []
            return
        base = values[DAY_START] if day else 0.0
        floor = values[MAX_LOSS_FLOOR] - base
        high = values[HIGH_WATER] - base
        self.floor_steps.setData(*step_line(t, floor, end))
        self.high_water_steps.setData(*step_line(t, high, end))
        finite = floor[np.isfinite(floor)]
        self._step_extent = [float(finite.min()), float(finite.max())] if len(finite) else []

    def _fills(self, history: AccountHistory, column: int) -> None:
        t, values = history.fills.all_arrays()
        side = values[MARK_KIND]
        y = values[column]
        buy = side > 0
        self.buys.setData(t[buy], y[buy])
        self.sells.setData(t[~buy], y[~buy])

    def _states(self, history: AccountHistory, column: int) -> None:
        t, values = history.states.all_arrays()
        if not len(t):
            self.state_marks.setData([], [])
            self.state_label.setVisible(False)
            return
        y = values[column]
        kinds = [GuardState(int(k)) for k in values[MARK_KIND]]
        reasons = list(history.state_reasons)[-len(t) :]
        self.state_marks.setData(
            t,
            y,
            brush=[self._state_brushes[k] for k in kinds],
            data=np.array(reasons, dtype=object),
        )
        newest = kinds[-1]
        self.state_label.setText(theme.STATE_WORDS[newest], color=theme.STATE_TEXT[newest])
        self.state_label.setPos(float(t[-1]), float(y[-1]))
        self.state_label.setVisible(True)
        self._place_state_label()

    def _place_state_label(self) -> None:
        """Above its marker, or below it when the marker is in the top half (never off the chart)."""
        if self._range is None or not self.state_label.isVisible():
            return
        y = self.state_label.pos().y()
        low, high = self._range
        self.state_label.setAnchor((0, -0.2) if y > (low + high) / 2 else (0, 1.2))

    # -- every account ------------------------------------------------------------------------------
    def _refresh_all(self, frame: Frame) -> None:
        day = self.measure is Measure.DAY_PNL
        column = DAY_PNL if day else EQUITY
        lows, highs, firsts, lasts = [0.0], [0.0], [], []
        tags: list[Tag] = []
        stops: set[float] = set()
        first = self._range is None  # a new view: every curve now, not in turn
        moved = first
        self._frame_no += 1
        stride = max(1, -(-len(frame.views) // ALL_CURVES_PER_FRAME))  # ceil
        for index, (key, view) in enumerate(frame.views.items()):
            history = self.bridge.history.get(key)
            if history is None or not len(history.samples):
                continue
            curve = self._account_curve(key, index)
            base = 0.0 if day else float(view.start_balance or 0)
            t, y = history.samples.arrays(column)
            turn = first or (self._frame_no - index) % stride == 0
            if turn and self._moved(f"all:{key}", history.samples.version):
                curve.setData(t, y)
                curve.setPos(0, -base)  # equity − start without a copy of the history
                moved = True
            lows.append(float(y.min()) - base)
            highs.append(float(y.max()) - base)
            firsts.append(float(t[0]))
            lasts.append(float(t[-1]))
            now = float(y[-1]) - base
            name = self.bridge.runtime.accounts[key].ref.account_id
            colour = self._account_colour(index)
            tags.append(Tag(now, f"{name} {short_money(now, sign=True)}", colour, 0))
            stop_base = float(view.day_start_balance or 0) if day else base
            stops.add(
                round(float(view.stop_level) - stop_base, 2)
                if view.stop_level is not None
                else float("nan")
            )
        if not firsts:
            return
        # When the margin cannot name every account, it names the ones furthest down first.
        tags = [
            Tag(t.value, t.label, t.colour, 1 + rank)
            for rank, t in enumerate(sorted(tags, key=lambda t: t.value))
        ]
        if len(self.account_curves) != self._legend_size:
            self._write_account_legend()  # an account joined after the view was chosen
        # One stop line only when every account's stop sits at the same distance from its zero.
        shared = stops.pop() if len(stops) == 1 else None
        shared = None if shared is None or np.isnan(shared) else shared
        if shared != self.shared_stop:
            self.shared_stop = shared
            self.shared_stop_line.setVisible(shared is not None)
            if shared is not None:
                self.shared_stop_line.setPos(shared)
            self._range = None
        self.zero_line.setPos(0.0)
        tags.append(Tag(0.0, "zero", theme.CHART_START, 0))
        if shared is not None:
            tags.append(
                Tag(shared, f"your stop {short_money(shared, sign=True)}", theme.CHART_STOP, 0)
            )
            lows.append(shared)
        if moved or self._range is None:
            self._fit_x(min(firsts), max(lasts))
            self._fit(min(lows), max(highs))
            self.tags.set_tags(tags)

    def _account_curve(self, key: str, index: int) -> pg.PlotDataItem:
        curve = self.account_curves.get(key)
        if curve is None:
            style = (
                Qt.PenStyle.SolidLine if index < len(theme.CHART_ACCOUNTS) else Qt.PenStyle.DashLine
            )
            pen = pg.mkPen(self._account_colour(index), width=1, style=style)
            curve = _dense(self._item.plot(pen=pen, name=key))
            self.account_curves[key] = curve
        return curve

    # -- ranges -----------------------------------------------------------------------------------
    def _fit_x(self, first: float, last: float) -> None:
        """From the first sample to now, at least MIN_SPAN wide, a little room on the right.

        The range stays put until the newest sample comes within X_SLACK of the right edge (or the
        oldest leaves the left one): a range that moved on every frame re-laid the axes and made
        Qt repaint the plot a second time each frame, half the frame's cost (bench/ui_firehose.py).
        """
        current = self._x_range
        if current is not None:
            slack = X_SLACK * (current[1] - current[0])
            if current[0] <= first <= current[0] + slack and last <= current[1] - slack:
                return
        span = max(last - first, MIN_SPAN)
        wanted = (first, first + span * 1.03)
        if wanted != self._x_range:
            self._x_range = wanted
            self._item.setXRange(*wanted, padding=0)

    def _fit(self, lo: float, hi: float) -> None:
        """Keep the curves and the levels in view, with a margin; move only when they leave it."""
        span = max(hi - lo, MIN_MONEY_SPAN)
        wanted = (lo - span * 0.08, hi + span * 0.08)
        current = self._range
        if (
            current is not None
            and current[0] <= lo
            and hi <= current[1]
            and (current[1] - current[0]) <= 2.5 * (wanted[1] - wanted[0])
        ):
            return  # still in view and not far too loose: leave it (no jitter)
        self._range = wanted
        self._item.setYRange(*wanted, padding=0)
        self._place_state_label()

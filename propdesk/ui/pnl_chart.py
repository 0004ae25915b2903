"""The P&L chart of the selected account: equity over time against its floors, in exchange time.

Equity comes from the bridge's ring buffer and is drawn with one `setData` per frame, only when the
buffer moved, with a width-1 pen (wide pens are the real cost: research/qt-stack.md). The floors are
horizontal lines; the y range always holds both the equity and the nearest floors, so the distance left
is visible at a glance.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pyqtgraph as pg
from PySide6.QtWidgets import QHBoxLayout, QLabel, QVBoxLayout, QWidget

from propdesk.domain.account import AccountView
from propdesk.ui import text, theme
from propdesk.ui.bridge import Frame
from propdesk.ui.series import RingSeries

MIN_SPAN = 30 * 60.0  # clock seconds: a fresh chart shows half an hour, not a few seconds


class ExchangeTimeAxis(pg.DateAxisItem):
    """Date axis in America/Chicago, its UTC offset following daylight saving time."""

    def set_time(self, epoch: float) -> None:
        offset = datetime.fromtimestamp(epoch, UTC).astimezone(text.CT).utcoffset()
        seconds = -int(offset.total_seconds()) if offset is not None else 0
        if self.utcOffset != seconds:
            self.utcOffset = seconds
            self.picture = None
            self.update()


class MoneyAxis(pg.AxisItem):
    """Dollars with thousands separators: $49,000, not 49000."""

    def tickStrings(self, values: list[float], scale: float, spacing: float) -> list[str]:
        if spacing >= 1:  # whole dollars
            return [text.money(Decimal(round(v))).removesuffix(".00") for v in values]
        return [text.money(Decimal(f"{v:.2f}")) for v in values]


def _line(colour: str, label: str) -> pg.InfiniteLine:
    line = pg.InfiniteLine(
        angle=0,
        movable=False,
        pen=pg.mkPen(colour, width=1, style=pg.QtCore.Qt.PenStyle.DashLine),
        label=label,
        labelOpts={
            "position": 0.02,
            "color": colour,
            "anchors": [(0, 1), (0, 1)],
            "fill": pg.mkBrush(theme.CHART_BACKGROUND),
        },
    )
    line.label.setFont(theme.font(theme.SMALL_PT, bold=True))
    line.setVisible(False)
    return line


class PnlChart(QWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        box = QVBoxLayout(self)
        box.setContentsMargins(8, 4, 8, 8)
        box.setSpacing(2)
        top = QHBoxLayout()
        self.title = QLabel("")
        self.title.setFont(theme.font(theme.TITLE_PT - 1, bold=True))
        hint = QLabel("click an account's card to chart it")
        hint.setProperty("role", "dim")
        hint.setFont(theme.font(theme.SMALL_PT))
        top.addWidget(self.title)
        top.addStretch(1)
        top.addWidget(hint)
        box.addLayout(top)

        self.axis = ExchangeTimeAxis(orientation="bottom")
        self.plot = pg.PlotWidget(
            axisItems={"bottom": self.axis, "left": MoneyAxis(orientation="left")},
            background=theme.CHART_BACKGROUND,
        )
        item = self.plot.getPlotItem()
        item.showGrid(x=True, y=True, alpha=0.15)
        item.setMenuEnabled(False)
        item.hideButtons()
        item.setClipToView(True)
        item.setDownsampling(auto=True, mode="peak")
        tick_font = theme.font(theme.SMALL_PT)
        for side in ("left", "bottom"):
            axis = item.getAxis(side)
            axis.setTickFont(tick_font)
            axis.setTextPen(pg.mkPen(theme.TEXT_DIM))
            axis.setPen(pg.mkPen(theme.BORDER))
        item.getAxis("left").setWidth(96)
        item.setLabel("bottom", "exchange time (CT)", color=theme.TEXT_DIM)
        self.plot.setMouseEnabled(x=False, y=False)
        item.disableAutoRange()
        self.curve = item.plot(pen=pg.mkPen(theme.CHART_EQUITY, width=1), name="equity")
        self.daily_line = _line(theme.CHART_DAILY_FLOOR, "daily floor")
        self.max_loss_line = _line(theme.CHART_MAX_LOSS_FLOOR, "max-loss floor")
        item.addItem(self.daily_line, ignoreBounds=True)
        item.addItem(self.max_loss_line, ignoreBounds=True)
        box.addWidget(self.plot, 1)

        self.key: str | None = None
        self._series: RingSeries | None = None  # the selected account's equity history
        self._drawn = -1
        self._range: tuple[float, float] | None = None
        self._x_range: tuple[float, float] | None = None
        self._floors: tuple[object, object] | None = None

    def show_account(self, key: str, name: str, series: RingSeries) -> None:
        self.key = key
        self._series = series
        self._drawn = -1
        self._range = None
        self._x_range = None
        self._floors = None
        self.curve.setData([], [])
        self.title.setText(f"Equity · {name}")

    def refresh(self, frame: Frame) -> None:
        if self.key is None:
            return
        view = frame.views.get(self.key)
        if view is None:
            return
        self.axis.set_time(frame.now.timestamp())
        self._floors_from(view)
        series = self._series
        if series is None or series.version == self._drawn or not len(series):
            return
        self._drawn = series.version
        t, y = series.arrays()
        self.curve.setData(t, y)
        self._fit_x(float(t[0]), float(t[-1]))
        self._fit(float(y.min()), float(y.max()), view)

    def _floors_from(self, view: AccountView) -> None:
        floors = (view.daily_floor, view.max_loss_floor)
        if floors == self._floors:
            return
        self._floors = floors
        for line, value, name in (
            (self.daily_line, view.daily_floor, "daily floor"),
            (self.max_loss_line, view.max_loss_floor, "max-loss floor"),
        ):
            if value is None:
                line.setVisible(False)
                continue
            line.setVisible(True)  # first: a hidden line's label ignores new text
            line.label.setFormat(f"{name} {text.money(value)}")
            line.setPos(float(value))
        self._range = None  # refit with the new floors

    def _fit_x(self, first: float, last: float) -> None:
        """From the first sample to now, at least MIN_SPAN wide, a little room on the right."""
        span = max(last - first, MIN_SPAN)
        wanted = (first, first + span * 1.03)
        if wanted != self._x_range:
            self._x_range = wanted
            self.plot.getPlotItem().setXRange(*wanted, padding=0)

    def _fit(self, low: float, high: float, view: AccountView) -> None:
        """Keep equity and both floors in view, with a margin; move only when they leave it."""
        floors = [float(f) for f in (view.daily_floor, view.max_loss_floor) if f is not None]
        lo = min([low, *floors])
        hi = max([high, *floors])
        span = max(hi - lo, 100.0)
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
        self.plot.getPlotItem().setYRange(*wanted, padding=0)

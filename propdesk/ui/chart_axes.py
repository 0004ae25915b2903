"""The chart's axes: exchange time at the bottom, dollars on the left, level tags on the right.

The right margin names each horizontal level with a coloured tag at its height. Tags are nudged apart
when levels are close (a leader line still points at the true level), so none covers another, and
none covers the data: the margin is outside the plot.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFontMetrics, QPainter, QPen

from propdesk.ui import text, theme

GRID_Z = -200.0  # under the plot's view box (z −100): curves and markers draw over the grid


class OpaqueGrid(pg.AxisItem):
    """An axis whose grid lines are opaque, in the colour the translucent line shows on the chart.

    pyqtgraph draws the grid as translucent tick lines across the plot, and replays them on every
    repaint of the plot. Qt's raster engine draws a translucent horizontal line about 14 times
    slower than an opaque one (measured: 36 grid lines of the money axis at 1,640 px, 6.9 ms
    against 0.5 ms; bench/ui_firehose.py), which made the grid the biggest cost of a frame. Blended
    once onto the background here, the lines look the same (to rounding); the axis sits under the
    view box, so a curve crossing a grid line draws over it.
    """

    _background = QColor(theme.CHART_BACKGROUND)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._opaque: dict[tuple[int, float, int], QPen] = {}

    def generateDrawSpecs(self, p: QPainter) -> Any:
        specs = super().generateDrawSpecs(p)
        if specs is None:
            return None
        axis, ticks, texts = specs
        return axis, [(self._opaque_pen(pen), a, b) for pen, a, b in ticks], texts

    def _opaque_pen(self, pen: QPen) -> QPen:
        colour = pen.color()
        alpha = colour.alphaF()
        if alpha >= 1.0:
            return pen
        key = (colour.rgba(), pen.widthF(), pen.style().value)
        opaque = self._opaque.get(key)
        if opaque is None:
            under = self._background
            opaque = QPen(pen)
            opaque.setColor(
                QColor.fromRgbF(
                    colour.redF() * alpha + under.redF() * (1 - alpha),
                    colour.greenF() * alpha + under.greenF() * (1 - alpha),
                    colour.blueF() * alpha + under.blueF() * (1 - alpha),
                )
            )
            self._opaque[key] = opaque
        return opaque


class ExchangeTimeAxis(OpaqueGrid, pg.DateAxisItem):
    """Date axis in America/Chicago, its UTC offset following daylight saving time."""

    def set_time(self, epoch: float) -> None:
        offset = datetime.fromtimestamp(epoch, UTC).astimezone(text.CT).utcoffset()
        seconds = -int(offset.total_seconds()) if offset is not None else 0
        if self.utcOffset != seconds:
            self.utcOffset = seconds
            self.picture = None
            self.update()


def short_money(value: float, *, sign: bool = False) -> str:
    """$49,000 for whole dollars, $49,062.50 otherwise (a tag is read, not reconciled)."""
    amount = Decimal(f"{value:.2f}")
    written = text.money(amount, sign=sign)
    return written.removesuffix(".00")


class MoneyAxis(OpaqueGrid):
    """Dollars with thousands separators: $49,000, not 49000."""

    def tickStrings(self, values: list[float], scale: float, spacing: float) -> list[str]:
        if spacing >= 1:  # whole dollars
            return [text.money(Decimal(round(v))).removesuffix(".00") for v in values]
        return [text.money(Decimal(f"{v:.2f}")) for v in values]


@dataclass(frozen=True, slots=True)
class Tag:
    value: float  # where the level is, in data units
    label: str
    colour: str
    priority: int  # when the margin cannot hold every tag, the lowest numbers stay


def place_tags(wanted: Sequence[float], height: float, tag_height: float) -> list[float]:
    """Centres for tags wanted at `wanted` (pixels, top = 0), at least `tag_height` apart, all inside.

    Tags that would overlap form a block centred on their mean wanted position, so each stays as near
    its line as the others let it; blocks that then touch merge, and a block is held inside the
    margin. Order is kept: a tag never jumps over another. The caller passes no more tags than fit
    (`height // tag_height`).
    """
    half = tag_height / 2

    def first_centre(block: list[int]) -> float:
        k = len(block)
        mean = sum(wanted[i] for i in block) / k
        first = mean - (k - 1) * tag_height / 2
        return min(max(first, half), height - half - (k - 1) * tag_height)

    blocks: list[list[int]] = []
    for i in sorted(range(len(wanted)), key=lambda i: wanted[i]):
        blocks.append([i])
        while len(blocks) > 1:
            above, below = blocks[-2], blocks[-1]
            above_last = first_centre(above) + (len(above) - 1) * tag_height
            if first_centre(below) - above_last >= tag_height:
                break
            blocks[-2:] = [above + below]
    placed = [0.0] * len(wanted)
    for block in blocks:
        first = first_centre(block)
        for j, i in enumerate(block):
            placed[i] = first + j * tag_height
    return placed


def _text_on(colour: str) -> str:
    """Dark text on a light tag, white on a dark one (relative luminance, WCAG's weights)."""
    c = QColor(colour)
    luminance = 0.2126 * c.redF() + 0.7152 * c.greenF() + 0.0722 * c.blueF()
    return theme.CHART_TAG_TEXT_DARK if luminance > 0.45 else theme.CHART_TAG_TEXT_LIGHT


class LevelTags(pg.AxisItem):
    """The right margin of the plot: a coloured tag per level, a leader line to its true height."""

    PAD = 6  # px around a tag's text

    def __init__(self) -> None:
        super().__init__(orientation="right")
        self._font = theme.font(theme.SMALL_PT, bold=True)
        self._metrics = QFontMetrics(self._font)
        self.tag_height = self._metrics.height() + 4
        self.tags: tuple[Tag, ...] = ()
        self.shown: dict[str, float] = {}  # label → placed centre (px) as last painted
        self.setWidth(150)

    def set_tags(self, tags: Sequence[Tag]) -> None:
        tags = tuple(tags)
        if tags == self.tags:
            return
        self.tags = tags
        wanted = max((self._metrics.horizontalAdvance(t.label) for t in tags), default=0)
        width = max(150, wanted + 2 * self.PAD + 12)
        if abs(width - self.width()) > 8:
            self.setWidth(width)
        self.update()

    def _area(self) -> QRectF:
        """The margin itself (an axis's bounding rect also holds room for tick text overflow)."""
        return self.mapRectFromParent(self.geometry())

    def _y(self, value: float) -> float | None:
        view = self.linkedView()
        if view is None:
            return None
        scene = view.mapViewToScene(QPointF(0.0, value))
        return self.mapFromScene(scene).y()

    def layout(self) -> list[tuple[Tag, float, float]]:
        """(tag, level y, tag centre y) for the tags that fit, in pixels of this margin."""
        height = self._area().height()
        if height <= 0 or not self.tags:
            return []
        room = max(1, int(height // self.tag_height))
        kept = sorted(self.tags, key=lambda t: t.priority)[:room]
        levels = [(t, self._y(t.value)) for t in kept]
        known = [(t, y) for t, y in levels if y is not None]
        centres = place_tags([y for _t, y in known], height, self.tag_height)
        return [(t, y, c) for (t, y), c in zip(known, centres, strict=True)]

    def paint(self, p: QPainter, opt: object, widget: object) -> None:
        placed = self.layout()
        self.shown = {t.label: c for t, _y, c in placed}
        if not placed:
            return
        p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        p.setFont(self._font)
        width = self._area().width()
        for tag, level, centre in placed:
            colour = QColor(tag.colour)
            p.setPen(pg.mkPen(colour, width=1))
            # The leader: from where the line really is to its (maybe nudged) tag.
            p.drawLine(QPointF(0, level), QPointF(8, centre))
            box = QRectF(8, centre - self.tag_height / 2 + 1, width - 10, self.tag_height - 2)
            p.setBrush(pg.mkBrush(colour))
            p.drawRoundedRect(box, 3, 3)
            p.setPen(pg.mkPen(_text_on(tag.colour)))
            p.drawText(
                box.adjusted(self.PAD, 0, -2, 0),
                int(Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft),
                tag.label,
            )

"""A held console neither paints nor lays out; released, it does only what was asked meanwhile."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from PySide6.QtCore import QCoreApplication, QEvent, QObject
from PySide6.QtWidgets import QHBoxLayout, QLabel, QWidget

from propdesk.ui.paint_hold import PaintHold


class EventCount(QObject):
    def __init__(self, kind: QEvent.Type) -> None:
        super().__init__()
        self.kind = kind
        self.seen: dict[str, int] = {}

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == self.kind:
            name = watched.objectName()
            self.seen[name] = self.seen.get(name, 0) + 1
        return False


@pytest.fixture
def window(qtbot) -> tuple[QWidget, QLabel, QLabel, QLabel]:
    """A window with two labels placed by hand and one in a layout (no layout on the window
    itself: a top-level's size hints would change, which the offscreen platform warns about)."""
    window = QWidget()
    window.setObjectName("window")
    window.resize(500, 250)
    changed, untouched = QLabel("before", window), QLabel("untouched", window)
    for top, (label, name) in enumerate(((changed, "changed"), (untouched, "untouched"))):
        label.setObjectName(name)
        label.setGeometry(10, 10 + 60 * top, 300, 40)  # no layout: only the one label is dirty
    row = QWidget(window)
    row.setObjectName("row")
    row.setGeometry(10, 140, 480, 40)
    box = QHBoxLayout(row)
    laid_out = QLabel("short", row)
    box.addWidget(laid_out)
    box.addStretch(1)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    return window, changed, untouched, laid_out


REQUESTS = {QEvent.Type.UpdateRequest: "update", QEvent.Type.LayoutRequest: "layout"}


class RequestCount(QObject):
    """Update and layout requests, seen ahead of every other application filter."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: dict[str, int] = {}

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        kind = REQUESTS.get(event.type())
        if kind is not None:
            self.seen[kind] = self.seen.get(kind, 0) + 1
        return False


@pytest.fixture
def seen_first() -> Iterator[RequestCount]:
    counter = RequestCount()
    yield counter
    app = QCoreApplication.instance()
    if app is not None:
        app.removeEventFilter(counter)


def test_held_paints_nothing_then_only_what_changed(qtbot, window, seen_first) -> None:
    _, changed, untouched, _ = window
    paints = EventCount(QEvent.Type.Paint)
    changed.installEventFilter(paints)
    untouched.installEventFilter(paints)
    changed.update()
    untouched.update()
    qtbot.waitUntil(lambda: paints.seen.get("changed", 0) >= 1 and "untouched" in paints.seen)
    before = dict(paints.seen)

    hold = PaintHold()
    hold.hold()
    QCoreApplication.instance().installEventFilter(seen_first)  # after the hold: called first
    changed.setText("after")
    qtbot.waitUntil(lambda: seen_first.seen.get("update", 0) >= 1)
    assert paints.seen == before, "the window's paint request came and was held back"

    hold.release()
    qtbot.waitUntil(lambda: paints.seen["changed"] > before["changed"])
    assert paints.seen["untouched"] == before["untouched"], "no repaint of the whole window"
    assert not hold.held


def test_held_lays_nothing_out_until_released(qtbot, window, seen_first) -> None:
    _, _, _, laid_out = window
    qtbot.waitUntil(lambda: laid_out.width() == laid_out.sizeHint().width())
    narrow = laid_out.width()

    hold = PaintHold()
    hold.hold()
    QCoreApplication.instance().installEventFilter(seen_first)
    laid_out.setText("a much longer text than before")
    qtbot.waitUntil(lambda: seen_first.seen.get("layout", 0) >= 1)
    assert laid_out.width() == narrow, "the layout request came and was held back"

    hold.release()
    qtbot.waitUntil(lambda: laid_out.width() > narrow)
    assert laid_out.width() == laid_out.sizeHint().width()


def test_a_widget_deleted_while_held_is_skipped(qtbot, window, seen_first) -> None:
    win, changed, _, _ = window
    doomed = QWidget(win)
    doomed.setGeometry(10, 190, 480, 40)
    box = QHBoxLayout(doomed)
    label = QLabel("short", doomed)
    box.addWidget(label)
    box.addStretch(1)
    doomed.show()
    qtbot.waitUntil(lambda: label.width() == label.sizeHint().width())

    hold = PaintHold()
    hold.hold()
    QCoreApplication.instance().installEventFilter(seen_first)
    label.setText("asks its parent's layout for more room")
    qtbot.waitUntil(lambda: seen_first.seen.get("layout", 0) >= 1)  # held, for `doomed`
    doomed.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    hold.release()  # must not post to the deleted widget
    changed.setText("still drawn")
    qtbot.waitUntil(lambda: changed.text() == "still drawn")
    assert not hold.held

"""A held window paints nothing; released, it paints what changed meanwhile and nothing else."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QLabel, QWidget

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


def test_held_paints_nothing_then_only_what_changed(qtbot) -> None:
    window = QWidget()
    window.setObjectName("window")
    window.resize(400, 200)
    changed, untouched = QLabel("before", window), QLabel("untouched", window)
    for top, (label, name) in enumerate(((changed, "changed"), (untouched, "untouched"))):
        label.setObjectName(name)
        label.setGeometry(10, 10 + 60 * top, 300, 40)  # no layout: only the one label is dirty
    qtbot.addWidget(window)
    paints = EventCount(QEvent.Type.Paint)
    changed.installEventFilter(paints)
    untouched.installEventFilter(paints)
    window.show()
    qtbot.waitExposed(window)
    qtbot.waitUntil(lambda: paints.seen.get("changed", 0) >= 1 and "untouched" in paints.seen)
    before = dict(paints.seen)

    hold = PaintHold(window)
    hold.hold()
    requests = EventCount(QEvent.Type.UpdateRequest)
    window.installEventFilter(requests)  # installed last, so it sees the request before the hold
    changed.setText("after")
    qtbot.waitUntil(lambda: requests.seen.get("window", 0) >= 1)
    assert paints.seen == before, "the window's paint request came and was held back"

    hold.release()
    qtbot.waitUntil(lambda: paints.seen["changed"] > before["changed"])
    assert paints.seen["untouched"] == before["untouched"], "no repaint of the whole window"
    assert not hold.held
    window.removeEventFilter(requests)

"""Yes/no questions that never block the window: FLATTEN ALL stays live while one is open.

A modal question (`QMessageBox.question`, `exec()`) blocks every other window of the application:
the FLATTEN ALL button takes no click and Qt's shortcuts stay silent until it is answered, and under
qasync its nested event loop runs the runtime from inside a slot. So a question here is a non-modal
box whose answer comes later, through a callback; the safe answer (No) is the default.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QWidget

Answered = Callable[[bool], None]  # called once with the answer: True for Yes
Confirm = Callable[[str, str, Answered], None]  # (title, question, answered)


class Questions:
    """Asks non-modally, one open box per title (asking again raises the open one)."""

    def __init__(self, parent: QWidget | None) -> None:
        self._parent = parent
        self.open: dict[str, QMessageBox] = {}

    def __call__(self, title: str, question: str, answered: Answered) -> None:
        box = self.open.get(title)
        if box is not None:
            box.raise_()
            box.activateWindow()
            return
        yes, no = QMessageBox.StandardButton.Yes, QMessageBox.StandardButton.No
        box = QMessageBox(QMessageBox.Icon.Question, title, question, yes | no, self._parent)
        box.setDefaultButton(no)
        box.setEscapeButton(no)  # closing the box is a No as well
        box.setWindowModality(Qt.WindowModality.NonModal)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

        def finished(_result: int) -> None:
            self.open.pop(title, None)
            answered(box.clickedButton() is box.button(yes))

        box.finished.connect(finished)
        self.open[title] = box
        box.show()

    def close_all(self) -> None:
        """Close the open questions unanswered (the window goes away)."""
        for box in list(self.open.values()):
            box.done(QMessageBox.StandardButton.No)

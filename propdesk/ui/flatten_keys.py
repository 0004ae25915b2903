"""FLATTEN ALL from the keyboard, whatever window has the focus: a filter on the application.

Qt's shortcuts do not fire in a window that a modal dialog blocks, nor in another top-level window
(a dialog, a message box, a menu) unless each registers its own. A filter on the QApplication sees
every key press before any widget does, in every window, so F12 and Ctrl+Shift+F are FLATTEN ALL
from the settings, a question, an error box or the tray menu alike.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QKeyEvent, QKeySequence
from PySide6.QtWidgets import QApplication

_IGNORED_MODIFIERS = Qt.KeyboardModifier.KeypadModifier | Qt.KeyboardModifier.GroupSwitchModifier


class FlattenKeys(QObject):
    pressed = Signal()

    def __init__(self, keys: Sequence[str], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._combinations = {QKeySequence(k)[0].toCombined() for k in keys}
        self._app: QApplication | None = None

    def install(self) -> None:
        app = QApplication.instance()
        if isinstance(app, QApplication) and self._app is None:
            app.installEventFilter(self)
            self._app = app

    def uninstall(self) -> None:
        if self._app is not None:
            self._app.removeEventFilter(self)
            self._app = None

    def matches(self, event: QKeyEvent) -> bool:
        modifiers = event.modifiers() & ~_IGNORED_MODIFIERS
        return (event.key() | modifiers.value) in self._combinations

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        kind = event.type()
        if kind not in (QEvent.Type.KeyPress, QEvent.Type.ShortcutOverride):
            return False
        # A key event reaches the window object and then its widget: act on the widget's only.
        if (
            not watched.isWidgetType()
            or not isinstance(event, QKeyEvent)
            or not self.matches(event)
        ):
            return False
        if kind is QEvent.Type.ShortcutOverride:
            # Claimed, so no other shortcut takes it and the press itself follows.
            event.accept()
            return True
        if not event.isAutoRepeat():
            self.pressed.emit()
        return True

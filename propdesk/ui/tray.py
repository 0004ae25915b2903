"""The tray icon: the worst account state at a glance, the accounts in its tooltip, three commands.

Its colour is the worst guard state across the accounts (a filled circle in the state's colour with
the state's letter: never colour alone). Its menu shows the window, flattens every account or quits
(asking first, as closing does). Desktop notifications go out through it where the desktop has a
tray; alerts never depend on it (the banner, the sound and the phone carry them too).
"""

from __future__ import annotations

from collections.abc import Mapping

from PySide6.QtCore import QObject, QRectF, Qt
from PySide6.QtGui import QAction, QColor, QFont, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import QMenu, QSystemTrayIcon

from propdesk.domain.guard import GuardState
from propdesk.runtime.alerting import AlertMessage, at_least
from propdesk.runtime.notices import Level
from propdesk.ui import theme
from propdesk.ui.bridge import Frame
from propdesk.ui.main_window import MainWindow

ICON_SIZE = 64
MESSAGE_ICONS = {
    Level.INFO: QSystemTrayIcon.MessageIcon.Information,
    Level.WARNING: QSystemTrayIcon.MessageIcon.Warning,
    Level.CRITICAL: QSystemTrayIcon.MessageIcon.Critical,
}
MESSAGE_MS = {Level.INFO: 8_000, Level.WARNING: 15_000, Level.CRITICAL: 30_000}
BALLOON_LEVEL = Level.WARNING  # the least level that gets a desktop balloon


def worst_state(states: Mapping[str, GuardState]) -> GuardState:
    """The worst of the accounts' states (ACTIVE when there are none)."""
    return max(states.values(), default=GuardState.ACTIVE)


def state_icon(state: GuardState) -> QIcon:
    """A filled circle in the state's colour, its initial on it."""
    background, foreground = theme.STATE_COLOURS[state]
    pixmap = QPixmap(ICON_SIZE, ICON_SIZE)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    try:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QColor("#0b0e13"))
        painter.setBrush(QColor(background))
        painter.drawEllipse(QRectF(2, 2, ICON_SIZE - 4, ICON_SIZE - 4))
        font = QFont()
        font.setBold(True)
        font.setPixelSize(ICON_SIZE * 5 // 8)
        painter.setFont(font)
        painter.setPen(QColor(foreground))
        painter.drawText(
            QRectF(0, 0, ICON_SIZE, ICON_SIZE),
            Qt.AlignmentFlag.AlignCenter,
            theme.STATE_WORDS[state][0],
        )
    finally:
        painter.end()
    return QIcon(pixmap)


class ConsoleTray(QSystemTrayIcon):
    """The console's tray icon, fed by the window's frames."""

    def __init__(self, names: Mapping[str, str], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._names = dict(names)
        self._icons = {state: state_icon(state) for state in GuardState}
        self.state: GuardState | None = None
        self.menu = QMenu()
        self.show_action = QAction("Show propdesk", self.menu)
        self.flatten_action = QAction("FLATTEN ALL accounts", self.menu)
        self.quit_action = QAction("Quit propdesk…", self.menu)
        self.menu.addAction(self.show_action)
        self.menu.addSeparator()
        self.menu.addAction(self.flatten_action)
        self.menu.addSeparator()
        self.menu.addAction(self.quit_action)
        self.setContextMenu(self.menu)
        self.show_states({})

    @classmethod
    def for_window(cls, window: MainWindow) -> ConsoleTray:
        """A tray wired to `window`: frames colour it; its menu shows, flattens, asks to quit."""
        names = {key: a.setup.name or key for key, a in window.runtime.accounts.items()}
        tray = cls(names, window)
        window.bridge.frame.connect(tray.show_frame)
        tray.show_action.triggered.connect(lambda: show_window(window))
        tray.flatten_action.triggered.connect(window.flatten_all)
        tray.quit_action.triggered.connect(window.request_quit)
        tray.activated.connect(
            lambda reason: (
                show_window(window)
                if reason
                in (
                    QSystemTrayIcon.ActivationReason.Trigger,
                    QSystemTrayIcon.ActivationReason.DoubleClick,
                )
                else None
            )
        )
        return tray

    def show_frame(self, frame: Frame) -> None:
        self.show_states({key: view.state for key, view in frame.views.items()})

    def show_states(self, states: Mapping[str, GuardState]) -> None:
        """Colour the icon by the worst state; list every account's state in the tooltip."""
        worst = worst_state(states)
        lines = [f"propdesk — {theme.STATE_WORDS[worst]}" if states else "propdesk"]
        lines += [
            f"{self._names.get(key, key)}: {theme.STATE_WORDS[state]}"
            for key, state in states.items()
        ]
        tooltip = "\n".join(lines)
        if worst is not self.state:
            self.state = worst
            self.setIcon(self._icons[worst])
        if tooltip != self.toolTip():
            self.setToolTip(tooltip)

    def notify(self, message: AlertMessage) -> bool:
        """A desktop notification for a warning or worse (nothing happens where the desktop has no
        tray). Information gets none: an "eased" balloon covered the tray menu's FLATTEN ALL, and
        the banner and the alert history carry it. True: a balloon was asked for."""
        if not at_least(message.level, BALLOON_LEVEL):
            return False
        self.showMessage(
            message.title,
            message.body,
            MESSAGE_ICONS[message.level],
            MESSAGE_MS[message.level],
        )
        return True

    def close(self) -> None:
        self.hide()
        self.setContextMenu(None)
        self.menu.deleteLater()


def show_window(window: MainWindow) -> None:
    """Bring the window back from the tray (or from behind other windows)."""
    if window.isMinimized():
        window.showNormal()
    else:
        window.show()
    window.raise_()
    window.activateWindow()

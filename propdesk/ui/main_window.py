"""The main window: header, alert banner, one card per account, the P&L chart, FLATTEN ALL.

It draws runtime state and sends commands; it decides nothing. The flatten runs as an asyncio task on
the runtime's loop: a click returns at once, and the kill never waits on anything drawn.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QKeySequence, QResizeEvent, QShortcut
from PySide6.QtWidgets import (
    QGridLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from propdesk.domain.guard import GuardState
from propdesk.runtime.control import FlattenScope
from propdesk.runtime.engine import Runtime
from propdesk.runtime.killswitch import FlattenResult
from propdesk.runtime.notices import Alert, FlattenFinished, Level
from propdesk.ui import theme
from propdesk.ui.account_card import MIN_WIDTH, AccountCard
from propdesk.ui.banner import AlertBanner
from propdesk.ui.bridge import Bridge, Frame
from propdesk.ui.flatten_keys import FlattenKeys
from propdesk.ui.header import Header
from propdesk.ui.paint_hold import PaintHold
from propdesk.ui.pnl_chart import PnlChart
from propdesk.ui.questions import Confirm, Questions

log = logging.getLogger(__name__)

FLATTEN_ALL_KEYS = ("Ctrl+Shift+F", "F12")
SETTINGS_KEYS = "Ctrl+,"  # the desktops' usual key for an application's settings
HOLD_DRAWING_MS = 250  # at most this long without painting while a flatten runs


class CardGrid(QWidget):
    """The account cards, in as many columns as fit the width."""

    def __init__(self, cards: list[AccountCard], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.cards = cards
        self._grid = QGridLayout(self)
        self._grid.setContentsMargins(12, 10, 12, 10)
        self._grid.setSpacing(12)
        self._columns = 0
        self._place(max(1, len(cards)))

    def _place(self, columns: int) -> None:
        if columns == self._columns:
            return
        self._columns = columns
        for card in self.cards:
            self._grid.removeWidget(card)
        for i, card in enumerate(self.cards):
            self._grid.addWidget(card, i // columns, i % columns)
        for column in range(max(columns, self._grid.columnCount())):
            self._grid.setColumnStretch(column, 1 if column < columns else 0)

    def resizeEvent(self, event: QResizeEvent) -> None:
        usable = event.size().width() - 24
        fit = max(1, (usable + 12) // (MIN_WIDTH + 12))
        self._place(min(len(self.cards) or 1, fit))
        super().resizeEvent(event)


class CardScroll(QScrollArea):
    """Asks for its cards' full height; scrolls only when the window cannot give it."""

    def __init__(self) -> None:
        super().__init__()
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Maximum)

        self._wanted = -1

    def sizeHint(self) -> QSize:
        inner = self.widget()
        if inner is None:
            return super().sizeHint()
        hint = inner.sizeHint()
        frame = 2 * self.frameWidth()
        return QSize(hint.width() + frame, self.wanted_height())

    def wanted_height(self) -> int:
        """The cards' height at the width they really have (wrapped lines included)."""
        inner = self.widget()
        if inner is None:
            return 0
        width = self.viewport().width()
        height = inner.heightForWidth(width) if inner.hasHeightForWidth() else -1
        if height < 0:
            height = inner.sizeHint().height()
        return height + 2 * self.frameWidth()

    def follow_content(self) -> None:
        """Ask the window's layout again when the cards' height changed (a line wrapped, a lock)."""
        wanted = self.wanted_height()
        if wanted != self._wanted:
            self._wanted = wanted
            self.updateGeometry()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self.follow_content()


class MainWindow(QWidget):
    quit_requested = Signal()
    settings_requested = Signal()  # Settings / Leave demo: the console opens the settings

    def __init__(
        self,
        runtime: Runtime,
        *,
        label: str = "",
        confirm: Confirm | None = None,
        has_tray: bool = False,
        demo: bool = False,
        settings: bool = False,
    ) -> None:
        super().__init__()
        self.runtime = runtime
        self.has_tray = has_tray
        self.questions = Questions(self)
        self.confirm: Confirm = confirm if confirm is not None else self.questions
        self._allow_close = False
        self.kill_tasks: set[asyncio.Task[Any]] = set()
        self.last_kill: list[FlattenResult] | None = None
        self.setWindowTitle(f"propdesk — {label}" if label else "propdesk")
        self.setMinimumSize(1000, 640)

        self.bridge = Bridge(runtime, self)
        self.bridge.frame.connect(self._on_frame)
        self.bridge.alert.connect(self._on_alert)
        self.bridge.flatten_finished.connect(self._on_flatten_finished)

        # A plain widget, not a QMainWindow: with no docks or bars to arrange, QMainWindow's layout
        # only added a geometry animation (of 0 ms, a new QPropertyAnimation each time) for every
        # relayout, some landing inside a flatten (bench/kill_parity.py).
        box = QVBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        box.setSpacing(0)

        self.header = Header(runtime, label)
        self.flatten_all_button = QPushButton("FLATTEN ALL")
        self.flatten_all_button.setObjectName("flattenAll")
        self.flatten_all_button.setFont(theme.font(18, bold=True))
        self.flatten_all_button.setToolTip(
            "Cancel every order and close every position of EVERY account, verify flat, lock.\n"
            f"Keyboard, whatever has focus: {' or '.join(FLATTEN_ALL_KEYS)}"
        )
        self.flatten_all_button.setMinimumHeight(58)
        self.flatten_all_button.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self.flatten_all_button.clicked.connect(self.flatten_all)
        keys = QLabel(" · ".join(FLATTEN_ALL_KEYS))
        keys.setProperty("role", "dim")
        keys.setFont(theme.font(theme.SMALL_PT))
        keys.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        button_box = QWidget()
        button_box.setObjectName("flattenBox")
        button_box.setStyleSheet("QWidget#flattenBox { background: transparent; }")
        button_layout = QVBoxLayout(button_box)
        button_layout.setContentsMargins(0, 0, 0, 0)
        button_layout.setSpacing(2)
        button_layout.addWidget(self.flatten_all_button)
        button_layout.addWidget(keys)
        self.settings_button: QPushButton | None = None
        if settings:
            # In the demo the way out is spelled out; otherwise it is the settings.
            self.settings_button = QPushButton("Leave demo…" if demo else "Settings…")
            self.settings_button.setObjectName("settingsButton")
            self.settings_button.setFont(theme.font(theme.BASE_PT, bold=True))
            self.settings_button.setMinimumHeight(40)
            self.settings_button.setToolTip(
                "Add your broker connections and accounts; the demo stops when you apply them."
                if demo
                else "Connections, accounts, buffers, disconnect policy, alerts"
            )
            self.settings_button.clicked.connect(self.settings_requested)
            self.settings_button.setToolTip(f"{self.settings_button.toolTip()} ({SETTINGS_KEYS})")
            settings_keys = QShortcut(QKeySequence(SETTINGS_KEYS), self)
            settings_keys.activated.connect(self.settings_requested)
            self.header.add_right(self.settings_button)
        self.header.add_right(button_box)
        box.addWidget(self.header)

        names = {key: a.setup.name or key for key, a in runtime.accounts.items()}
        # A fixed-height strip: alerts coming and going never move the cards or the chart.
        self.banner = AlertBanner(names, now=runtime.clock.now)
        box.addWidget(self.banner)

        self.cards: dict[str, AccountCard] = {}
        for key, account in runtime.accounts.items():
            card = AccountCard(account)
            card.selected.connect(self.select_account)
            card.flatten_requested.connect(self.flatten_account)
            card.unlock_requested.connect(self.unlock_account)
            self.cards[key] = card
        self.card_grid = CardGrid(list(self.cards.values()))
        scroll = CardScroll()
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setWidget(self.card_grid)
        self.scroll = scroll

        self.chart = PnlChart(self.bridge)
        self.chart.setMinimumHeight(220)
        # The cards take their height first; the chart takes what is left (at least 220 px).
        self.chart.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Ignored)
        box.addWidget(scroll)
        box.addWidget(self.chart, 1)

        # While a flatten from this window sends its requests and verifies, nothing is painted or
        # laid out (at most HOLD_DRAWING_MS): the kill and the drawing share one thread, and a
        # repaint landing between the requests and the verification delayed it (bench/ui_firehose.py).
        self._paint_hold = PaintHold(self)
        self._drawing_hold = QTimer(self)
        self._drawing_hold.setSingleShot(True)
        self._drawing_hold.setInterval(HOLD_DRAWING_MS)
        self._drawing_hold.timeout.connect(self._resume_drawing)
        self._progress = ""  # the flatten's progress line, shown once the hold ends

        # F12 / Ctrl+Shift+F in every window of the application, dialogs and menus included.
        self.flatten_keys = FlattenKeys(FLATTEN_ALL_KEYS, self)
        self.flatten_keys.pressed.connect(self.flatten_all)
        self.flatten_keys.install()

        if self.cards:
            self.select_account(next(iter(self.cards)))

    # -- lifetime -------------------------------------------------------------------------------
    def start(self) -> None:
        """Start drawing (the frame timer); the runtime runs on its own."""
        self.bridge.start()

    def stop(self) -> None:
        """Stop every timer of the window and stop listening to the runtime."""
        self.bridge.stop()
        self._resume_drawing()
        self.flatten_keys.uninstall()
        self.questions.close_all()

    async def settle(self) -> None:
        """Wait for flattens started from the window: they protect money."""
        if self.kill_tasks:
            await asyncio.gather(*self.kill_tasks, return_exceptions=True)

    def close_for_good(self) -> None:
        self._allow_close = True
        self.close()

    def closeEvent(self, event: QCloseEvent) -> None:
        if self._allow_close:
            self.stop()
            event.accept()
            return
        event.ignore()
        if self.has_tray:
            self.hide()  # the console lives on in the tray
            return
        self.request_quit()

    def request_quit(self) -> None:
        """Quit (the close button without a tray, the tray's Quit). While any account is watched
        it asks first, No by default: once propdesk is closed nothing watches them."""
        question = self.quit_question()
        if not question:
            self.quit_requested.emit()
            return

        def answered(yes: bool) -> None:
            if yes:
                self.quit_requested.emit()

        self.confirm("Quit propdesk?", question, answered)

    def quit_question(self) -> str:
        """What quitting leaves unwatched, said plainly; "" when no account is watched."""
        accounts = self.runtime.accounts
        if not accounts:
            return ""
        names, positions, unlocked = [], [], []
        for key, account in accounts.items():
            name = account.setup.name or key
            names.append(name)
            if any(p.net for p in account.risk.ledger.positions.values()) or any(
                p.net for p in account.positions.values()
            ):
                positions.append(name)
            if account.risk.status.state is not GuardState.LOCKED:
                unlocked.append(name)
        count = len(names)
        lines = [
            f"Nothing will watch {'this account' if count == 1 else f'these {count} accounts'} "
            f"while propdesk is closed: {', '.join(names)}.",
            "No floor, cutoff, news window or lock is enforced, and no alert is sent.",
        ]
        if positions:
            lines.append(f"Open positions: {', '.join(positions)}.")
        if unlocked:
            lines.append(f"Not locked (its strategy may trade): {', '.join(unlocked)}.")
        else:
            lines.append("Every account is locked, but a strategy may still be trading them.")
        lines.append("\nQuit anyway?")
        return "\n".join(lines)

    # -- commands -------------------------------------------------------------------------------
    def flatten_all(self) -> None:
        self._kill(FlattenScope(all=True), "FLATTEN ALL from the console", "every account")

    def flatten_account(self, key: str) -> None:
        name = self.runtime.accounts[key].setup.name or key
        self._kill(FlattenScope(accounts=(key,)), f"FLATTEN {key} from the console", name)

    def _kill(self, scope: FlattenScope, reason: str, what: str) -> None:
        # Started eagerly: the kill runs inside the click until its first real wait, so its cancel
        # and close requests go out before Qt delivers anything else queued (repaints, notices).
        self.bridge.hold()  # its notices wait without even a queued call to Qt
        task = asyncio.Task(
            self.runtime.kill(scope, reason),
            loop=asyncio.get_running_loop(),
            name=f"console: {reason}",
            eager_start=True,
        )
        self.kill_tasks.add(task)
        task.add_done_callback(lambda t: self._kill_done(t, what))
        progress = f"Flattening {what}: cancel, close, verify flat…"
        if task.done():
            self.bridge.release()
            return
        # The progress line waits for the hold to end: while nothing is painted it would not be
        # seen, and restyling the banner now would only delay the verification.
        self._progress = progress
        self._paint_hold.hold()
        self._drawing_hold.start()

    @property
    def painting_held(self) -> bool:
        """True while a flatten from this window keeps repaints and relayouts back."""
        return self._paint_hold.held

    def _resume_drawing(self) -> None:
        self._drawing_hold.stop()
        self._paint_hold.release()
        self.bridge.release()
        if self._progress and self.kill_tasks:
            self.banner.show_text(Level.WARNING, self._progress)
        self._progress = ""

    def _kill_done(self, task: asyncio.Task[list[FlattenResult]], what: str) -> None:
        self.kill_tasks.discard(task)
        if not self.kill_tasks:
            self._resume_drawing()
        self.bridge.flush()  # the per-account notices held back during the flatten come first
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            log.error("flatten of %s failed: %r", what, error)
            self.banner.show_text(Level.CRITICAL, f"Flatten of {what} FAILED: {error!r}")
            return
        results = task.result()
        self.last_kill = results
        flat = [r for r in results if r.flat]
        if len(flat) == len(results):
            self.banner.show_text(
                Level.INFO,
                f"Flatten of {what}: {len(flat)} of {len(results)} account(s) verified flat "
                "and locked.",
            )
        else:
            bad = ", ".join(r.account for r in results if not r.flat)
            self.banner.show_text(
                Level.CRITICAL,
                f"Flatten of {what}: NOT FLAT — {bad}. Check the broker now.",
            )

    def unlock_account(self, key: str) -> None:
        account = self.runtime.accounts[key]
        status = account.risk.status
        if status.state is not GuardState.LOCKED:
            return
        name = account.setup.name or key
        others = len(self.runtime.accounts) - 1
        question = (
            f"Unlock {name} ({key})?\n\n"
            f"Scope: this one account only. The other {others} account(s) keep their state.\n"
            f"Locked because: {status.reason}\n\n"
            f"Unlocking: {account.risk.guard.unlock_terms(status)}.\n"
            "Its strategy may trade again at once."
        )
        self.confirm(f"Unlock {name}", question, lambda yes: self._unlock_answered(key, yes))

    def _unlock_answered(self, key: str, yes: bool) -> None:
        if not yes:
            return
        account = self.runtime.accounts[key]
        name = account.setup.name or key
        if account.risk.status.state is not GuardState.LOCKED:
            return  # unlocked meanwhile (the terminal, a lock that expired)
        state = self.runtime.unlock(key, confirmed=True, scope=key)
        if state is GuardState.LOCKED:
            self.banner.show_text(
                Level.WARNING,
                f"{name} stays LOCKED: {account.risk.status.reason}",
            )
        else:
            self.banner.show_text(Level.INFO, f"{name} unlocked: now {state.name}.")
        self.bridge.tick()

    def select_account(self, key: str) -> None:
        for other, card in self.cards.items():
            card.set_selected(other == key)
        account = self.runtime.accounts[key]
        self.chart.show_account(key, account.setup.name or key)  # redraws from the current frame

    # -- drawing --------------------------------------------------------------------------------
    def _on_frame(self, frame: Frame) -> None:
        self.header.refresh(frame)
        for key, card in self.cards.items():
            view = frame.views.get(key)
            if view is not None:
                card.refresh(view, frame.now)
        self.scroll.follow_content()
        self.chart.refresh(frame)
        self.banner.expire()

    def _on_alert(self, alert: Alert) -> None:
        self.banner.show_alert(alert)

    def _on_flatten_finished(self, notice: FlattenFinished) -> None:
        card = self.cards.get(notice.account)
        if card is not None:
            card.show_flatten_result(notice)

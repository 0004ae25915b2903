"""One account at a glance: state, day P&L, how far the floors are ($ and ticks), positions, lock."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from propdesk.domain.account import AccountView, PositionRisk
from propdesk.domain.guard import GuardState
from propdesk.runtime.accounts import LiveAccount
from propdesk.runtime.notices import FlattenFinished
from propdesk.ui import text, theme

MIN_WIDTH = 400


def _label(
    value: str = "", *, points: int = theme.BASE_PT, bold: bool = False, role: str = ""
) -> QLabel:
    label = QLabel(value)
    label.setFont(theme.font(points, bold=bold))
    if role:
        label.setProperty("role", role)
    return label


def _ticks(positions: tuple[PositionRisk, ...], attr: str) -> str:
    """Ticks against the position at its current size before the floor; the nearest if several."""
    found = [(getattr(p, attr), p) for p in positions if p.net and getattr(p, attr) is not None]
    if not found:
        return "flat"
    ticks, position = min(found, key=lambda item: item[0])
    which = f" ({position.key})" if len(found) > 1 else ""
    return f"{ticks:,} ticks{which}"


class AccountCard(QFrame):
    selected = Signal(str)
    flatten_requested = Signal(str)
    unlock_requested = Signal(str)

    def __init__(self, account: LiveAccount, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.key = account.key
        self._account = account
        self.setObjectName("card")
        self.setProperty("selected", False)
        self.setMinimumWidth(MIN_WIDTH)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        profile = account.setup.profile
        self._state: GuardState | None = None

        box = QVBoxLayout(self)
        box.setContentsMargins(14, 10, 14, 12)
        box.setSpacing(4)

        top = QHBoxLayout()
        top.setSpacing(8)
        self.name = _label(account.setup.name or account.key, points=theme.TITLE_PT, bold=True)
        self.name.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.badge = QLabel("")
        self.badge.setObjectName("badge")
        self.badge.setFont(theme.font(theme.BASE_PT + 1, bold=True))
        self.badge.setAlignment(Qt.AlignmentFlag.AlignCenter)
        top.addWidget(self.name, 1)
        top.addWidget(self.badge, 0)
        box.addLayout(top)

        self.firm = _label(
            f"{profile.firm} · {profile.program} · {account.key}",
            points=theme.SMALL_PT,
            role="dim",
        )
        self.firm.setWordWrap(True)
        self.firm.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.firm.setToolTip(f"firm profile {profile.id} ({profile.phase})")
        box.addWidget(self.firm)

        self.reason = _label(points=theme.SMALL_PT)
        self.reason.setWordWrap(True)
        self.reason.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        box.addWidget(self.reason)

        pnl = QHBoxLayout()
        pnl.setSpacing(10)
        pnl_caption = _label("day P&L", points=theme.SMALL_PT, role="dim")
        self.day_pnl = _label("—", points=theme.NUMBER_PT + 2, bold=True)
        self.day_pnl.setSizePolicy(QSizePolicy.Policy.Minimum, QSizePolicy.Policy.Preferred)
        self.equity = _label(points=theme.SMALL_PT, role="dim")
        self.equity.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        pnl.addWidget(pnl_caption, 0, Qt.AlignmentFlag.AlignVCenter)
        pnl.addWidget(self.day_pnl, 0, Qt.AlignmentFlag.AlignVCenter)
        pnl.addStretch(1)
        pnl.addWidget(self.equity)
        box.addLayout(pnl)

        grid = QGridLayout()
        grid.setHorizontalSpacing(12)
        grid.setVerticalSpacing(2)
        self.daily_caption = _label("to daily floor", role="dim")
        self.daily_dollars = _label("—", points=theme.NUMBER_PT - 4, bold=True)
        self.daily_ticks = _label(role="dim")
        self.daily_ticks.setWordWrap(True)
        self.daily_ticks.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.max_caption = _label("to max-loss floor", role="dim")
        self.max_dollars = _label("—", points=theme.NUMBER_PT - 4, bold=True)
        self.max_ticks = _label(role="dim")
        self.max_ticks.setWordWrap(True)
        self.max_ticks.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        for row, widgets in enumerate(
            (
                (self.daily_caption, self.daily_dollars, self.daily_ticks),
                (self.max_caption, self.max_dollars, self.max_ticks),
            )
        ):
            for column, widget in enumerate(widgets):
                grid.addWidget(widget, row, column)
            widgets[1].setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        grid.setColumnStretch(2, 1)
        box.addLayout(grid)

        self.positions = _label(points=theme.BASE_PT)
        self.positions.setWordWrap(True)
        self.positions.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        box.addWidget(self.positions)

        self.lock = _label(points=theme.BASE_PT, bold=True)
        self.lock.setWordWrap(True)
        self.lock.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        box.addWidget(self.lock)

        self.automation = _label(points=theme.SMALL_PT, bold=True, role="warning")
        self.automation.setWordWrap(True)
        self.automation.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        policy = profile.automation
        if policy.status == "prohibited":
            self.automation.setText(
                f"⚠ {profile.firm} prohibits automated trading on this account: "
                "a bot here breaks the firm's rules."
            )
            self.automation.setToolTip(policy.note)
        else:
            self.automation.hide()
        box.addWidget(self.automation)

        self.flatten_result = _label(points=theme.SMALL_PT, role="dim")
        self.flatten_result.setWordWrap(True)
        self.flatten_result.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.flatten_result.hide()
        box.addWidget(self.flatten_result)

        box.addStretch(1)  # cards in a row share its height: their buttons line up at the bottom
        buttons = QHBoxLayout()
        buttons.setSpacing(8)
        self.flatten_button = QPushButton("FLATTEN")
        self.flatten_button.setObjectName("flatten")
        self.flatten_button.setFont(theme.font(theme.BASE_PT, bold=True))
        self.flatten_button.setToolTip(
            f"Cancel every order and close every position of {account.key}, then lock it"
        )
        self.flatten_button.clicked.connect(lambda: self.flatten_requested.emit(self.key))
        self.unlock_button = QPushButton("Unlock…")
        self.unlock_button.setObjectName("unlock")
        self.unlock_button.setFont(theme.font(theme.BASE_PT, bold=True))
        self.unlock_button.clicked.connect(lambda: self.unlock_requested.emit(self.key))
        self.unlock_button.hide()
        buttons.addWidget(self.flatten_button)
        buttons.addStretch(1)
        buttons.addWidget(self.unlock_button)
        box.addLayout(buttons)

    # ------------------------------------------------------------------------------------------
    def set_selected(self, selected: bool) -> None:
        if self.property("selected") != selected:
            self.setProperty("selected", selected)
            self.style().unpolish(self)
            self.style().polish(self)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self.selected.emit(self.key)
        super().mousePressEvent(event)

    def show_flatten_result(self, notice: FlattenFinished) -> None:
        verdict = "FLAT (verified)" if notice.flat else "NOT FLAT"
        self.flatten_result.setText(
            f"last flatten {text.ct_time(notice.ts, seconds=True)}: {verdict} after "
            f"{notice.attempts} read(s)"
        )
        self.flatten_result.setToolTip(notice.detail)
        colour = theme.GOOD if notice.flat else theme.BAD
        self.flatten_result.setStyleSheet(f"color: {colour};")
        self.flatten_result.show()

    def refresh(self, view: AccountView, now: datetime) -> None:
        state = view.state
        if state is not self._state:
            self._state = state
            self.badge.setText(theme.STATE_WORDS[state])
            self.badge.setStyleSheet(theme.badge_style(state))
            self.unlock_button.setVisible(state is GuardState.LOCKED)
            self.reason.setStyleSheet(f"color: {theme.STATE_TEXT[state]};")
        reason = view.reason or ("within every limit" if state is GuardState.ACTIVE else "")
        _set(self.reason, reason)
        self.reason.setToolTip(view.reason)

        _set(self.day_pnl, text.money(view.day_pnl, sign=True))
        _colour(self.day_pnl, theme.money_colour(float(view.day_pnl)))
        _set(
            self.equity,
            f"equity {text.money(view.equity)}\nopen {text.money(view.open_pnl, sign=True)}",
        )
        self.equity.setToolTip(text.fees(view.fees, view.estimated_fees))
        self._distance(
            view.distance_to_daily, view, "ticks_to_daily", self.daily_dollars, self.daily_ticks
        )
        if view.daily_floor is None:
            _set(self.daily_ticks, "the firm sets no daily loss limit")
        self._distance(
            view.distance_to_max_loss,
            view,
            "ticks_to_max_loss",
            self.max_dollars,
            self.max_ticks,
        )
        _set(self.positions, self._positions_text(view))
        _set(self.lock, self._lock_text(view, now))
        self.lock.setVisible(state is GuardState.LOCKED)
        _colour(self.lock, theme.BAD if view.reflattens else theme.TEXT)

    def _distance(
        self,
        distance: Decimal | None,
        view: AccountView,
        attr: str,
        dollars: QLabel,
        ticks: QLabel,
    ) -> None:
        if distance is None:
            _set(dollars, text.DASH)
            _colour(dollars, theme.TEXT_DIM)
            return
        _set(dollars, text.money(distance))
        floor = view.daily_floor if attr == "ticks_to_daily" else view.max_loss_floor
        room = None if floor is None else distance
        colour = theme.TEXT
        if room is not None and view.equity and room <= 0:
            colour = theme.BAD
        _colour(dollars, colour)
        _set(ticks, _ticks(view.positions, attr))
        tip = f"equity {text.money(view.equity)} − floor {text.money(floor)}; ticks: how far the "
        tip += "position can move against you, at its current size, before the floor"
        if dollars.toolTip() != tip:
            dollars.setToolTip(tip)
            ticks.setToolTip(tip)

    def _positions_text(self, view: AccountView) -> str:
        open_positions = [p for p in view.positions if p.net]
        orders = len(self._account.orders)
        order_text = f" · {orders} working order{'s' if orders != 1 else ''}" if orders else ""
        if not open_positions:
            return f"flat{order_text}"
        parts = []
        held = self._account.risk.ledger.positions
        for p in open_positions:
            position = held.get(p.key)
            tick = position.contract.instrument.tick_size if position is not None else None
            parts.append(
                f"{text.signed_int(p.net)} {p.key} @ {text.price(p.average_price, tick)} "
                f"(open {text.money(p.open_pnl, sign=True)})"
            )
        return "; ".join(parts) + order_text

    @staticmethod
    def _lock_text(view: AccountView, now: datetime) -> str:
        if view.state is not GuardState.LOCKED:
            return ""
        if view.lock_until is None:
            lock = "Locked until you unlock it"
        else:
            left = text.span(view.lock_until - now)
            lock = f"Locked until {text.ct_time(view.lock_until)} · {left} left"
        bleed = still_trading(view)
        return f"{lock}\n{bleed}" if bleed else lock


def still_trading(view: AccountView) -> str:
    """A locked account whose strategy keeps opening positions, and what the closes cost so far."""
    if view.state is not GuardState.LOCKED or not view.reflattens:
        return ""
    count = view.reflattens
    line = f"Strategy still trading a locked account: {count} re-flatten{'' if count == 1 else 's'}"
    if view.since_lock is not None:
        line += f", {text.money(view.since_lock, sign=True)} since the lock"
    return line


def _set(label: QLabel, value: str) -> None:
    if label.text() != value:
        label.setText(value)


def _colour(label: QLabel, colour: str) -> None:
    if label.property("colour") != colour:
        label.setProperty("colour", colour)
        label.setStyleSheet(f"color: {colour};")

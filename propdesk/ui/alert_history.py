"""The day's alerts in a panel: time (exchange time, CT), account, level, text and how often.

Opened from the banner's "History (N)". A NON-modal window (setModal(False) + show(), never exec()):
FLATTEN ALL, its shortcuts and the rest of the console keep working while it is open. Newest first;
filtered by level, by account and by a piece of text. It reads the banner's AlertLog (kept for the
trading day, repeats coalesced) and is refreshed by the banner on the frame tick while visible.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from propdesk.runtime.notices import Level
from propdesk.ui import text, theme
from propdesk.ui.alert_log import AlertLog, LogEntry

COLUMNS = ("Time (CT)", "Account", "Level", "Alert", "Count")
TIME, ACCOUNT, LEVEL, ALERT, COUNT = range(len(COLUMNS))
LEVEL_WORDS = {Level.CRITICAL: "CRITICAL", Level.WARNING: "WARNING", Level.INFO: "info"}
_LEVEL_COLOURS = {
    Level.CRITICAL: (theme.DANGER, "#ffffff"),
    Level.WARNING: ("#f2b01e", "#111111"),
    Level.INFO: ("#1d4f7a", "#ffffff"),
}
# The level filter's choices: (label, levels shown).
LEVEL_CHOICES: tuple[tuple[str, frozenset[Level]], ...] = (
    ("All levels", frozenset(Level)),
    ("Warning and critical", frozenset({Level.WARNING, Level.CRITICAL})),
    ("Critical only", frozenset({Level.CRITICAL})),
    ("Information only", frozenset({Level.INFO})),
)
ALL_ACCOUNTS = "*"
NO_ACCOUNT = ""  # propdesk's own alerts and the window's messages
_Index = QModelIndex | QPersistentModelIndex


class AlertTable(QAbstractTableModel):
    """The filtered lines, newest first."""

    def __init__(self, names: Mapping[str, str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._names = names
        self.rows: list[LogEntry] = []

    def set_rows(self, rows: list[LogEntry]) -> None:
        self.beginResetModel()
        self.rows = rows
        self.endResetModel()

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008 (Qt's signature)
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation is Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        entry = self.rows[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(entry, column)
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(entry, column)
        if column == LEVEL and role == Qt.ItemDataRole.BackgroundRole:
            return QColor(_LEVEL_COLOURS[entry.level][0])
        if column == LEVEL and role == Qt.ItemDataRole.ForegroundRole:
            return QColor(_LEVEL_COLOURS[entry.level][1])
        return None

    def account_name(self, entry: LogEntry) -> str:
        return (
            "propdesk" if entry.account is None else self._names.get(entry.account, entry.account)
        )

    def _display(self, entry: LogEntry, column: int) -> str:
        if column == TIME:
            return text.ct_time(entry.last, seconds=True).removesuffix(" CT")
        if column == ACCOUNT:
            return self.account_name(entry)
        if column == LEVEL:
            return LEVEL_WORDS[entry.level]
        if column == ALERT:
            return entry.text
        return f"×{entry.count}" if entry.count > 1 else ""

    def _tooltip(self, entry: LogEntry, column: int) -> str:
        if column in (TIME, COUNT):
            local = entry.last.astimezone().strftime("%H:%M:%S %Z")
            if entry.count == 1:
                return f"{text.ct_time(entry.last, seconds=True)} (your time {local})"
            return (
                f"{entry.count} times, first {text.ct_time(entry.first, seconds=True)}, "
                f"last {text.ct_time(entry.last, seconds=True)} (your time {local})"
            )
        if column == ALERT:
            return entry.text
        return None  # type: ignore[return-value]


class AlertHistoryPanel(QDialog):
    def __init__(
        self, log: AlertLog, names: Mapping[str, str], parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.log = log
        self.setWindowTitle("Alert history — this trading day")
        self.setModal(False)  # never blocks the console (FLATTEN ALL works through it)
        self.setWindowModality(Qt.WindowModality.NonModal)
        # An explicit minimum: its layout's would change the window's limits as rows come in.
        self.setMinimumSize(640, 320)
        self.resize(980, 520)

        self.level_filter = QComboBox()
        for label, levels in LEVEL_CHOICES:
            self.level_filter.addItem(label, levels)
        self.account_filter = QComboBox()
        self.account_filter.addItem("All accounts", ALL_ACCOUNTS)
        for key, name in names.items():
            self.account_filter.addItem(name, key)
        self.account_filter.addItem("propdesk itself", NO_ACCOUNT)
        self.text_filter = QLineEdit()
        self.text_filter.setPlaceholderText("Filter by text…")
        self.text_filter.setClearButtonEnabled(True)
        filters = QHBoxLayout()
        filters.addWidget(QLabel("Level"))
        filters.addWidget(self.level_filter)
        filters.addSpacing(12)
        filters.addWidget(QLabel("Account"))
        filters.addWidget(self.account_filter)
        filters.addSpacing(12)
        filters.addWidget(self.text_filter, 1)

        self.model = AlertTable(names, self)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setWordWrap(False)
        self.table.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.table.verticalHeader().hide()
        self.table.setFont(theme.font(theme.BASE_PT))
        header = self.table.horizontalHeader()
        for column in (TIME, ACCOUNT, LEVEL, COUNT):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(ALERT, QHeaderView.ResizeMode.Stretch)

        self.summary = QLabel("")
        self.summary.setProperty("role", "dim")

        box = QVBoxLayout(self)
        box.addLayout(filters)
        box.addWidget(self.table, 1)
        box.addWidget(self.summary)

        self.level_filter.currentIndexChanged.connect(self.refresh)
        self.account_filter.currentIndexChanged.connect(self.refresh)
        self.text_filter.textChanged.connect(self.refresh)

    def refresh(self) -> None:
        """Show the log's lines that pass the filters, newest first."""
        rows = [e for e in self.log.entries if self.accepts(e)]
        rows.sort(key=lambda e: e.last, reverse=True)
        self.model.set_rows(rows)
        self.summary.setText(self._summary(len(rows)))

    def accepts(self, entry: LogEntry) -> bool:
        levels: frozenset[Level] = self.level_filter.currentData()
        if entry.level not in levels:
            return False
        account = self.account_filter.currentData()
        if account != ALL_ACCOUNTS and (entry.account or NO_ACCOUNT) != account:
            return False
        needle = self.text_filter.text().strip().casefold()
        return (
            not needle
            or needle in entry.text.casefold()
            or (needle in self.model.account_name(entry).casefold())
        )

    def _summary(self, shown: int) -> str:
        log = self.log
        day = "" if log.day is None else f"trading day {log.day:%a %d %b} (rolls 17:00 CT) · "
        lines = len(log.entries)
        repeats = log.alerts - lines
        words = f"{day}{shown} of {lines} line{'s' if lines != 1 else ''} shown"
        if repeats:
            words += f" · {repeats} repeat{'s' if repeats != 1 else ''} folded into their line"
        if log.dropped:
            words += f" · {log.dropped} oldest line{'s' if log.dropped != 1 else ''} dropped"
        return words + " · times are exchange time (CT)"

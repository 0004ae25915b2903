"""The settings window's small shared parts: an input with its error line, and the list-beside-form page.

Problems come back from `parse_config` named by their place in the settings data
(`accounts[0].account_id`): a list page shows those of the item it shows, and marks the items that
have any.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from propdesk.config.model import Issue
from propdesk.ui import theme

ITEM_FIELD = re.compile(r"^(connections|accounts)\[(\d+)\]\.(.+)$")  # a problem with one item


def error_label() -> QLabel:
    label = QLabel("")
    label.setObjectName("fieldError")
    label.setWordWrap(True)
    label.setStyleSheet(f"color: {theme.BAD};")
    label.setFont(theme.font(theme.SMALL_PT, bold=True))
    label.setVisible(False)
    return label


class Field:
    """One input with the error line under it."""

    def __init__(self, widget: QWidget) -> None:
        self.widget = widget
        self.error = error_label()
        self.box = QWidget()
        column = QVBoxLayout(self.box)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(2)
        column.addWidget(widget)
        column.addWidget(self.error)

    def show_error(self, message: str) -> None:
        self.error.setText(message)
        self.error.setVisible(bool(message))


def line_edit(placeholder: str = "", *, secret: bool = False) -> QLineEdit:
    edit = QLineEdit()
    edit.setPlaceholderText(placeholder)
    if secret:
        edit.setEchoMode(QLineEdit.EchoMode.Password)
    return edit


class ListPage(QWidget):
    """A list of items (connections or accounts) beside the form of the selected one.

    The form edits one item of the draft at a time: choosing another item stores the form back into
    the one it showed, then loads the chosen one. Subclasses say how (`load`, `store`) and what the
    list calls each item (`labels`).
    """

    def __init__(self, noun: str, kind: str) -> None:
        super().__init__()
        row = QHBoxLayout(self)
        left = QVBoxLayout()
        self.items = QListWidget()
        self.items.setMinimumWidth(220)
        left.addWidget(self.items, 1)
        buttons = QHBoxLayout()
        self.add_button = QPushButton(f"Add {noun}")
        self.remove_button = QPushButton("Remove")
        buttons.addWidget(self.add_button)
        buttons.addWidget(self.remove_button)
        left.addLayout(buttons)
        row.addLayout(left)
        self.form_box = QWidget()
        self.form = QFormLayout(self.form_box)
        self.form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.ExpandingFieldsGrow)
        row.addWidget(self.form_box, 1)
        self.kind = kind  # "connections" or "accounts": where problems with these items are named
        self.current = -1  # the item the form shows, and stores back into; -1: none
        # Set while the window itself rebuilds the list or fills the form: those changes are not the
        # user choosing an item (or a broker), and must not store a half-filled form.
        self.loading = False
        self.issues: Sequence[Issue] = ()  # the last save's problems
        self.items.currentRowChanged.connect(self._select)

    def labels(self) -> list[str]:
        raise NotImplementedError

    def load(self, row: int) -> None:
        raise NotImplementedError

    def store(self) -> None:
        raise NotImplementedError

    def item_fields(self) -> dict[str, Field]:
        """The form's fields by the item key their problems are reported under."""
        raise NotImplementedError

    def show_item_errors(self, row: int) -> None:
        """Beside each field, the last save's problem with it in item `row` (or nothing)."""
        messages = self.item_messages(row)
        for key, field in self.item_fields().items():
            field.show_error(messages.get(key, ""))

    def _select(self, row: int) -> None:
        if self.loading:
            return
        self.store()
        self.current = row
        self.load(row)

    def fill(self) -> None:
        """List the items again, in red those with a problem."""
        self.loading = True
        try:
            self.items.clear()
            for i, label in enumerate(self.labels()):
                self.items.addItem(label)
                if any(issue.field.startswith(f"{self.kind}[{i}].") for issue in self.issues):
                    self.items.item(i).setForeground(Qt.GlobalColor.red)
        finally:
            self.loading = False

    def select_quietly(self, row: int) -> None:
        """Make `row` the list's current row without storing or loading the form."""
        self.loading = True
        try:
            self.items.setCurrentRow(row)
        finally:
            self.loading = False

    def item_messages(self, row: int) -> dict[str, str]:
        """The first problem with each top-level key of item `row`, by that key."""
        messages: dict[str, str] = {}
        for issue in self.issues:
            match = ITEM_FIELD.match(issue.field)
            if match and match[1] == self.kind and int(match[2]) == row:
                key = match[3].split(".")[0]
                # An override's path lies below its key: the message alone would not say which one.
                messages.setdefault(key, issue.message if key != "overrides" else str(issue))
        return messages

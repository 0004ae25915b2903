"""A segmented control: two or more exclusive buttons side by side, big enough to hit."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QButtonGroup, QHBoxLayout, QPushButton, QWidget

from propdesk.ui import theme


class Segments(QWidget):
    """Options as (value, label, tooltip); `changed` carries the chosen value."""

    changed = Signal(str)

    def __init__(self, options: Sequence[tuple[str, str, str]], parent: QWidget | None = None):
        super().__init__(parent)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(0)
        self.group = QButtonGroup(self)
        self.group.setExclusive(True)
        self.buttons: dict[str, QPushButton] = {}
        for index, (value, label, tip) in enumerate(options):
            button = QPushButton(label)
            button.setCheckable(True)
            button.setToolTip(tip)
            button.setFont(theme.font(theme.BASE_PT, bold=True))
            button.setMinimumHeight(34)
            button.setCursor(Qt.CursorShape.PointingHandCursor)
            edge = "first" if index == 0 else ("last" if index == len(options) - 1 else "middle")
            button.setProperty("edge", edge)
            button.clicked.connect(lambda _checked=False, v=value: self._clicked(v))
            self.group.addButton(button)
            self.buttons[value] = button
            row.addWidget(button)
        self.setStyleSheet(
            f"""
            QPushButton {{
                background: {theme.SURFACE_RAISED}; color: {theme.TEXT_DIM};
                border: 1px solid {theme.BORDER}; border-radius: 0px; padding: 4px 16px;
            }}
            QPushButton[edge="first"] {{
                border-top-left-radius: 6px; border-bottom-left-radius: 6px;
            }}
            QPushButton[edge="last"] {{
                border-top-right-radius: 6px; border-bottom-right-radius: 6px;
            }}
            QPushButton:hover {{ border-color: {theme.ACCENT}; }}
            QPushButton:checked {{
                background: {theme.ACCENT}; color: {theme.CHART_TAG_TEXT_DARK};
                border-color: {theme.ACCENT};
            }}
            """
        )
        self.value = options[0][0]
        self.buttons[self.value].setChecked(True)

    def set_value(self, value: str) -> None:
        """Show `value` as chosen (no `changed`: the caller already knows)."""
        self.value = value
        self.buttons[value].setChecked(True)

    def _clicked(self, value: str) -> None:
        if value != self.value:
            self.value = value
            self.changed.emit(value)

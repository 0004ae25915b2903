"""The settings window's general page: the user's risk buffers, the disconnect policy, the alert channels."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from PySide6.QtWidgets import QCheckBox, QComboBox, QFormLayout, QHBoxLayout, QLabel, QWidget

from propdesk.config.model import PHONE_LEVELS, Issue
from propdesk.ui.settings_fields import Field, line_edit


def _percent(fraction: str) -> str:
    return f"{float(fraction) * 100:g}%"


class GeneralPage(QWidget):
    """Shows the `buffers`, `disconnect` and `alerts` parts of the settings file's data."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        super().__init__()
        form = QFormLayout(self)
        b, d, a = data["buffers"], data["disconnect"], data["alerts"]
        # By the problem's field name in the settings data, so a save's problems land beside them.
        self.fields: dict[str, Field] = {
            "buffers.warn_fraction": Field(line_edit()),
            "buffers.reduce_fraction": Field(line_edit()),
            "buffers.stop_fraction": Field(line_edit()),
            "buffers.cutoff_buffer_minutes": Field(line_edit()),
            "buffers.size_cap_offset": Field(line_edit()),
            "buffers.last_line_fraction": Field(line_edit()),
            "disconnect.flatten_after_seconds": Field(line_edit()),
            "alerts.phone_url": Field(
                line_edit("optional: an ntfy topic URL, e.g. https://ntfy.sh/…")
            ),
        }
        f = self.fields
        f["buffers.warn_fraction"].widget.setText(_percent(b["warn_fraction"]))
        f["buffers.reduce_fraction"].widget.setText(_percent(b["reduce_fraction"]))
        f["buffers.stop_fraction"].widget.setText(_percent(b["stop_fraction"]))
        f["buffers.cutoff_buffer_minutes"].widget.setText(str(b["cutoff_buffer_minutes"]))
        f["buffers.size_cap_offset"].widget.setText(str(b["size_cap_offset"]))
        f["buffers.last_line_fraction"].widget.setText(_percent(b["last_line_fraction"]))
        f["disconnect.flatten_after_seconds"].widget.setText(str(d["flatten_after_seconds"]))
        f["alerts.phone_url"].widget.setText(a["phone_url"])
        self.desktop = QCheckBox("Desktop notifications (tray)")
        self.desktop.setChecked(bool(a["desktop"]))
        self.sound = QCheckBox("Sound")
        self.sound.setChecked(bool(a["sound"]))
        self.phone_level = QComboBox()
        for level in PHONE_LEVELS:
            self.phone_level.addItem(level, level)
        self.phone_level.setCurrentIndex(self.phone_level.findData(a["phone_min_level"]))
        self.phone_level_field = Field(self.phone_level)

        rows = (
            ("Warning at", "buffers.warn_fraction", "of the daily limit used (or of the cushion)"),
            ("Reduce-only at", "buffers.reduce_fraction", "no new exposure past this"),
            ("Your stop at", "buffers.stop_fraction", "flatten and lock (common practice: 75%)"),
            (
                "Last line at",
                "buffers.last_line_fraction",
                "holds for the day after you unlock your own stop",
            ),
            (
                "Cutoff buffer",
                "buffers.cutoff_buffer_minutes",
                "minutes flat before the firm's time",
            ),
            ("Size cap offset", "buffers.size_cap_offset", "contracts below the firm's maximum"),
            (
                "Disconnect limit",
                "disconnect.flatten_after_seconds",
                "seconds a link may be down; longer → flatten and lock on reconnect (0: off)",
            ),
        )
        for label, key, hint in rows:
            line = QHBoxLayout()
            line.addWidget(f[key].box, 1)
            note = QLabel(hint)
            note.setProperty("role", "dim")
            line.addWidget(note, 2)
            holder = QWidget()
            holder.setLayout(line)
            form.addRow(label, holder)
        form.addRow("Alerts", self.desktop)
        form.addRow("", self.sound)
        form.addRow("Phone", f["alerts.phone_url"].box)
        form.addRow("Phone from level", self.phone_level_field.box)

    def data(self) -> dict[str, dict[str, Any]]:
        """The page's part of the settings data, as typed (the save's parse reads and checks it)."""
        f = self.fields
        return {
            "buffers": {
                "warn_fraction": f["buffers.warn_fraction"].widget.text().strip(),
                "reduce_fraction": f["buffers.reduce_fraction"].widget.text().strip(),
                "stop_fraction": f["buffers.stop_fraction"].widget.text().strip(),
                "cutoff_buffer_minutes": f["buffers.cutoff_buffer_minutes"].widget.text().strip(),
                "size_cap_offset": f["buffers.size_cap_offset"].widget.text().strip(),
                "last_line_fraction": f["buffers.last_line_fraction"].widget.text().strip(),
            },
            "disconnect": {
                "flatten_after_seconds": f["disconnect.flatten_after_seconds"].widget.text().strip()
            },
            "alerts": {
                "desktop": self.desktop.isChecked(),
                "sound": self.sound.isChecked(),
                "phone_url": f["alerts.phone_url"].widget.text().strip(),
                "phone_min_level": self.phone_level.currentData(),
            },
        }

    def show_errors(self, issues: Sequence[Issue]) -> None:
        for key, field in self.fields.items():
            field.show_error(next((i.message for i in issues if i.field == key), ""))
        self.phone_level_field.show_error(
            next((i.message for i in issues if i.field == "alerts.phone_min_level"), "")
        )

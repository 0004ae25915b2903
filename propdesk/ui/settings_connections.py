"""The settings window's Connections page: each broker login, its fields and its secrets.

Secrets typed here are held as pending keyring changes (never in the draft that is written to the
file); an empty secret field keeps what the keyring holds.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QLabel

from propdesk.config.model import BROKERS, BrokerKind, Environment
from propdesk.config.secrets import NoSecureKeyring, SecretStore
from propdesk.ui.settings_fields import Field, ListPage, line_edit

KEEP_SECRET = "stored in the keyring — leave empty to keep"

# A pending keyring change, by (connection id, secret key): the new value, or None to delete it.
SecretChanges = dict[tuple[str, str], str | None]


def connection_label(data: dict[str, Any]) -> str:
    kind = BrokerKind(data.get("broker", "sim"))
    env = "" if kind is BrokerKind.SIM else f" · {data.get('environment', 'demo')}"
    return f"{data.get('id') or '(unnamed)'} — {BROKERS[kind].title.split(' (')[0]}{env}"


class ConnectionsPage(ListPage):
    renamed = Signal(str, str)  # a stored connection's old id, its new one: its accounts follow it

    def __init__(
        self,
        connections: list[dict[str, Any]],
        *,
        secrets: SecretStore,
        secret_changes: SecretChanges,
    ) -> None:
        super().__init__("connection", "connections")
        # The window's own draft list and pending keyring changes, edited in place.
        self.connections = connections
        self.secrets = secrets
        self.secret_changes = secret_changes
        self.connection_id = Field(line_edit("e.g. topstepx-main (lower case, digits, - or _)"))
        self.broker = QComboBox()
        for kind, spec in BROKERS.items():
            self.broker.addItem(spec.title, kind.value)
        self.broker_field = Field(self.broker)
        self.environment = QComboBox()
        self.environment.addItem(
            "Demo / evaluation (the broker's demo servers)", Environment.DEMO.value
        )
        self.environment.addItem("Live (real money / funded)", Environment.LIVE.value)
        self.environment_field = Field(self.environment)
        self.server = Field(line_edit("optional: a base URL replacing the broker's own"))
        self.demo_strategy = QCheckBox("Run the demo strategy on these simulated accounts")
        self.note = QLabel("")
        self.note.setWordWrap(True)
        self.note.setProperty("role", "dim")
        self.form.addRow("Name", self.connection_id.box)
        self.form.addRow("Broker", self.broker_field.box)
        self.form.addRow("Environment", self.environment_field.box)
        # One row per field or secret any broker asks for; a broker shows only its own rows.
        self.kind_fields: dict[str, Field] = {}
        self.secret_fields: dict[str, Field] = {}
        self.field_labels: dict[str, str] = {}
        for spec in BROKERS.values():
            for f in spec.fields:
                if f.key not in self.kind_fields:
                    self.kind_fields[f.key] = Field(line_edit(f.hint))
                    self.field_labels[f.key] = f.label
            for s in spec.secrets:
                if s.key not in self.secret_fields:
                    self.secret_fields[s.key] = Field(line_edit(secret=True))
                    self.field_labels[s.key] = s.label
        for key, field in (*self.kind_fields.items(), *self.secret_fields.items()):
            self.form.addRow(self.field_labels[key], field.box)
        self.form.addRow("Server", self.server.box)
        self.form.addRow("", self.demo_strategy)
        self.form.addRow("", self.note)
        self.broker.currentIndexChanged.connect(self._kind_changed)

    def labels(self) -> list[str]:
        return [connection_label(data) for data in self.connections]

    def add_paper(self) -> int:
        """Add a simulator connection under a free `paper-N` name; its row."""
        taken = {c.get("id") for c in self.connections}
        n = 1
        while f"paper-{n}" in taken:
            n += 1
        self.connections.append({"id": f"paper-{n}", "broker": "sim", "environment": "demo"})
        return len(self.connections) - 1

    def remove_selected(self) -> int | None:
        """Remove the selected connection and, on save, its secrets; its row (None: none selected)."""
        row = self.items.currentRow()
        if row < 0:
            return None
        self.current = -1  # the form shows a removed item now: nothing to store back
        removed = self.connections.pop(row)
        for spec in BROKERS[BrokerKind(removed.get("broker", "sim"))].secrets:
            self.secret_changes[(removed.get("id", ""), spec.key)] = None
        return row

    def _kind_changed(self) -> None:
        if self.loading:
            return
        self._show_kind(BrokerKind(self.broker.currentData()))

    def _show_kind(self, kind: BrokerKind) -> None:
        spec = BROKERS[kind]
        wanted = {f.key for f in spec.fields} | {s.key for s in spec.secrets}
        for key, field in (*self.kind_fields.items(), *self.secret_fields.items()):
            self.form.setRowVisible(field.box, key in wanted)
        self.form.setRowVisible(self.demo_strategy, kind is BrokerKind.SIM)
        self.form.setRowVisible(self.server.box, kind is not BrokerKind.SIM)
        self.form.setRowVisible(self.environment_field.box, kind is not BrokerKind.SIM)
        self.note.setText(spec.note)

    def load(self, row: int) -> None:
        self.loading = True
        try:
            enabled = 0 <= row < len(self.connections)
            self.form_box.setEnabled(enabled)
            data = self.connections[row] if enabled else {"broker": "sim"}
            self.connection_id.widget.setText(data.get("id", ""))
            kind = BrokerKind(data.get("broker", "sim"))
            self.broker.setCurrentIndex(self.broker.findData(kind.value))
            self.environment.setCurrentIndex(
                self.environment.findData(data.get("environment", Environment.DEMO.value))
            )
            for key, field in self.kind_fields.items():
                field.widget.setText(str(data.get(key, "")))
            connection_id = data.get("id", "")
            for key, field in self.secret_fields.items():
                field.widget.setText(self.secret_changes.get((connection_id, key)) or "")
                field.widget.setPlaceholderText(
                    KEEP_SECRET if self._keyring_has(connection_id, key) else "required"
                )
            self.server.widget.setText(data.get("server", ""))
            self.demo_strategy.setChecked(bool(data.get("demo_strategy", False)))
            self._show_kind(kind)
            self.show_item_errors(row)
        finally:
            self.loading = False

    def item_fields(self) -> dict[str, Field]:
        return {
            "id": self.connection_id,
            "broker": self.broker_field,
            "environment": self.environment_field,
            "server": self.server,
            **self.kind_fields,
            **self.secret_fields,
        }

    def show_keyring_refused(self) -> None:
        for field in self.secret_fields.values():
            field.show_error("the OS keyring is not available: nothing was saved")

    def _keyring_has(self, connection_id: str, key: str) -> bool:
        if not connection_id:
            return False
        try:
            return self.secrets.has(connection_id, key)
        except NoSecureKeyring:
            return False

    def store(self) -> None:
        row = self.current
        if not 0 <= row < len(self.connections):
            return
        old_id = self.connections[row].get("id", "")
        kind = BrokerKind(self.broker.currentData())
        spec = BROKERS[kind]
        data: dict[str, Any] = {
            "id": self.connection_id.widget.text().strip(),
            "broker": kind.value,
            "environment": self.environment.currentData() if kind is not BrokerKind.SIM else "demo",
        }
        for f in spec.fields:
            value = self.kind_fields[f.key].widget.text().strip()
            if value:
                data[f.key] = value
        if kind is not BrokerKind.SIM and self.server.widget.text().strip():
            data["server"] = self.server.widget.text().strip()
        if kind is BrokerKind.SIM:
            data["demo_strategy"] = self.demo_strategy.isChecked()
        new_id = data["id"]
        for s in spec.secrets:
            typed = self.secret_fields[s.key].widget.text()
            if typed:
                self.secret_changes[(new_id, s.key)] = typed
            elif new_id != old_id and self._keyring_has(old_id, s.key):
                # A renamed connection takes its secrets along.
                self.secret_changes[(new_id, s.key)] = self.secrets.get(old_id, s.key)
        if new_id != old_id:
            for s in spec.secrets:
                if self._keyring_has(old_id, s.key):
                    self.secret_changes[(old_id, s.key)] = None
            self.renamed.emit(old_id, new_id)
        self.connections[row] = data

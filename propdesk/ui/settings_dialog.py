"""Settings: connections, accounts, the user's buffers and disconnect policy, alert channels.

The window edits a draft (the settings file's plain data). Save validates the whole draft with the same
checks as loading (`parse_config`); every problem is shown beside its field, and nothing is written
until there is none. Secrets typed here go to the OS keyring and nowhere else; an empty secret field
keeps what the keyring holds. Without a secure keyring the save is refused with what to install.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPlainTextEdit,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from propdesk.config.model import (
    BROKERS,
    PHONE_LEVELS,
    BrokerKind,
    Config,
    ConfigError,
    Environment,
    Issue,
    config_to_data,
    parse_config,
)
from propdesk.config.secrets import NoSecureKeyring, SecretStore
from propdesk.config.store import save_config
from propdesk.domain.firms import ProfileSet
from propdesk.ui import theme

_ITEM = re.compile(r"^(connections|accounts)\[(\d+)\]\.(.+)$")
KEEP_SECRET = "stored in the keyring — leave empty to keep"


def _error_label() -> QLabel:
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
        self.error = _error_label()
        self.box = QWidget()
        column = QVBoxLayout(self.box)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(2)
        column.addWidget(widget)
        column.addWidget(self.error)

    def show_error(self, message: str) -> None:
        self.error.setText(message)
        self.error.setVisible(bool(message))


def _line(placeholder: str = "", *, secret: bool = False) -> QLineEdit:
    edit = QLineEdit()
    edit.setPlaceholderText(placeholder)
    if secret:
        edit.setEchoMode(QLineEdit.EchoMode.Password)
    return edit


class ListPage(QWidget):
    """A list of items (connections or accounts) beside the form of the selected one."""

    def __init__(self, noun: str) -> None:
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


class SettingsDialog(QDialog):
    saved = Signal(object)  # the new Config, once it is written

    def __init__(
        self,
        config: Config | None,
        *,
        path: Path,
        profiles: ProfileSet,
        secrets: SecretStore,
        parent: QWidget | None = None,
        refused: Callable[[str], None] | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("propdesk — settings")
        self.setMinimumSize(880, 600)
        self.path = path
        self.profiles = profiles
        self.secrets = secrets
        self._refused = refused
        data = config_to_data(config if config is not None else Config())
        self.connections: list[dict[str, Any]] = copy.deepcopy(data["connections"])
        self.accounts: list[dict[str, Any]] = copy.deepcopy(data["accounts"])
        self.general: dict[str, dict[str, Any]] = {
            k: dict(data[k]) for k in ("buffers", "disconnect", "alerts")
        }
        self.secret_changes: dict[tuple[str, str], str | None] = {}
        self.issues: list[Issue] = []
        self.result_config: Config | None = None
        self._current_connection = -1
        self._current_account = -1
        self._loading = False

        box = QVBoxLayout(self)
        intro = QLabel(
            f"Saved to {path}. Passwords and API keys go to the operating system's keyring, "
            "never to that file."
        )
        intro.setWordWrap(True)
        intro.setProperty("role", "dim")
        box.addWidget(intro)
        self.tabs = QTabWidget()
        box.addWidget(self.tabs, 1)
        self._build_connections()
        self._build_accounts()
        self._build_general()
        self.summary = _error_label()
        box.addWidget(self.summary)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        self.cancel_button = QPushButton("Cancel")
        self.save_button = QPushButton("Save")
        self.save_button.setDefault(True)
        self.cancel_button.clicked.connect(self.reject)
        self.save_button.clicked.connect(self.save)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.save_button)
        box.addLayout(buttons)
        self._refresh_lists()

    # -- connections ----------------------------------------------------------------------------
    def _build_connections(self) -> None:
        page = ListPage("connection")
        self.connection_page = page
        self.conn_id = Field(_line("e.g. topstepx-main (lower case, digits, - or _)"))
        self.conn_broker = QComboBox()
        for kind, spec in BROKERS.items():
            self.conn_broker.addItem(spec.title, kind.value)
        self.conn_broker_field = Field(self.conn_broker)
        self.conn_env = QComboBox()
        self.conn_env.addItem(
            "Demo / evaluation (the broker's demo servers)", Environment.DEMO.value
        )
        self.conn_env.addItem("Live (real money / funded)", Environment.LIVE.value)
        self.conn_env_field = Field(self.conn_env)
        self.conn_server = Field(_line("optional: a base URL replacing the broker's own"))
        self.conn_strategy = QCheckBox("Run the demo strategy on these simulated accounts")
        self.conn_note = QLabel("")
        self.conn_note.setWordWrap(True)
        self.conn_note.setProperty("role", "dim")
        page.form.addRow("Name", self.conn_id.box)
        page.form.addRow("Broker", self.conn_broker_field.box)
        page.form.addRow("Environment", self.conn_env_field.box)
        self.kind_fields: dict[str, Field] = {}
        self.secret_fields: dict[str, Field] = {}
        labels = {}
        for spec in BROKERS.values():
            for f in spec.fields:
                if f.key not in self.kind_fields:
                    self.kind_fields[f.key] = Field(_line(f.hint))
                    labels[f.key] = f.label
            for s in spec.secrets:
                if s.key not in self.secret_fields:
                    self.secret_fields[s.key] = Field(_line(secret=True))
                    labels[s.key] = s.label
        for key, field in (*self.kind_fields.items(), *self.secret_fields.items()):
            page.form.addRow(labels[key], field.box)
        page.form.addRow("Server", self.conn_server.box)
        page.form.addRow("", self.conn_strategy)
        page.form.addRow("", self.conn_note)
        self._field_labels = labels
        page.items.currentRowChanged.connect(self._select_connection)
        page.add_button.clicked.connect(self.add_connection)
        page.remove_button.clicked.connect(self._remove_connection)
        self.conn_broker.currentIndexChanged.connect(self._kind_changed)
        self.tabs.addTab(page, "Connections")

    def add_connection(self) -> None:
        self._store_forms()
        taken = {c.get("id") for c in self.connections}
        n = 1
        while f"paper-{n}" in taken:
            n += 1
        self.connections.append({"id": f"paper-{n}", "broker": "sim", "environment": "demo"})
        self._refresh_lists(connection=len(self.connections) - 1)

    def _remove_connection(self) -> None:
        row = self.connection_page.items.currentRow()
        if row < 0:
            return
        self._current_connection = -1
        removed = self.connections.pop(row)
        for spec in BROKERS[BrokerKind(removed.get("broker", "sim"))].secrets:
            self.secret_changes[(removed.get("id", ""), spec.key)] = None
        self._refresh_lists(connection=min(row, len(self.connections) - 1))

    def _kind_changed(self) -> None:
        if self._loading:
            return
        self._show_kind(BrokerKind(self.conn_broker.currentData()))

    def _show_kind(self, kind: BrokerKind) -> None:
        spec = BROKERS[kind]
        form = self.connection_page.form
        wanted = {f.key for f in spec.fields} | {s.key for s in spec.secrets}
        for key, field in (*self.kind_fields.items(), *self.secret_fields.items()):
            form.setRowVisible(field.box, key in wanted)
        form.setRowVisible(self.conn_strategy, kind is BrokerKind.SIM)
        form.setRowVisible(self.conn_server.box, kind is not BrokerKind.SIM)
        form.setRowVisible(self.conn_env_field.box, kind is not BrokerKind.SIM)
        self.conn_note.setText(spec.note)

    def _select_connection(self, row: int) -> None:
        if self._loading:
            return
        self._store_connection()
        self._current_connection = row
        self._load_connection(row)

    def _load_connection(self, row: int) -> None:
        self._loading = True
        try:
            enabled = 0 <= row < len(self.connections)
            self.connection_page.form_box.setEnabled(enabled)
            data = self.connections[row] if enabled else {"broker": "sim"}
            self.conn_id.widget.setText(data.get("id", ""))
            kind = BrokerKind(data.get("broker", "sim"))
            self.conn_broker.setCurrentIndex(self.conn_broker.findData(kind.value))
            self.conn_env.setCurrentIndex(
                self.conn_env.findData(data.get("environment", Environment.DEMO.value))
            )
            for key, field in self.kind_fields.items():
                field.widget.setText(str(data.get(key, "")))
            connection_id = data.get("id", "")
            for key, field in self.secret_fields.items():
                field.widget.setText(self.secret_changes.get((connection_id, key)) or "")
                field.widget.setPlaceholderText(
                    KEEP_SECRET if self._keyring_has(connection_id, key) else "required"
                )
            self.conn_server.widget.setText(data.get("server", ""))
            self.conn_strategy.setChecked(bool(data.get("demo_strategy", False)))
            self._show_kind(kind)
            self._show_item_errors("connections", row)
        finally:
            self._loading = False

    def _keyring_has(self, connection_id: str, key: str) -> bool:
        if not connection_id:
            return False
        try:
            return self.secrets.has(connection_id, key)
        except NoSecureKeyring:
            return False

    def _store_connection(self) -> None:
        row = self._current_connection
        if not 0 <= row < len(self.connections):
            return
        old_id = self.connections[row].get("id", "")
        kind = BrokerKind(self.conn_broker.currentData())
        spec = BROKERS[kind]
        data: dict[str, Any] = {
            "id": self.conn_id.widget.text().strip(),
            "broker": kind.value,
            "environment": self.conn_env.currentData() if kind is not BrokerKind.SIM else "demo",
        }
        for f in spec.fields:
            value = self.kind_fields[f.key].widget.text().strip()
            if value:
                data[f.key] = value
        if kind is not BrokerKind.SIM and self.conn_server.widget.text().strip():
            data["server"] = self.conn_server.widget.text().strip()
        if kind is BrokerKind.SIM:
            data["demo_strategy"] = self.conn_strategy.isChecked()
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
            for account in self.accounts:
                if account.get("connection") == old_id:
                    account["connection"] = new_id
        self.connections[row] = data

    # -- accounts -------------------------------------------------------------------------------
    def _build_accounts(self) -> None:
        page = ListPage("account")
        self.account_page = page
        self.acc_connection = QComboBox()
        self.acc_connection_field = Field(self.acc_connection)
        self.acc_id = Field(_line("the broker's account id, e.g. 50KTC-V2-123456"))
        self.acc_name = Field(_line("how the console names it, e.g. Topstep 50K #1"))
        self.acc_profile = QComboBox()
        for profile_id in sorted(self.profiles):
            profile = self.profiles.get(profile_id)
            self.acc_profile.addItem(
                f"{profile.firm} — {profile.program} ({profile_id})", profile_id
            )
        self.acc_profile_field = Field(self.acc_profile)
        self.acc_cluster = Field(_line("optional: a strategy group, flattened together"))
        overrides = QPlainTextEdit()
        overrides.setPlaceholderText(
            "optional, one per line:  max_loss.amount = 2500\n(your own numbers, labelled as yours)"
        )
        overrides.setFixedHeight(90)
        self.acc_overrides = Field(overrides)
        page.form.addRow("Connection", self.acc_connection_field.box)
        page.form.addRow("Account id", self.acc_id.box)
        page.form.addRow("Name", self.acc_name.box)
        page.form.addRow("Firm profile", self.acc_profile_field.box)
        page.form.addRow("Cluster", self.acc_cluster.box)
        page.form.addRow("Overrides", self.acc_overrides.box)
        page.items.currentRowChanged.connect(self._select_account)
        page.add_button.clicked.connect(self.add_account)
        page.remove_button.clicked.connect(self._remove_account)
        self.tabs.addTab(page, "Accounts")

    def add_account(self) -> None:
        self._store_forms()
        first = self.connections[0].get("id", "") if self.connections else ""
        self.accounts.append(
            {"connection": first, "account_id": "", "profile": "topstep-combine-50k"}
        )
        self._refresh_lists(account=len(self.accounts) - 1)

    def _remove_account(self) -> None:
        row = self.account_page.items.currentRow()
        if row < 0:
            return
        self._current_account = -1
        self.accounts.pop(row)
        self._refresh_lists(account=min(row, len(self.accounts) - 1))

    def _select_account(self, row: int) -> None:
        if self._loading:
            return
        self._store_account()
        self._current_account = row
        self._load_account(row)

    def _load_account(self, row: int) -> None:
        self._loading = True
        try:
            enabled = 0 <= row < len(self.accounts)
            self.account_page.form_box.setEnabled(enabled)
            data = self.accounts[row] if enabled else {}
            self.acc_connection.clear()
            for connection in self.connections:
                self.acc_connection.addItem(connection.get("id", ""), connection.get("id", ""))
            index = self.acc_connection.findData(data.get("connection", ""))
            if index < 0 and data.get("connection"):
                self.acc_connection.addItem(data["connection"], data["connection"])
                index = self.acc_connection.count() - 1
            self.acc_connection.setCurrentIndex(index)
            self.acc_id.widget.setText(data.get("account_id", ""))
            self.acc_name.widget.setText(data.get("name", ""))
            self.acc_profile.setCurrentIndex(self.acc_profile.findData(data.get("profile", "")))
            self.acc_cluster.widget.setText(data.get("cluster", ""))
            lines = [f"{k} = {v}" for k, v in data.get("overrides", {}).items()]
            self.acc_overrides.widget.setPlainText("\n".join(lines))
            self._show_item_errors("accounts", row)
        finally:
            self._loading = False

    def _store_account(self) -> None:
        row = self._current_account
        if not 0 <= row < len(self.accounts):
            return
        data: dict[str, Any] = {
            "connection": self.acc_connection.currentData() or "",
            "account_id": self.acc_id.widget.text().strip(),
            "profile": self.acc_profile.currentData() or "",
        }
        if self.acc_name.widget.text().strip():
            data["name"] = self.acc_name.widget.text().strip()
        if self.acc_cluster.widget.text().strip():
            data["cluster"] = self.acc_cluster.widget.text().strip()
        overrides: dict[str, str] = {}
        bad: list[str] = []
        for line in self.acc_overrides.widget.toPlainText().splitlines():
            if not line.strip():
                continue
            path, sep, value = line.partition("=")
            if not sep or not path.strip():
                bad.append(line.strip())
                continue
            overrides[path.strip()] = value.strip().strip('"')
        if overrides:
            data["overrides"] = overrides
        if bad:
            data["_bad_overrides"] = bad
        self.accounts[row] = data

    # -- buffers, disconnect policy, alerts ------------------------------------------------------
    def _build_general(self) -> None:
        page = QWidget()
        form = QFormLayout(page)
        b, d, a = self.general["buffers"], self.general["disconnect"], self.general["alerts"]

        def percent(value: str) -> str:
            return f"{float(value) * 100:g}%"

        self.general_fields: dict[str, Field] = {
            "buffers.warn_fraction": Field(_line()),
            "buffers.reduce_fraction": Field(_line()),
            "buffers.stop_fraction": Field(_line()),
            "buffers.cutoff_buffer_minutes": Field(_line()),
            "buffers.size_cap_offset": Field(_line()),
            "disconnect.flatten_after_seconds": Field(_line()),
            "alerts.phone_url": Field(_line("optional: an ntfy topic URL, e.g. https://ntfy.sh/…")),
        }
        f = self.general_fields
        f["buffers.warn_fraction"].widget.setText(percent(b["warn_fraction"]))
        f["buffers.reduce_fraction"].widget.setText(percent(b["reduce_fraction"]))
        f["buffers.stop_fraction"].widget.setText(percent(b["stop_fraction"]))
        f["buffers.cutoff_buffer_minutes"].widget.setText(str(b["cutoff_buffer_minutes"]))
        f["buffers.size_cap_offset"].widget.setText(str(b["size_cap_offset"]))
        f["disconnect.flatten_after_seconds"].widget.setText(str(d["flatten_after_seconds"]))
        f["alerts.phone_url"].widget.setText(a["phone_url"])
        self.alert_desktop = QCheckBox("Desktop notifications (tray)")
        self.alert_desktop.setChecked(bool(a["desktop"]))
        self.alert_sound = QCheckBox("Sound")
        self.alert_sound.setChecked(bool(a["sound"]))
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
        form.addRow("Alerts", self.alert_desktop)
        form.addRow("", self.alert_sound)
        form.addRow("Phone", f["alerts.phone_url"].box)
        form.addRow("Phone from level", self.phone_level_field.box)
        self.tabs.addTab(page, "Risk buffers && alerts")

    def _general_data(self) -> dict[str, dict[str, Any]]:
        f = self.general_fields
        return {
            "buffers": {
                "warn_fraction": f["buffers.warn_fraction"].widget.text().strip(),
                "reduce_fraction": f["buffers.reduce_fraction"].widget.text().strip(),
                "stop_fraction": f["buffers.stop_fraction"].widget.text().strip(),
                "cutoff_buffer_minutes": f["buffers.cutoff_buffer_minutes"].widget.text().strip(),
                "size_cap_offset": f["buffers.size_cap_offset"].widget.text().strip(),
            },
            "disconnect": {
                "flatten_after_seconds": f["disconnect.flatten_after_seconds"].widget.text().strip()
            },
            "alerts": {
                "desktop": self.alert_desktop.isChecked(),
                "sound": self.alert_sound.isChecked(),
                "phone_url": f["alerts.phone_url"].widget.text().strip(),
                "phone_min_level": self.phone_level.currentData(),
            },
        }

    # -- lists, errors, save ----------------------------------------------------------------------
    def _store_forms(self) -> None:
        # The account first: a connection renamed in its form renames the accounts' links after.
        self._store_account()
        self._store_connection()

    def _refresh_lists(self, *, connection: int | None = None, account: int | None = None) -> None:
        self._loading = True
        try:
            for items, rows, label in (
                (self.connection_page.items, self.connections, self._connection_label),
                (self.account_page.items, self.accounts, self._account_label),
            ):
                items.clear()
                for i, data in enumerate(rows):
                    items.addItem(label(data))
                    if any(self._belongs(issue.field, items, i) for issue in self.issues):
                        items.item(i).setForeground(Qt.GlobalColor.red)
        finally:
            self._loading = False
        c = connection if connection is not None else max(self._current_connection, 0)
        a = account if account is not None else max(self._current_account, 0)
        c = c if c < len(self.connections) else -1
        a = a if a < len(self.accounts) else -1
        self._current_connection = c
        self._current_account = a
        self._loading = True
        try:
            self.connection_page.items.setCurrentRow(c)
            self.account_page.items.setCurrentRow(a)
        finally:
            self._loading = False
        self._load_connection(c)
        self._load_account(a)

    def _belongs(self, field: str, items: QListWidget, row: int) -> bool:
        kind = "connections" if items is self.connection_page.items else "accounts"
        return field.startswith(f"{kind}[{row}].")

    @staticmethod
    def _connection_label(data: dict[str, Any]) -> str:
        kind = BrokerKind(data.get("broker", "sim"))
        env = "" if kind is BrokerKind.SIM else f" · {data.get('environment', 'demo')}"
        return f"{data.get('id') or '(unnamed)'} — {BROKERS[kind].title.split(' (')[0]}{env}"

    @staticmethod
    def _account_label(data: dict[str, Any]) -> str:
        name = data.get("name") or data.get("account_id") or "(new account)"
        return f"{name} — {data.get('connection', '')}"

    def _show_item_errors(self, kind: str, row: int) -> None:
        mine: dict[str, str] = {}
        for issue in self.issues:
            match = _ITEM.match(issue.field)
            if match and match[1] == kind and int(match[2]) == row:
                key = match[3].split(".")[0]
                mine.setdefault(key, issue.message if key != "overrides" else str(issue))
        if kind == "connections":
            fields = {
                "id": self.conn_id,
                "broker": self.conn_broker_field,
                "environment": self.conn_env_field,
                "server": self.conn_server,
                **self.kind_fields,
                **self.secret_fields,
            }
        else:
            fields = {
                "connection": self.acc_connection_field,
                "account_id": self.acc_id,
                "profile": self.acc_profile_field,
                "name": self.acc_name,
                "cluster": self.acc_cluster,
                "overrides": self.acc_overrides,
            }
        for key, field in fields.items():
            field.show_error(mine.get(key, ""))

    def _show_errors(self, issues: list[Issue]) -> None:
        self.issues = issues
        for key, field in self.general_fields.items():
            field.show_error(next((i.message for i in issues if i.field == key), ""))
        self.phone_level_field.show_error(
            next((i.message for i in issues if i.field == "alerts.phone_min_level"), "")
        )
        first = issues[0].field if issues else ""
        match = _ITEM.match(first)
        self._refresh_lists()
        if match:
            page = self.connection_page if match[1] == "connections" else self.account_page
            self.tabs.setCurrentWidget(page)
            self._loading = True
            page.items.setCurrentRow(int(match[2]))
            self._loading = False
            if match[1] == "connections":
                self._current_connection = int(match[2])
                self._load_connection(int(match[2]))
            else:
                self._current_account = int(match[2])
                self._load_account(int(match[2]))
        elif first:
            self.tabs.setCurrentIndex(2)
        count = len(issues)
        self.summary.setText(
            f"Not saved: {count} problem{'s' if count != 1 else ''} to fix (shown beside each field)."
            if issues
            else ""
        )
        self.summary.setVisible(bool(issues))

    def draft(self) -> dict[str, Any]:
        """The settings file's data as the window holds it now."""
        self._store_forms()
        accounts = [{k: v for k, v in a.items() if not k.startswith("_")} for a in self.accounts]
        return {"version": 1, "connections": self.connections, "accounts": accounts} | (
            self._general_data()
        )

    def save(self) -> bool:
        data = self.draft()
        early = [
            Issue(
                f"accounts[{i}].overrides", f"not 'path = value': {', '.join(a['_bad_overrides'])}"
            )
            for i, a in enumerate(self.accounts)
            if a.get("_bad_overrides")
        ]
        try:
            if early:
                raise ConfigError(early)
            config = parse_config(data, self.profiles)
            ids = {c.id for c in config.connections}
            changes = {k: v for k, v in self.secret_changes.items() if k[0] in ids or v is None}
            save_config(self.path, config, self.profiles, self.secrets, changes)
        except ConfigError as exc:
            self._show_errors(list(exc.issues))
            return False
        except NoSecureKeyring as exc:
            self._show_errors([])
            self.summary.setText(f"Not saved. {exc}")
            self.summary.setVisible(True)
            for field in self.secret_fields.values():
                field.show_error("the OS keyring is not available: nothing was saved")
            if self._refused is not None:
                self._refused(str(exc))
            return False
        self._show_errors([])
        self.secret_changes.clear()
        self.result_config = config
        self.saved.emit(config)
        self.accept()
        return True

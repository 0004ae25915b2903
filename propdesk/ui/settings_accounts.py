"""The settings window's Accounts page: each account watched, its connection, firm profile and overrides."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QComboBox, QPlainTextEdit

from propdesk.domain.firms import ProfileSet
from propdesk.ui.settings_fields import Field, ListPage, line_edit

# The key a stored account keeps its unreadable override lines under, until save reports them.
BAD_OVERRIDES = "_bad_overrides"


def account_label(data: dict[str, Any]) -> str:
    name = data.get("name") or data.get("account_id") or "(new account)"
    return f"{name} — {data.get('connection', '')}"


class AccountsPage(ListPage):
    def __init__(
        self,
        accounts: list[dict[str, Any]],
        *,
        connections: list[dict[str, Any]],
        profiles: ProfileSet,
    ) -> None:
        super().__init__("account", "accounts")
        # The window's own draft lists: the accounts edited in place, the connections they may name.
        self.accounts = accounts
        self.connections = connections
        self.connection = QComboBox()
        self.connection_field = Field(self.connection)
        self.account_id = Field(line_edit("the broker's account id, e.g. 50KTC-V2-123456"))
        self.display_name = Field(line_edit("how the console names it, e.g. Topstep 50K #1"))
        self.profile = QComboBox()
        for profile_id in sorted(profiles):
            profile = profiles.get(profile_id)
            self.profile.addItem(f"{profile.firm} — {profile.program} ({profile_id})", profile_id)
        self.profile_field = Field(self.profile)
        self.cluster = Field(line_edit("optional: a strategy group, flattened together"))
        overrides = QPlainTextEdit()
        overrides.setPlaceholderText(
            "optional, one per line:  max_loss.amount = 2500\n(your own numbers, labelled as yours)"
        )
        overrides.setFixedHeight(90)
        self.overrides = Field(overrides)
        self.form.addRow("Connection", self.connection_field.box)
        self.form.addRow("Account id", self.account_id.box)
        self.form.addRow("Name", self.display_name.box)
        self.form.addRow("Firm profile", self.profile_field.box)
        self.form.addRow("Cluster", self.cluster.box)
        self.form.addRow("Overrides", self.overrides.box)

    def labels(self) -> list[str]:
        return [account_label(data) for data in self.accounts]

    def add_new(self) -> int:
        """Add an account on the first connection, with a starting profile; its row."""
        first = self.connections[0].get("id", "") if self.connections else ""
        self.accounts.append(
            {"connection": first, "account_id": "", "profile": "topstep-combine-50k"}
        )
        return len(self.accounts) - 1

    def remove_selected(self) -> int | None:
        """Remove the selected account; its row (None: none selected)."""
        row = self.items.currentRow()
        if row < 0:
            return None
        self.current = -1  # the form shows a removed item now: nothing to store back
        self.accounts.pop(row)
        return row

    def relink(self, old_id: str, new_id: str) -> None:
        """A connection was renamed: its accounts now name the new id."""
        for account in self.accounts:
            if account.get("connection") == old_id:
                account["connection"] = new_id

    def load(self, row: int) -> None:
        self.loading = True
        try:
            enabled = 0 <= row < len(self.accounts)
            self.form_box.setEnabled(enabled)
            data = self.accounts[row] if enabled else {}
            self.connection.clear()
            for connection in self.connections:
                self.connection.addItem(connection.get("id", ""), connection.get("id", ""))
            index = self.connection.findData(data.get("connection", ""))
            if index < 0 and data.get("connection"):
                # A connection the draft no longer has stays shown, so save can say what is wrong.
                self.connection.addItem(data["connection"], data["connection"])
                index = self.connection.count() - 1
            self.connection.setCurrentIndex(index)
            self.account_id.widget.setText(data.get("account_id", ""))
            self.display_name.widget.setText(data.get("name", ""))
            self.profile.setCurrentIndex(self.profile.findData(data.get("profile", "")))
            self.cluster.widget.setText(data.get("cluster", ""))
            lines = [f"{k} = {v}" for k, v in data.get("overrides", {}).items()]
            self.overrides.widget.setPlainText("\n".join(lines))
            self.show_item_errors(row)
        finally:
            self.loading = False

    def item_fields(self) -> dict[str, Field]:
        return {
            "connection": self.connection_field,
            "account_id": self.account_id,
            "profile": self.profile_field,
            "name": self.display_name,
            "cluster": self.cluster,
            "overrides": self.overrides,
        }

    def store(self) -> None:
        row = self.current
        if not 0 <= row < len(self.accounts):
            return
        data: dict[str, Any] = {
            "connection": self.connection.currentData() or "",
            "account_id": self.account_id.widget.text().strip(),
            "profile": self.profile.currentData() or "",
        }
        if self.display_name.widget.text().strip():
            data["name"] = self.display_name.widget.text().strip()
        if self.cluster.widget.text().strip():
            data["cluster"] = self.cluster.widget.text().strip()
        overrides: dict[str, str] = {}
        bad: list[str] = []
        for line in self.overrides.widget.toPlainText().splitlines():
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
            data[BAD_OVERRIDES] = bad
        self.accounts[row] = data

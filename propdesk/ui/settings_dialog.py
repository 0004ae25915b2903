"""Settings: connections, accounts, the user's buffers and disconnect policy, alert channels.

The window edits a draft (the settings file's plain data). Save validates the whole draft with the same
checks as loading (`parse_config`); every problem is shown beside its field, and nothing is written
until there is none. Secrets typed here go to the OS keyring and nowhere else; an empty secret field
keeps what the keyring holds. Without a secure keyring the save is refused with what to install.

Each page (settings_connections, settings_accounts, settings_general) owns its widgets and moves
them to and from the draft; this window holds the draft, hands each save's problems to the pages and
writes the settings.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from propdesk.config.model import Config, ConfigError, Issue, config_to_data
from propdesk.config.parse import parse_config
from propdesk.config.secrets import NoSecureKeyring, SecretStore
from propdesk.config.store import save_config
from propdesk.domain.firms import ProfileSet
from propdesk.ui.settings_accounts import BAD_OVERRIDES, AccountsPage
from propdesk.ui.settings_connections import KEEP_SECRET, ConnectionsPage, SecretChanges
from propdesk.ui.settings_fields import ITEM_FIELD, error_label
from propdesk.ui.settings_general import GeneralPage

__all__ = ["KEEP_SECRET", "SettingsDialog"]


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
        # The draft: the pages edit these in place, save checks and writes them.
        self.connections: list[dict[str, Any]] = copy.deepcopy(data["connections"])
        self.accounts: list[dict[str, Any]] = copy.deepcopy(data["accounts"])
        self.secret_changes: SecretChanges = {}
        self.issues: list[Issue] = []
        self.result_config: Config | None = None

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
        self.connection_page = ConnectionsPage(
            self.connections, secrets=secrets, secret_changes=self.secret_changes
        )
        self.connection_page.add_button.clicked.connect(self.add_connection)
        self.connection_page.remove_button.clicked.connect(self._remove_connection)
        self.tabs.addTab(self.connection_page, "Connections")
        self.account_page = AccountsPage(
            self.accounts, connections=self.connections, profiles=profiles
        )
        self.account_page.add_button.clicked.connect(self.add_account)
        self.account_page.remove_button.clicked.connect(self._remove_account)
        self.tabs.addTab(self.account_page, "Accounts")
        self.connection_page.renamed.connect(self.account_page.relink)
        self.general_page = GeneralPage(data)
        self.tabs.addTab(self.general_page, "Risk buffers && alerts")
        self.summary = error_label()
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

    def add_connection(self) -> None:
        self._store_forms()
        self._refresh_lists(connection=self.connection_page.add_paper())

    def _remove_connection(self) -> None:
        row = self.connection_page.remove_selected()
        if row is not None:
            self._refresh_lists(connection=min(row, len(self.connections) - 1))

    def add_account(self) -> None:
        self._store_forms()
        self._refresh_lists(account=self.account_page.add_new())

    def _remove_account(self) -> None:
        row = self.account_page.remove_selected()
        if row is not None:
            self._refresh_lists(account=min(row, len(self.accounts) - 1))

    def _store_forms(self) -> None:
        # The account first: a connection renamed in its form renames the accounts' links after.
        self.account_page.store()
        self.connection_page.store()

    def _refresh_lists(self, *, connection: int | None = None, account: int | None = None) -> None:
        """List both pages' items again and show `connection` and `account` (default: the current)."""
        shown = (
            (self.connection_page, connection, len(self.connections)),
            (self.account_page, account, len(self.accounts)),
        )
        for page, _, _ in shown:
            page.fill()
        for page, wanted, count in shown:
            row = wanted if wanted is not None else max(page.current, 0)
            page.current = row if row < count else -1
        for page, _, _ in shown:
            page.select_quietly(page.current)
        for page, _, _ in shown:
            page.load(page.current)

    def _show_errors(self, issues: list[Issue]) -> None:
        self.issues = issues
        self.connection_page.issues = issues
        self.account_page.issues = issues
        self.general_page.show_errors(issues)
        first = issues[0].field if issues else ""
        match = ITEM_FIELD.match(first)
        self._refresh_lists()
        if match:
            page = self.connection_page if match[1] == "connections" else self.account_page
            row = int(match[2])
            self.tabs.setCurrentWidget(page)
            page.select_quietly(row)
            page.current = row
            page.load(row)
        elif first:
            self.tabs.setCurrentWidget(self.general_page)
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
            self.general_page.data()
        )

    def save(self) -> bool:
        data = self.draft()
        early = [
            Issue(f"accounts[{i}].overrides", f"not 'path = value': {', '.join(a[BAD_OVERRIDES])}")
            for i, a in enumerate(self.accounts)
            if a.get(BAD_OVERRIDES)
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
            self.connection_page.show_keyring_refused()
            if self._refused is not None:
                self._refused(str(exc))
            return False
        self._show_errors([])
        self.secret_changes.clear()
        self.result_config = config
        self.saved.emit(config)
        self.accept()
        return True

"""From the window's Settings (or Leave demo) button to the next workspace.

The settings window is opened non-modally (a nested `exec()` would run a second event loop under
qasync). Once saved, the user chooses whether to apply them now: the console then stops this
workspace (flattens in progress finish first) and starts the one the settings describe.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Protocol

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QMessageBox

from propdesk.config.model import Config, ConfigError
from propdesk.config.secrets import SecretStore
from propdesk.domain.firms import ProfileSet
from propdesk.runtime.notices import Level
from propdesk.ui.main_window import MainWindow
from propdesk.ui.settings_dialog import SettingsDialog


class SettingsSource(Protocol):
    """Where the settings live (the file, the profiles they name, the keyring)."""

    config_path: Path
    profiles: ProfileSet
    secrets: SecretStore

    def load(self) -> Config | None: ...


class SettingsFlow(QObject):
    def __init__(self, window: MainWindow, *, demo: bool, source: SettingsSource) -> None:
        super().__init__(window)
        self.window = window
        self.demo = demo
        self.source = source
        self.apply = asyncio.Event()  # set when the user chose to run the saved settings now
        self.chosen: Config | None = None
        self.dialog: SettingsDialog | None = None
        window.settings_requested.connect(self.open)

    def open(self) -> None:
        if self.dialog is not None and self.dialog.isVisible():
            self.dialog.raise_()
            self.dialog.activateWindow()
            return
        try:
            config = self.source.load()
        except ConfigError as exc:
            config = None
            self.window.banner.show_text(
                Level.WARNING,
                f"The settings file {self.source.config_path} has errors ({exc.issues[0]}"
                f"{' …' if len(exc.issues) > 1 else ''}); saving here replaces it.",
            )
        dialog = SettingsDialog(
            config,
            path=self.source.config_path,
            profiles=self.source.profiles,
            secrets=self.source.secrets,
            parent=self.window,
            refused=self._keyring_refused,
        )
        dialog.saved.connect(self._saved)
        if self.demo and not (config and config.connections):
            dialog.add_connection()  # a first connection to fill in: leaving the demo starts here
        self.dialog = dialog
        dialog.setModal(False)  # FLATTEN ALL stays clickable beside it
        dialog.show()

    def _keyring_refused(self, message: str) -> None:
        self.window.banner.show_text(Level.CRITICAL, f"Settings not saved: {message}")
        show_refusal(self.window, message)

    def _saved(self, config: Config) -> None:
        window = self.window
        if not config.accounts:
            window.banner.show_text(
                Level.INFO,
                "Settings saved. No account is set up yet, so the console stays on the demo."
                if self.demo
                else "Settings saved. No account is set up: applying them would watch nothing.",
            )
            return
        count = len(config.accounts)
        title = "Leave the demo?" if self.demo else "Apply the new settings?"
        question = (
            f"Watch the {count} account(s) in your settings now?\n\n"
            + (
                "The demo stops."
                if self.demo
                else "propdesk stops watching for a moment, reconnects and re-reads every account."
            )
            + " Flattens in progress finish first."
        )

        def answered(yes: bool) -> None:
            if yes:
                self.chosen = config
                self.apply.set()
            else:
                window.banner.show_text(
                    Level.INFO, "Settings saved; they apply the next time propdesk starts."
                )

        window.confirm(title, question, answered)


def show_refusal(parent: MainWindow, message: str) -> None:
    """A keyring refusal, as a non-modal box (never a nested event loop)."""
    box = QMessageBox(
        QMessageBox.Icon.Warning, "propdesk: secrets not saved", message, parent=parent
    )
    box.setModal(False)
    box.show()

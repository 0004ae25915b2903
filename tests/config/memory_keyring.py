"""Keyring backends for tests: a recommended in-memory one, and the kinds propdesk must refuse.

`PYTHON_KEYRING_BACKEND=memory_keyring.MemoryKeyring` selects the first in a subprocess (this
directory on PYTHONPATH).
"""

from __future__ import annotations

from keyring.backend import KeyringBackend
from keyring.errors import KeyringError, PasswordDeleteError


class MemoryKeyring(KeyringBackend):
    """Recommended (priority 1), like the OS keyrings; keeps secrets in a dict."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.entries: dict[tuple[str, str], str] = {}
        self.fail_on: str | None = None  # a user name whose write fails (a locked keyring)

    def get_password(self, service: str, username: str) -> str | None:
        return self.entries.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        if username == self.fail_on:
            raise KeyringError("the keyring is locked")
        self.entries[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if (service, username) not in self.entries:
            raise PasswordDeleteError(username)
        del self.entries[(service, username)]


class LowPriorityKeyring(MemoryKeyring):
    """What keyring ranks below "recommended" (priority < 1): propdesk must refuse it."""

    priority = 0.5  # type: ignore[assignment]

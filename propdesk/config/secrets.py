"""Passwords and API keys: the OS keyring, and nothing else.

keyring silently falls back to a plaintext file when `keyrings.alt` is installed, or to a backend that
cannot store anything (research/qt-stack.md §5). propdesk refuses to store a secret unless every
backend that could receive it is one keyring recommends (priority ≥ 1), checking each backend inside a
ChainerBackend. The refusal says what to install; there is never a fallback file.

Entries are service "propdesk", user name "<connection id>:<secret key>".
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

import keyring
import keyring.backend
import keyring.core
import keyring.errors
from keyring.backends.chainer import ChainerBackend

log = logging.getLogger(__name__)

SERVICE = "propdesk"
# Backends that store secrets where anyone with the file can read them, whatever their priority says.
_INSECURE_MODULES = ("keyrings.alt", "keyring.backends.null", "keyring.backends.fail")

INSTALL_HINT = (
    "Linux: install and unlock a Secret Service keyring (GNOME Keyring: `sudo apt install "
    "gnome-keyring`, or KWallet) and log in to a desktop session; macOS uses the Keychain and "
    "Windows the Credential Locker, both built in. Remove the keyrings.alt package if it is "
    "installed: it writes passwords to a plain file."
)


class NoSecureKeyring(RuntimeError):
    """No recommended keyring backend: propdesk will not store (or read) a secret anywhere else."""


def _backends(backend: keyring.backend.KeyringBackend) -> list[keyring.backend.KeyringBackend]:
    if isinstance(backend, ChainerBackend):
        return list(backend.backends)
    return [backend]


def _insecure(backend: keyring.backend.KeyringBackend) -> str | None:
    """Why `backend` must not hold a secret, or None when it may."""
    module = type(backend).__module__
    name = f"{module}.{type(backend).__name__}"
    if module.startswith(_INSECURE_MODULES):
        return f"{name} does not keep secrets safe"
    try:
        if not keyring.core.recommended(backend):
            return f"{name} is not a recommended keyring (priority {backend.priority})"
    except Exception as exc:  # a backend whose priority check fails is not usable either
        return f"{name} is not usable: {exc}"
    return None


def check_keyring(backend: keyring.backend.KeyringBackend | None = None) -> str:
    """The name of the secure backend in use; raises NoSecureKeyring (with what to do) otherwise."""
    backend = backend if backend is not None else keyring.get_keyring()
    members = _backends(backend)
    if not members:
        raise NoSecureKeyring(f"No keyring backend is available. {INSTALL_HINT}")
    problems = [p for p in (_insecure(b) for b in members) if p is not None]
    if problems:
        raise NoSecureKeyring(
            "propdesk keeps passwords and API keys only in the operating system's keyring, and none "
            f"it can trust is available ({'; '.join(problems)}). Nothing was saved. {INSTALL_HINT}"
        )
    return ", ".join(f"{type(b).__module__}.{type(b).__name__}" for b in members)


def entry(connection_id: str, key: str) -> str:
    return f"{connection_id}:{key}"


class SecretStore:
    """Secrets by (connection id, key) in the OS keyring; refuses to work without a secure one."""

    def __init__(self, backend: keyring.backend.KeyringBackend | None = None) -> None:
        self._backend = backend

    @property
    def backend(self) -> keyring.backend.KeyringBackend:
        return self._backend if self._backend is not None else keyring.get_keyring()

    def check(self) -> str:
        return check_keyring(self.backend)

    def get(self, connection_id: str, key: str) -> str | None:
        self.check()
        try:
            return self.backend.get_password(SERVICE, entry(connection_id, key))
        except keyring.errors.KeyringError as exc:
            raise NoSecureKeyring(f"The keyring could not be read: {exc}. {INSTALL_HINT}") from exc

    def has(self, connection_id: str, key: str) -> bool:
        return self.get(connection_id, key) is not None

    def store(self, changes: Mapping[tuple[str, str], str | None]) -> Callable[[], None]:
        """Set (or, for None, delete) several secrets: all of them, or none (the old values return).

        Returns the undo: the caller puts the old values back if its own step after this one fails.
        """
        if not changes:
            return lambda: None
        self.check()
        backend = self.backend
        done: list[tuple[tuple[str, str], str | None]] = []
        try:
            for (connection_id, key), value in changes.items():
                name = entry(connection_id, key)
                old = backend.get_password(SERVICE, name)
                if value is None:
                    if old is not None:
                        backend.delete_password(SERVICE, name)
                        done.append(((connection_id, key), old))
                else:
                    backend.set_password(SERVICE, name, value)
                    done.append(((connection_id, key), old))
        except keyring.errors.KeyringError as exc:
            self._undo(done)
            raise NoSecureKeyring(
                f"The keyring refused a secret: {exc}. Nothing was saved. {INSTALL_HINT}"
            ) from exc
        return lambda: self._undo(done)

    def _undo(self, done: list[tuple[tuple[str, str], str | None]]) -> None:
        backend = self.backend
        for (connection_id, key), old in reversed(done):
            name = entry(connection_id, key)
            try:
                if old is None:
                    backend.delete_password(SERVICE, name)
                else:
                    backend.set_password(SERVICE, name, old)
            except keyring.errors.KeyringError:
                log.error("could not restore keyring entry %s after a failed save", name)

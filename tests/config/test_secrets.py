"""Secrets go to a recommended OS keyring or nowhere: never a plaintext file, never half-stored."""

from __future__ import annotations

import keyring
import pytest
from keyring.backend import KeyringBackend
from keyring.backends.chainer import ChainerBackend
from memory_keyring import LowPriorityKeyring, MemoryKeyring

from propdesk.config.secrets import SERVICE, NoSecureKeyring, SecretStore, check_keyring


def test_a_recommended_backend_is_accepted_and_named() -> None:
    assert check_keyring(MemoryKeyring()) == "memory_keyring.MemoryKeyring"


def test_a_backend_below_recommended_priority_is_refused_with_what_to_install() -> None:
    with pytest.raises(NoSecureKeyring) as refused:
        check_keyring(LowPriorityKeyring())
    message = str(refused.value)
    assert "not a recommended keyring" in message
    assert "gnome-keyring" in message
    assert "Nothing was saved" in message


def test_the_null_and_fail_backends_are_refused() -> None:
    from keyring.backends.fail import Keyring as FailKeyring
    from keyring.backends.null import Keyring as NullKeyring

    for backend in (NullKeyring(), FailKeyring()):
        with pytest.raises(NoSecureKeyring):
            check_keyring(backend)


def test_a_plaintext_backend_is_refused_whatever_priority_it_claims() -> None:
    # keyrings.alt's PlaintextKeyring is what keyring silently picks when that package is present.
    Plaintext = type("PlaintextKeyring", (MemoryKeyring,), {"__module__": "keyrings.alt.file"})
    with pytest.raises(NoSecureKeyring, match="does not keep secrets safe"):
        check_keyring(Plaintext())


class _Chain(ChainerBackend):
    """A ChainerBackend over given members (the real one chains every viable installed backend)."""

    def __init__(self, members: list[KeyringBackend]) -> None:
        self.members = members

    @property
    def backends(self) -> list[KeyringBackend]:  # type: ignore[override]
        return self.members


def test_each_backend_of_a_chainer_is_checked() -> None:
    good, weak = MemoryKeyring(), LowPriorityKeyring()
    with pytest.raises(NoSecureKeyring, match="LowPriorityKeyring"):
        check_keyring(_Chain([good, weak]))
    assert check_keyring(_Chain([good])) == "memory_keyring.MemoryKeyring"
    with pytest.raises(NoSecureKeyring, match="No keyring backend"):
        check_keyring(_Chain([]))


def test_the_process_keyring_is_used_when_none_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    backend = MemoryKeyring()
    previous = keyring.get_keyring()
    keyring.set_keyring(backend)
    try:
        SecretStore().store({("tv", "password"): "hunter2"})
        assert backend.entries == {(SERVICE, "tv:password"): "hunter2"}
    finally:
        keyring.set_keyring(previous)


def test_store_sets_and_deletes_and_reads_back() -> None:
    backend = MemoryKeyring()
    store = SecretStore(backend)
    store.store({("tv", "password"): "a", ("tv", "sec"): "b"})
    assert store.get("tv", "password") == "a"
    assert store.has("tv", "sec")
    store.store({("tv", "sec"): None, ("px", "api_key"): "k"})
    assert not store.has("tv", "sec")
    assert store.get("px", "api_key") == "k"


def test_a_refused_write_puts_every_earlier_secret_back() -> None:
    backend = MemoryKeyring()
    store = SecretStore(backend)
    store.store({("tv", "password"): "old"})
    backend.fail_on = "tv:sec"
    with pytest.raises(NoSecureKeyring, match="refused a secret"):
        store.store({("tv", "password"): "new", ("px", "api_key"): "k", ("tv", "sec"): "s"})
    assert backend.entries == {(SERVICE, "tv:password"): "old"}


def test_undo_restores_the_previous_values() -> None:
    backend = MemoryKeyring()
    store = SecretStore(backend)
    store.store({("tv", "password"): "old"})
    undo = store.store({("tv", "password"): "new", ("tv", "sec"): "s"})
    assert store.get("tv", "password") == "new"
    undo()
    assert backend.entries == {(SERVICE, "tv:password"): "old"}


def test_nothing_is_read_or_written_without_a_secure_keyring() -> None:
    weak = LowPriorityKeyring()
    weak.entries[(SERVICE, "tv:password")] = "x"
    store = SecretStore(weak)
    with pytest.raises(NoSecureKeyring):
        store.get("tv", "password")
    with pytest.raises(NoSecureKeyring):
        store.store({("tv", "password"): "y"})
    assert weak.entries == {(SERVICE, "tv:password"): "x"}

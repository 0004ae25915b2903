"""Looking for secrets where a trader or a log reader would see them (shared by the adapters' tests).

A secret leaks if its value shows, or, for a long one, any `SLICE` characters of it: a server or
propdesk may cut a text short in the middle of a secret, and half a token is still a leak.
"""

from __future__ import annotations

import logging
import sqlite3
import sys
import traceback
from collections.abc import Iterable, Iterator
from contextlib import closing
from pathlib import Path

import pytest

from propdesk.brokers.base import AccountRef, Broker
from propdesk.domain.clock import Clock
from propdesk.domain.firms import ProfileSet
from propdesk.domain.instruments import InstrumentBook
from propdesk.domain.protocol import Protocol
from propdesk.headless import Printer
from propdesk.runtime.accounts import AccountSetup
from propdesk.runtime.engine import Runtime
from propdesk.runtime.journal import Journal
from propdesk.runtime.notices import Notice

SLICE = 8
LONG = 16  # secrets this long are also looked for in pieces

#: Loggers the adapters' libraries log under with levels of their own: all at DEBUG in these tests.
LIBRARY_LOGGERS = ("rithmic", "websockets", "httpx", "httpcore")
VENUE_LOGGER = "fakes"


def _pieces(secret: str) -> Iterator[str]:
    yield secret
    if len(secret) >= LONG:
        for start in range(len(secret) - SLICE + 1):
            yield secret[start : start + SLICE]


def assert_hidden(secrets: Iterable[str], **places: str) -> None:
    """No secret (nor a long secret's piece) in any of the texts; the message names where."""
    secrets = [s for s in secrets if s]
    assert secrets, "no secret to look for"
    found = []
    for place, text in places.items():
        for secret in secrets:
            piece = next((p for p in _pieces(secret) if p in text), None)
            if piece is not None:
                at = text.index(piece)
                found.append(f"{place} shows {piece!r} of {secret!r}: …{text[at - 60 : at + 60]}…")
    assert not found, "\n".join(found)


def error_text(error: BaseException) -> str:
    """What a raised error can show: its str, its traceback, and the repr of it and of every
    exception chained to it (some, like websockets' InvalidStatus, hold more than they print)."""
    chain: list[BaseException] = []
    link: BaseException | None = error
    while link is not None and link not in chain:
        chain.append(link)
        link = link.__cause__ or link.__context__
    return "\n".join([str(error), *map(repr, chain), *traceback.format_exception(error)])


def journal_text(path: Path) -> str:
    """Every row of every table of a SQLite journal, as text."""
    with closing(sqlite3.connect(path)) as db:
        tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        rows = [row for table in tables for row in db.execute(f"SELECT * FROM {table}")]
    assert rows, f"the journal at {path} is empty"
    return "\n".join(repr(row) for row in rows)


def log_text(caplog: pytest.LogCaptureFixture) -> str:
    """Every record propdesk's side logged, formatted (tracebacks included) and as its message.

    The fake venues log under "fakes…": what the venue's own log says is not propdesk's leak.
    """
    records = [r for r in caplog.records if not r.name.startswith(VENUE_LOGGER)]
    return "\n".join(f"{caplog.handler.format(r)}\n{r.getMessage()}" for r in records)


def log_everything(caplog: pytest.LogCaptureFixture) -> None:
    """Capture every logger at DEBUG, the libraries' own too (they set levels of their own)."""
    caplog.set_level(logging.DEBUG)
    for name in LIBRARY_LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)


def watched_runtime(
    broker: Broker,
    refs: Iterable[AccountRef],
    clock: Clock,
    journal: Journal,
    instruments: InstrumentBook,
    profiles: ProfileSet,
) -> tuple[Runtime, list[Notice]]:
    """The runtime over one adapter, its notices collected and printed as `--headless` does."""
    profile = profiles.get("topstep-combine-50k")
    runtime = Runtime(
        [broker],
        [AccountSetup(ref, profile, Protocol(connection_down_limit=None)) for ref in refs],
        clock=clock,
        journal=journal,
        instruments=instruments,
        reconnect_backoff=(0.5, 1.0),
    )
    notices: list[Notice] = []
    runtime.notices.register(notices.append)
    runtime.notices.register(Printer(sys.stdout))  # what `propdesk --headless` prints
    return runtime, notices

"""A journal that cannot be written never stops the runtime from acting (issue: the kill never fails open).

The faults are SQLite's own: a page limit on the writer's connection makes every insert fail with
SQLITE_FULL ("database or disk is full"), exactly what a full disk gives; an injected error stands
for an immutable file or a mount that went away; a write held on an event stands for a mount that
stalls. Each test lifts the fault and checks that the records kept in memory reach the file.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from notice_wait import notice_matching

from propdesk.brokers.base import AccountRef, OrderRequest, OrderType
from propdesk.brokers.sim import SimBroker, SimExchange, front_month
from propdesk.domain.account import calendar_for
from propdesk.domain.events import Side
from propdesk.domain.firms import ProfileSet
from propdesk.domain.guard import GuardState
from propdesk.domain.instruments import Contract, InstrumentBook
from propdesk.domain.protocol import Protocol
from propdesk.runtime.accounts import AccountSetup
from propdesk.runtime.clock import ScaledClock
from propdesk.runtime.control import FlattenScope
from propdesk.runtime.engine import Runtime
from propdesk.runtime.inbox import Inbox
from propdesk.runtime.journal import Journal, JournalHealth
from propdesk.runtime.journal.files import close_journal
from propdesk.runtime.notices import Alert, FillBooked, Level, Notice, StateChanged, Topic

CT = ZoneInfo("America/Chicago")
T0 = datetime(2026, 11, 24, 9, 0, tzinfo=CT)
DISK_FULL = "database or disk is full"


class Faults:
    """Faults for the journal's writer connection, switched on and off by the test."""

    def __init__(self) -> None:
        self.full = False  # a real SQLITE_FULL: the file may not grow by a page
        self.error: str | None = None  # any other error SQLite or the OS could raise
        self.flowing = threading.Event()  # cleared: a write blocks, as on a stalled mount
        self.flowing.set()
        self.attempts = 0

    def connect(self, path: Path) -> sqlite3.Connection:
        faults = self

        class Connection(sqlite3.Connection):
            def executemany(self, sql: str, rows: Any, /) -> sqlite3.Cursor:  # type: ignore[override]
                faults.attempts += 1
                faults.flowing.wait()
                if faults.error is not None:
                    raise sqlite3.OperationalError(faults.error)
                pages = self.execute("PRAGMA page_count").fetchone()[0]
                self.execute(f"PRAGMA max_page_count={pages if faults.full else 1 << 30}")
                return super().executemany(sql, rows)

        return sqlite3.connect(
            path, isolation_level=None, check_same_thread=False, factory=Connection
        )


def rows_in_file(path: Path) -> list[tuple[int, str]]:
    db = sqlite3.connect(path)
    try:
        return db.execute("SELECT seq, kind FROM records ORDER BY seq").fetchall()
    finally:
        db.close()


async def health_change(seen: list[JournalHealth], count: int, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while len(seen) < count:
            await asyncio.sleep(0.005)


# -- the store --------------------------------------------------------------------------------------
async def test_disk_full_keeps_records_in_memory_and_writes_them_when_space_returns(
    tmp_path: Path,
) -> None:
    faults = Faults()
    journal = Journal(tmp_path / "j.sqlite", connect=faults.connect, retry_every=0.05)
    seen: list[JournalHealth] = []
    journal.watch(seen.append)
    first = journal.record_tick(T0)
    assert journal.commit(), "a healthy journal commits"

    faults.full = True
    # Enough records that the batch needs a new page, so SQLite itself refuses it.
    seqs = [
        journal.record_notice(T0, {"type": "filler", "n": n, "pad": "x" * 200}) for n in range(60)
    ]
    assert not journal.commit(timeout=5.0), "a full disk: not durable, and commit says so"
    await health_change(seen, 1)
    assert not seen[0].writable
    assert "disk is full" in seen[0].reason
    assert DISK_FULL in seen[0].reason
    assert journal.pending == len(seqs)
    assert not journal.commit(timeout=5.0), "while not writable, commit returns at once"
    assert rows_in_file(journal.path) == [(first, "tick")], "nothing half-written"

    more = journal.record_tick(T0 + timedelta(seconds=1))
    journal.flush()
    faults.full = False
    await health_change(seen, 2)
    assert seen[1] == JournalHealth(True, written=len(seqs) + 1)
    assert [seq for seq, _ in rows_in_file(journal.path)] == [first, *seqs, more], (
        "every record kept in memory is written, in order, with its own sequence number"
    )
    assert journal.pending == 0
    assert close_journal(journal) == []


async def test_a_stalled_write_is_not_waited_for_past_the_sync_timeout(tmp_path: Path) -> None:
    faults = Faults()
    journal = Journal(tmp_path / "j.sqlite", connect=faults.connect, sync_timeout=0.05)
    seen: list[JournalHealth] = []
    journal.watch(seen.append)
    faults.flowing.clear()
    seq = journal.record_tick(T0)
    loop = asyncio.get_running_loop()
    began = loop.time()
    assert not journal.commit()
    assert loop.time() - began < 1.0, "the caller acts after the sync timeout, not after the disk"
    await health_change(seen, 1)
    assert not seen[0].writable
    assert "has not finished after 50 ms" in seen[0].reason
    assert not journal.commit(), "no second wait on a stalled disk"
    faults.flowing.set()
    await health_change(seen, 2)
    assert seen[1].writable
    assert rows_in_file(journal.path) == [(seq, "tick")]
    journal.close()


async def test_records_nobody_waits_on_reach_the_file_even_when_nothing_follows(
    tmp_path: Path,
) -> None:
    journal = Journal(tmp_path / "j.sqlite")
    journal.watch(lambda _health: None)
    journal.record_tick(T0)
    journal.flush()  # the first hand-over goes at once
    last = journal.record_tick(T0 + timedelta(seconds=1))
    journal.flush()  # this one waits for its turn: a timer hands it over, nothing else is called
    assert journal.committed_seq < last
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5.0
    while journal.committed_seq < last:
        assert loop.time() < deadline, "the held records never reached the file"
        await asyncio.sleep(0.001)
    assert [seq for seq, _ in rows_in_file(journal.path)] == [1, 2]
    journal.close()


def test_records_that_never_reach_the_file_are_saved_beside_it_at_close(tmp_path: Path) -> None:
    faults = Faults()
    journal = Journal(tmp_path / "j.sqlite", connect=faults.connect, retry_every=0.05)
    faults.error = "attempt to write a readonly database"
    journal.record_tick(T0)
    journal.record_notice(T0, {"type": "flatten", "flat": True})
    assert not journal.commit(timeout=5.0)
    assert "cannot be written" in journal.health.reason
    lines = close_journal(journal)
    assert len(lines) == 1
    assert "2 journal record(s) could not be written" in lines[0]
    [saved] = tmp_path.glob("j.sqlite.unwritten-*.jsonl")
    assert str(saved) in lines[0]
    assert saved.stat().st_mode & 0o777 == 0o600
    kinds = [line.split('"kind":"')[1].split('"')[0] for line in saved.read_text().splitlines()]
    assert kinds == ["tick", "notice"]


# -- the runtime on a journal that fails --------------------------------------------------------------
@dataclass
class Desk:
    runtime: Runtime
    exchange: SimExchange
    strategy: SimBroker
    refs: list[AccountRef]
    es: Contract
    notices: list[Notice]
    journal: Journal
    faults: Faults

    async def until(self, predicate: Any, timeout: float = 10.0) -> Notice:
        return await notice_matching(self.runtime, self.notices, predicate, timeout)

    async def hold_positions(self) -> None:
        for ref in self.refs:
            await self.strategy.place(
                ref, OrderRequest(self.es, Side.BUY, 2, OrderType.MARKET, tag="strategy")
            )
            await self.until(lambda n, k=str(ref): isinstance(n, FillBooked) and n.account == k)

    def journal_alerts(self, level: Level) -> list[Alert]:
        return [
            n
            for n in self.notices
            if isinstance(n, Alert) and n.topic is Topic.JOURNAL and n.level is level
        ]


@pytest.fixture
async def desk(
    tmp_path: Path, instruments: InstrumentBook, profiles: ProfileSet
) -> AsyncIterator[Desk]:
    clock = ScaledClock(T0, speed=30.0)
    calendar = calendar_for(profiles.get("topstep-combine-50k"))
    exchange = SimExchange(instruments, calendar, clock, seed=3)
    refs = [exchange.open_account(f"A{i}", Decimal(50_000)) for i in range(3)]
    strategy = SimBroker(exchange, name="strategy", accounts=refs)
    faults = Faults()
    journal = Journal(
        tmp_path / "journal.sqlite", connect=faults.connect, sync_timeout=0.05, retry_every=0.05
    )
    profile = profiles.get("topstep-combine-50k")
    setups = [AccountSetup(r, profile, Protocol(connection_down_limit=None)) for r in refs]
    runtime = Runtime(
        [SimBroker(exchange)], setups, clock=clock, journal=journal, instruments=instruments
    )
    notices: list[Notice] = []
    runtime.notices.register(notices.append)
    exchange.start()
    await strategy.connect()
    await runtime.start()
    es = front_month(instruments.instrument("ES"), T0)
    yield Desk(runtime, exchange, strategy, refs, es, notices, journal, faults)
    faults.flowing.set()
    await runtime.stop()
    await strategy.close()
    await exchange.stop()
    journal.close()


async def assert_kill_verifies_every_account(desk: Desk) -> None:
    results = await desk.runtime.kill(FlattenScope(all=True), reason="FLATTEN ALL pressed")
    assert [(r.flat, r.detail) for r in results] == [(True, "verified flat")] * len(desk.refs)
    for ref in desk.refs:
        await desk.until(
            lambda n, k=str(ref): (
                isinstance(n, StateChanged) and n.account == k and n.new is GuardState.LOCKED
            )
        )
        assert desk.exchange.snapshot([ref]).is_flat(ref)


@pytest.mark.parametrize(
    "fault",
    ["full", "attempt to write a readonly database", "disk I/O error"],
    ids=["disk-full", "read-only", "mount-gone"],
)
async def test_flatten_all_verifies_flat_while_the_journal_cannot_be_written(
    desk: Desk, fault: str
) -> None:
    await desk.hold_positions()
    if fault == "full":
        desk.faults.full = True
    else:
        desk.faults.error = fault
    # The fault shows on the next write; the kill's own commit may be the one that finds it.
    await assert_kill_verifies_every_account(desk)
    await desk.until(
        lambda n: isinstance(n, Alert) and n.topic is Topic.JOURNAL and n.level is Level.CRITICAL
    )
    [alarm] = desk.journal_alerts(Level.CRITICAL)
    assert alarm.text.startswith("journal not writable: running without durability — ")
    assert (DISK_FULL if fault == "full" else fault) in alarm.text
    status = desk.runtime.status()
    assert status["journal"]["writable"] is False
    assert status["journal"]["pending"] > 0
    assert {a["state"] for a in status["accounts"]} == {"LOCKED"}

    desk.faults.full, desk.faults.error = False, None
    await desk.until(
        lambda n: isinstance(n, Alert) and n.topic is Topic.JOURNAL and n.level is Level.INFO
    )
    assert desk.journal_alerts(Level.INFO)[0].text.startswith("journal writable again: ")
    locks = [
        r.account for r in desk.journal.records(kinds=("action",)) if r.payload["type"] == "lock"
    ]
    assert sorted(locks) == sorted(str(r) for r in desk.refs), "the kept records reached the file"


async def test_flatten_all_verifies_flat_while_the_journal_stalls(desk: Desk) -> None:
    await desk.hold_positions()
    desk.faults.flowing.clear()
    await assert_kill_verifies_every_account(desk)
    [alarm] = desk.journal_alerts(Level.CRITICAL)
    assert "has not finished after 50 ms" in alarm.text
    desk.faults.flowing.set()
    await desk.until(
        lambda n: isinstance(n, Alert) and n.topic is Topic.JOURNAL and n.level is Level.INFO
    )


async def test_a_crashed_event_drain_is_an_alarm_and_starts_again(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    drain = Inbox.drain
    crashed = False

    def crash_once(inbox: Inbox) -> list[Any]:
        nonlocal crashed
        if not crashed:
            crashed = True
            drain(inbox)  # the batch is taken, then lost with the crash
            raise RuntimeError("boom")
        return drain(inbox)

    monkeypatch.setattr(Inbox, "drain", crash_once)
    ref = desk.refs[0]
    await desk.strategy.place(ref, OrderRequest(desk.es, Side.BUY, 1, OrderType.MARKET))
    alarm = await desk.until(
        lambda n: isinstance(n, Alert) and n.topic is Topic.TASK and n.level is Level.CRITICAL
    )
    assert "the event drain task crashed (RuntimeError('boom'))" in alarm.text  # type: ignore[union-attr]
    assert desk.runtime.restarts == {"event drain": 1}
    # The fill in the batch the crash dropped comes back from the broker's own books.
    await desk.until(lambda n: isinstance(n, FillBooked) and n.account == str(ref))
    assert desk.runtime.accounts[str(ref)].risk.ledger.positions


async def test_an_event_that_cannot_be_applied_is_an_alarm(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args: object) -> bool:
        raise ValueError("bad fill")

    monkeypatch.setattr(desk.runtime, "_apply_fill", broken)
    await desk.strategy.place(desk.refs[0], OrderRequest(desk.es, Side.BUY, 1, OrderType.MARKET))
    alarm = await desk.until(
        lambda n: isinstance(n, Alert) and n.topic is Topic.TASK and n.level is Level.CRITICAL
    )
    assert "a AccountFill could not be applied (ValueError('bad fill'))" in alarm.text  # type: ignore[union-attr]
    assert not desk.runtime.restarts, "one bad event does not take the drain down"

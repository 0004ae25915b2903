"""The journal on disk: one writer, damage reported (never a silent fresh start), nothing deleted,
snapshots that rebuild what a full replay does, one file per trading day, and flattens a restart cut
short sent again."""

from __future__ import annotations

import asyncio
import hashlib
import os
import sqlite3
import stat
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from propdesk.app import build_demo_workspace
from propdesk.brokers.base import AccountFill, AccountRef, OrderRequest, OrderType
from propdesk.brokers.sim import SimBroker, SimExchange, front_month
from propdesk.domain.account import calendar_for
from propdesk.domain.events import ClockTick, Fill, Side
from propdesk.domain.firms import ProfileSet
from propdesk.domain.guard import GuardState
from propdesk.domain.instruments import InstrumentBook
from propdesk.domain.protocol import Protocol
from propdesk.runtime import journal_upkeep
from propdesk.runtime.accounts import AccountSetup, risk_for, setup_from_json
from propdesk.runtime.clock import ScaledClock
from propdesk.runtime.control import FlattenScope
from propdesk.runtime.engine import Runtime
from propdesk.runtime.journal import Journal, rebuild
from propdesk.runtime.journal.disk import create_journal_file, read_high_water, side_file
from propdesk.runtime.journal.files import JournalDamaged, close_journal, diagnose, open_journal
from propdesk.runtime.journal.lock import JournalInUse
from propdesk.runtime.notices import Alert, FillBooked, FlattenFinished, Notice, StateChanged, Topic

CT = ZoneInfo("America/Chicago")
T0 = datetime(2026, 11, 24, 9, 0, tzinfo=CT)


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def journal_with_records(path: Path, count: int = 50) -> None:
    journal = Journal(path)
    for n in range(count):
        journal.record_tick(T0 + timedelta(seconds=n))
    assert journal.commit(timeout=5)
    assert close_journal(journal) == []


def moved(directory: Path, why: str) -> list[Path]:
    """The journals moved aside for `why` (not their -wal, -shm or sequence mark)."""
    return [
        p
        for p in directory.glob(f"j.sqlite.{why}-*")
        if not p.name.endswith(("-wal", "-shm", ".seq"))
    ]


async def until(predicate: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


# -- one writer ---------------------------------------------------------------------------------------
def test_a_second_opener_is_refused_and_told_who_holds_the_journal(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    first = open_journal(path)
    with pytest.raises(
        JournalInUse, match=f"journal {path} is in use by propdesk pid {os.getpid()}"
    ):
        open_journal(path)
    with pytest.raises(JournalInUse):
        open_journal(path, fresh=True)  # nor may it move the journal aside
    assert path.exists()
    close_journal(first)
    close_journal(open_journal(path))  # released with the first: the next one may open it


def test_a_fresh_start_moves_the_old_journal_aside_and_deletes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    journal_with_records(path)
    before = sha(path)
    journal = open_journal(path, fresh=True)
    try:
        assert journal.last_seq() == 0
    finally:
        close_journal(journal)
    [kept] = moved(tmp_path, "replaced")
    assert sha(kept) == before, "the old journal is kept unchanged"
    assert read_high_water(kept) == 50, "its sequence mark went with it"


def test_journal_files_are_the_users_alone(tmp_path: Path) -> None:
    directory = tmp_path / "data"
    directory.mkdir(mode=0o755)
    os.chmod(directory, 0o755)
    journal = open_journal(directory / "j.sqlite", private_dir=True)
    journal.record_tick(T0)
    assert journal.commit(timeout=5)
    try:
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700
        for name in ("j.sqlite", "j.sqlite-wal", "j.sqlite.seq", "j.sqlite.lock"):
            assert stat.S_IMODE((directory / name).stat().st_mode) == 0o600, name
    finally:
        close_journal(journal)


# -- damage -------------------------------------------------------------------------------------------
def _truncate_half(path: Path) -> None:
    with open(path, "r+b") as f:
        f.truncate(path.stat().st_size // 2)


def _garbage(path: Path) -> None:
    path.write_bytes(os.urandom(8192))


def _text(path: Path) -> None:
    path.write_text("my trading notes\n")


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _schema(path: Path) -> None:
    db = sqlite3.connect(path)
    db.execute("UPDATE meta SET value = '99' WHERE key = 'schema'")
    db.commit()
    db.close()


def _no_table(path: Path) -> None:
    db = sqlite3.connect(path)
    db.execute("DROP TABLE records")
    db.commit()
    db.close()


def _records_lost(path: Path) -> None:
    # As a restore from a copy taken without its -wal: the file ends before the sequence mark.
    db = sqlite3.connect(path)
    db.execute("DELETE FROM records WHERE seq > 30")
    db.commit()
    db.close()


DAMAGE = {
    "truncated": (_truncate_half, "SQLite cannot read it"),
    "garbage": (_garbage, "it is not a SQLite database"),
    "not-a-database": (_text, "it is not a SQLite database"),
    "empty": (_empty, "it is empty (0 bytes)"),
    "wrong-schema": (_schema, "it is journal schema 99, which this propdesk cannot read"),
    "missing-table": (_no_table, "it has no records table"),
    "lost-wal": (_records_lost, "it ends at record 30, but the previous run wrote up to record 50"),
}


@pytest.mark.parametrize("kind", sorted(DAMAGE))
def test_a_damaged_journal_is_moved_aside_and_explained(tmp_path: Path, kind: str) -> None:
    damage, says = DAMAGE[kind]
    path = tmp_path / "j.sqlite"
    journal_with_records(path)
    damage(path)
    damaged = sha(path)
    with pytest.raises(JournalDamaged) as raised:
        open_journal(path)
    message = str(raised.value)
    assert message.startswith(f"propdesk: the journal {path} cannot be used: ")
    assert says in message
    assert "--new-journal" in message
    [aside] = moved(tmp_path, "damaged")
    assert f"moved aside, unchanged, to {aside}" in message
    assert sha(aside) == damaged, "kept exactly as found"
    assert not path.exists()
    # The trader's explicit choice: a new journal (the damaged one stays where it was moved).
    fresh = open_journal(path, fresh=True)
    assert fresh.last_seq() == 0
    close_journal(fresh)
    assert aside.exists()


def test_a_journal_deleted_behind_propdesks_back_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    journal_with_records(path)
    path.unlink()
    assert diagnose(path) == (
        "the journal is missing, but the previous run wrote 50 records to it "
        "(deleted or moved by hand?)"
    )
    with pytest.raises(JournalDamaged, match="the journal is missing"):
        open_journal(path)


def test_a_journal_whose_records_cannot_be_replayed_is_moved_aside(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    journal = Journal(path)
    journal.record_event("sim:GHOST", ClockTick(T0))
    assert journal.commit(timeout=5)
    close_journal(journal)
    with pytest.raises(
        JournalDamaged, match=r"its records cannot be replayed .*unregistered account"
    ):
        build_demo_workspace(speed=60, seed=7, journal=path, control_path=None)
    assert len(moved(tmp_path, "damaged")) == 1
    assert not path.exists()


def test_a_rotation_cut_short_between_its_renames_is_finished_at_opening(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    journal_with_records(path)
    following = side_file(path, "next")
    create_journal_file(
        following, day=date(2026, 11, 25), first=(51, T0.isoformat(), "tick", None, None, "{}")
    )
    os.rename(path, tmp_path / "j.2026-11-24.sqlite")  # the crash came here
    journal = open_journal(path)
    try:
        assert journal.day == date(2026, 11, 25)
        assert journal.last_seq() == 51
    finally:
        close_journal(journal)
    assert not following.exists()


def test_a_next_file_never_switched_to_is_moved_aside(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    journal_with_records(path)
    create_journal_file(side_file(path, "next"), day=date(2026, 11, 25))
    journal = open_journal(path)
    try:
        assert journal.last_seq() == 50, "the current file goes on"
    finally:
        close_journal(journal)
    assert len(list(tmp_path.glob("j.sqlite.next.unused-*"))) == 1


# -- the runtime over a journal -----------------------------------------------------------------------
@dataclass
class Desk:
    runtime: Runtime
    exchange: SimExchange
    strategy: SimBroker
    refs: list[AccountRef]
    journal: Journal
    notices: list[Notice]

    async def buy(self, ref: AccountRef, qty: int = 1) -> None:
        es = front_month(self.exchange.instruments.instrument("ES"), self.runtime.clock.now())
        await self.strategy.place(ref, OrderRequest(es, Side.BUY, qty, OrderType.MARKET))


def setups(profiles: ProfileSet, refs: list[AccountRef]) -> list[AccountSetup]:
    ids = ["topstep-combine-50k", "apex-intraday-50k", "tradeify-growth-50k"]
    return [
        AccountSetup(r, profiles.get(ids[i]), Protocol(connection_down_limit=None))
        for i, r in enumerate(refs)
    ]


async def start_desk(
    journal: Journal,
    exchange: SimExchange,
    profiles: ProfileSet,
    instruments: InstrumentBook,
    broker: SimBroker | None = None,
) -> Desk:
    refs = exchange.accounts
    runtime = Runtime(
        [broker or SimBroker(exchange)],
        setups(profiles, refs),
        clock=exchange.clock,
        journal=journal,
        instruments=instruments,
        tick_seconds=0.5,
    )
    notices: list[Notice] = []
    runtime.notices.register(notices.append)
    strategy = SimBroker(exchange, name="strategy", accounts=refs)
    await strategy.connect()
    await runtime.start()
    return Desk(runtime, exchange, strategy, refs, journal, notices)


def new_exchange(
    instruments: InstrumentBook, profiles: ProfileSet, clock: ScaledClock
) -> SimExchange:
    calendar = calendar_for(profiles.get("topstep-combine-50k"))
    exchange = SimExchange(instruments, calendar, clock, seed=5)
    for i in range(3):
        exchange.open_account(f"A{i}", Decimal(50_000))
    return exchange


@pytest.fixture
async def exchange(instruments: InstrumentBook, profiles: ProfileSet) -> AsyncIterator[SimExchange]:
    exchange = new_exchange(instruments, profiles, ScaledClock(T0, speed=60.0))
    exchange.start()
    yield exchange
    await exchange.stop()


def full_and_from_snapshot(path: Path, instruments: InstrumentBook) -> tuple[Any, Any, Any]:
    """A replay of every record; the restart's (last snapshot and tail); the file's fill ids."""
    journal = Journal(path)
    try:
        make = lambda _ref, config: risk_for(setup_from_json(config))  # noqa: E731
        full = rebuild(journal.records(), make, instruments, use_snapshots=False)
        last = journal.last_snapshot_seq()
        assert last is not None
        tail = rebuild(journal.records(after=last - 1), make, instruments)
        assert tail.snapshot_seq == last
        return full, tail, journal.fill_ids()
    finally:
        journal.close()


async def test_a_snapshot_and_its_tail_rebuild_what_every_record_does(
    tmp_path: Path,
    exchange: SimExchange,
    profiles: ProfileSet,
    instruments: InstrumentBook,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(journal_upkeep, "SNAPSHOT_EVERY", 40)
    path = tmp_path / "j.sqlite"
    desk = await start_desk(Journal(path), exchange, profiles, instruments)
    for ref in desk.refs:
        await desk.buy(ref, 2)
    await until(
        lambda: sum(isinstance(n, FillBooked) for n in desk.notices) >= 3, "the three fills"
    )
    await desk.runtime.kill(FlattenScope(accounts=(str(desk.refs[0]),)))
    await until(
        lambda: len(desk.journal.query("SELECT seq FROM records WHERE kind='snapshot'")) >= 3,
        "three snapshots",
    )
    await desk.buy(desk.refs[1], 1)  # records after the last snapshot, too
    await until(lambda: sum(isinstance(n, FillBooked) for n in desk.notices) >= 5, "more fills")
    desk.journal.commit(timeout=5)
    # Compare with the live state before anything else moves it.
    live = {k: a.risk.durable_state() for k, a in desk.runtime.accounts.items()}
    full, tail, in_file = full_and_from_snapshot(path, instruments)
    assert {k: r.durable_state() for k, r in tail.accounts.items()} == {
        k: r.durable_state() for k, r in full.accounts.items()
    }
    assert {k: {**in_file.get(k, {}), **ids} for k, ids in tail.fill_ids.items()} == full.fill_ids
    assert tail.open_flattens == full.open_flattens
    assert {k: v.fills for k, v in tail.counters.items()} == {
        k: v.fills for k, v in full.counters.items()
    }
    assert set(live) == set(full.accounts)
    await desk.runtime.stop()
    await desk.strategy.close()
    close_journal(desk.journal)


async def test_a_new_trading_day_starts_a_new_file_that_begins_with_a_snapshot(
    tmp_path: Path, profiles: ProfileSet, instruments: InstrumentBook
) -> None:
    before_roll = datetime(2026, 11, 24, 16, 59, 56, tzinfo=CT)
    exchange = new_exchange(instruments, profiles, ScaledClock(before_roll, speed=20.0))
    exchange.start()
    path = tmp_path / "j.sqlite"
    journal = open_journal(path)
    desk = await start_desk(journal, exchange, profiles, instruments)
    assert journal.day == date(2026, 11, 24)
    await desk.runtime.kill(FlattenScope(accounts=(str(desk.refs[2]),)))  # a lock to carry over
    # A fill the broker may list again after a reconnect tomorrow: its id must carry over.
    es = front_month(instruments.instrument("ES"), before_roll)
    late = Fill(before_roll, es, Side.BUY, 1, Decimal("6000"), Decimal("1.24"), "late-fill")
    desk.runtime.inbox.put("sim", AccountFill(desk.refs[0], late))
    await until(lambda: any(isinstance(n, FillBooked) for n in desk.notices), "the late fill")
    await until(lambda: journal.day == date(2026, 11, 25), "the 17:00 CT roll", timeout=10)
    archive = tmp_path / "j.2026-11-24.sqlite"
    assert archive.exists()
    old = sqlite3.connect(archive)
    old_last = old.execute("SELECT MAX(seq) FROM records").fetchone()[0]
    old.close()
    [(first_seq, first_kind)] = journal.query("SELECT seq, kind FROM records ORDER BY seq LIMIT 1")
    assert (first_seq, first_kind) == (old_last + 1, "snapshot"), "the sequence goes on"
    assert read_high_water(path) >= first_seq
    await desk.runtime.stop()
    live = {k: a.risk.durable_state() for k, a in desk.runtime.accounts.items()}
    await desk.strategy.close()
    close_journal(journal)
    await exchange.stop()
    # A restart reads the new day's file only, and knows everything.
    again = Journal(path)
    runtime = Runtime(
        [],
        setups(profiles, desk.refs),
        clock=exchange.clock,
        journal=again,
        instruments=instruments,
    )
    runtime.restore()
    assert {k: a.risk.durable_state() for k, a in runtime.accounts.items()} == live
    assert runtime.accounts[str(desk.refs[2])].risk.status.state is GuardState.LOCKED
    assert "late-fill" in runtime.accounts[str(desk.refs[0])].fill_ids
    close_journal(again)


async def test_a_flatten_cut_short_by_a_crash_is_sent_again_at_the_restart(
    tmp_path: Path,
    exchange: SimExchange,
    profiles: ProfileSet,
    instruments: InstrumentBook,
) -> None:
    path = tmp_path / "j.sqlite"
    # The broker takes the flatten's requests and never answers: the process dies meanwhile.
    stuck = SimBroker(exchange)
    never = asyncio.Event()

    async def hang(*_args: object) -> None:
        await never.wait()

    desk = await start_desk(Journal(path), exchange, profiles, instruments, broker=stuck)
    for ref in desk.refs:
        await desk.buy(ref, 2)
    await until(lambda: sum(isinstance(n, FillBooked) for n in desk.notices) >= 3, "fills")
    stuck.cancel_all = hang  # type: ignore[method-assign]
    stuck.flatten = hang  # type: ignore[method-assign]
    victims = [str(r) for r in desk.refs[:2]]
    kill = asyncio.ensure_future(desk.runtime.kill(FlattenScope(accounts=tuple(victims))))
    await until(
        lambda: all(
            desk.runtime.accounts[k].risk.status.state is GuardState.FLATTENING for k in victims
        ),
        "the flattens under way",
    )
    # The crash: nothing more reaches the journal; the venue keeps the positions.
    for task in [*desk.runtime._tasks, *desk.runtime._flatten_tasks, kill]:
        task.cancel()
    await asyncio.gather(*desk.runtime._tasks, kill, return_exceptions=True)
    close_journal(desk.journal)
    await desk.strategy.close()
    await stuck.close()
    assert not exchange.snapshot(desk.refs[:2]).is_flat(desk.refs[0])

    again = await start_desk(Journal(path), exchange, profiles, instruments)
    for key in victims:
        await until(
            lambda k=key: any(
                isinstance(n, StateChanged) and n.account == k and n.new is GuardState.LOCKED
                for n in again.notices
            ),
            f"{key} locked",
        )
        [alert] = [
            n
            for n in again.notices
            if isinstance(n, Alert) and n.account == key and n.topic is Topic.RESTORE
        ]
        assert alert.text.startswith("flatten interrupted by a restart — re-issued")
        assert any(
            isinstance(n, FlattenFinished) and n.account == key and n.flat for n in again.notices
        )
    for ref in desk.refs[:2]:
        assert exchange.snapshot([ref]).is_flat(ref)
    untouched = str(desk.refs[2])
    assert again.runtime.accounts[untouched].risk.status.state is GuardState.ACTIVE
    assert not [n for n in again.notices if isinstance(n, Alert) and n.account == untouched]
    await again.runtime.stop()
    await again.strategy.close()
    # The journal says what happened: the resumed flatten and its verified result.
    journal = Journal(path)
    kinds = [
        (r.account, r.payload["type"])
        for r in journal.records(kinds=("notice",))
        if r.payload["type"] in ("flatten_resumed", "flatten")
    ]
    close_journal(journal)
    for key in victims:
        assert kinds.index((key, "flatten_resumed")) < kinds.index((key, "flatten"))


async def test_a_restart_with_the_clock_behind_the_journal_is_an_alarm(
    tmp_path: Path, profiles: ProfileSet, instruments: InstrumentBook
) -> None:
    path = tmp_path / "j.sqlite"
    refs = [AccountRef("sim", f"A{i}") for i in range(3)]
    journal = Journal(path)
    journal.register_account(T0, str(refs[0]), setup_from_json_form(profiles, refs[0]))
    journal.record_tick(T0 + timedelta(hours=3))
    assert journal.commit(timeout=5)
    close_journal(journal)
    behind = ScaledClock(T0 + timedelta(minutes=30), speed=1.0)  # 2 h 30 min behind the journal
    journal = Journal(path)
    runtime = Runtime(
        [], setups(profiles, refs), clock=behind, journal=journal, instruments=instruments
    )
    notices: list[Notice] = []
    runtime.notices.register(notices.append)
    await runtime.start()
    try:
        [alarm] = [n for n in notices if isinstance(n, Alert) and n.topic is Topic.CLOCK]
        assert alarm.text.startswith("clock: the system clock (")
        assert "is behind the journal's last record" in alarm.text
        assert "by 2 h 30 min" in alarm.text
    finally:
        await runtime.stop()
        close_journal(journal)


def setup_from_json_form(profiles: ProfileSet, ref: AccountRef) -> dict[str, Any]:
    from propdesk.runtime.accounts import setup_to_json

    return setup_to_json(setups(profiles, [ref])[0])

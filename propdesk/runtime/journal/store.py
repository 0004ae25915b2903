"""The journal's store: append-only records in one SQLite file (WAL), written by a thread of its own.

Records are appended in memory on the event loop's thread and handed to the writer thread in batches.
`commit()` hands them over and waits, for a bounded time, until they are durable: the runtime commits
before it acts, so a flatten's reason is on disk before its first request leaves. What the journal
never does is stop the runtime from acting:

- a write or commit that fails (disk full, read-only or immutable file, I/O error on a disconnected
  mount) rolls back, keeps every record of the batch in memory, reports the fault, and retries;
- a write that hangs (a stalled network mount) is not waited for past `sync_timeout`;
- while the journal is not writable, `commit()` returns at once: act first, record when possible.

The records kept in memory are written, in order and with their own sequence numbers, as soon as the
file can be written again; the health callback hears of the fault and of the recovery.

One file per trading day: `rotate()` archives the current file under its day's name and starts a new
one whose first record is a snapshot of every account, so a restart reads one day at most. Beside
the file: `<name>.seq` holds the last sequence number written (a journal that ends before it lost
records), `<name>.lock` the one-writer lock (lock.py).

Durability: WAL with synchronous=NORMAL. A committed transaction survives the process being killed
(SIGKILL, a crash); a power cut may lose the last transactions before the next checkpoint. SQLite's
automatic checkpoint is off: `checkpoint()` runs on its own connection, in a thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from propdesk.domain.events import AccountEvent, Mark
from propdesk.domain.guard import Action
from propdesk.runtime.journal.codec import JournalError, encode_event
from propdesk.runtime.journal.disk import (
    INSERT,
    READABLE_SCHEMAS,
    SCHEMA,
    Row,
    archive_path,
    connect_existing,
    create_journal_file,
    describe_error,
    fsync_dir,
    refuses_writes,
    side_file,
)

if TYPE_CHECKING:
    from propdesk.runtime.journal.lock import JournalLock

log = logging.getLogger(__name__)

# How long `commit()` waits for the writer before the runtime acts without durability. A commit
# takes well under a millisecond on a local disk (bench/); only a stalled file system gets here.
SYNC_TIMEOUT = 0.25
# Seconds between attempts to write the records kept in memory while the file cannot be written.
RETRY_EVERY = 1.0
# Records nobody waits on are handed to the writer this often at most (seconds), or this many.
FLUSH_EVERY = 0.005
FLUSH_ROWS = 256
# Records in one transaction at most: a long outage's backlog goes in steps that each fit the disk.
_MAX_BATCH = 5_000

ConnectionFactory = Callable[[Path], sqlite3.Connection]


@dataclass(frozen=True, slots=True)
class Record:
    seq: int
    ts: datetime
    kind: str
    account: str | None
    broker: str | None
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class JournalHealth:
    """Whether records reach the file; `pending` records wait in memory while they do not."""

    writable: bool
    reason: str = ""
    pending: int = 0
    written: int = 0  # on a recovery: how many records kept in memory were written


HealthCallback = Callable[[JournalHealth], None]


@dataclass(frozen=True, slots=True)
class _Meta:
    """A meta value written in order with the records around it."""

    key: str
    value: str


@dataclass(frozen=True, slots=True)
class _Switch:
    """Archive the current file and start `day`'s, whose first record is `snapshot`."""

    day: date
    old_day: date
    snapshot: Row


_Item = Row | _Meta | _Switch


class Journal:
    """Append on the event loop's thread, `commit()` before acting; the writer thread does the rest."""

    def __init__(
        self,
        path: Path,
        *,
        sync_timeout: float = SYNC_TIMEOUT,
        retry_every: float = RETRY_EVERY,
        connect: ConnectionFactory = connect_existing,
        lock: JournalLock | None = None,
    ) -> None:
        self.path = Path(path)
        self._sync_timeout = sync_timeout
        self._retry_every = retry_every
        self._connect = connect
        self._lock = lock
        if not self.path.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            create_journal_file(self.path)
        # Held by whoever opens, closes or renames the file: the writer's switch of days, the
        # checkpoints' own connection and the reader, so none works on a file being renamed.
        self._files = threading.Lock()
        self._cond = threading.Condition()
        self._switching = False
        self._db: sqlite3.Connection | None = None  # reads, on the owner's thread
        self.day = self._open_schema()
        self._last_seq = self.last_seq()
        self.committed_seq = self._last_seq
        self.since_snapshot = 0  # records appended since the last snapshot
        self._rows: list[Row] = []  # appended since the last hand-over (owner's thread only)
        self._handed_at = 0.0  # monotonic time of the last hand-over
        self._flush_timer: asyncio.TimerHandle | None = None
        self._queue: list[_Item] = []  # handed to the writer, not yet done, in order
        self._health = JournalHealth(True)
        self._backlog_written = 0  # records written from memory since the fault began
        self._stopping = False
        self.switch_failed: str | None = None  # why the last change of day's file failed
        self._watch: HealthCallback | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._mark = self._open_high_water()
        self._writer = threading.Thread(target=self._write_loop, name="journal writer", daemon=True)
        self._writer.start()

    def _open_schema(self) -> date | None:
        db = self._reader()
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(SCHEMA)
        except sqlite3.OperationalError:
            pass  # read-only: it is still read; the writer reports the fault on its first write
        meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
        version = meta.get("schema")
        if version is None:
            raise JournalError(f"{self.path}: not a propdesk journal (no schema version)")
        if int(version) not in READABLE_SCHEMAS:
            raise JournalError(
                f"{self.path}: journal schema {version}; this propdesk reads "
                f"{', '.join(map(str, READABLE_SCHEMAS))}"
            )
        day = meta.get("day")
        return None if day is None else date.fromisoformat(day)

    def _reader(self) -> sqlite3.Connection:
        if self._db is None:
            with self._cond:  # never open the file the writer is about to rename
                self._cond.wait_for(lambda: not self._switching)
            with self._files:
                self._db = connect_existing(self.path)
        return self._db

    def _close_reader(self) -> None:
        db, self._db = self._db, None
        if db is not None:
            with contextlib.suppress(sqlite3.Error):
                db.close()

    def _open_high_water(self) -> int | None:
        try:
            return os.open(side_file(self.path, "seq"), os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            log.warning("journal %s: no sequence mark beside it (%s)", self.path, exc)
            return None

    # -- health -----------------------------------------------------------------------------------
    @property
    def health(self) -> JournalHealth:
        with self._cond:
            return self._health

    @property
    def pending(self) -> int:
        """Records not yet durable: appended, or handed to the writer and not written."""
        with self._cond:
            return len(self._queue) + len(self._rows)

    def watch(self, callback: HealthCallback) -> None:
        """Call `callback` on the running loop's thread whenever the health changes."""
        self._loop = asyncio.get_running_loop()
        self._watch = callback

    def _report(self, health: JournalHealth) -> None:
        """Record a new health (the lock is held) and tell the watcher, on its loop."""
        self._health = health
        callback, loop = self._watch, self._loop
        if callback is None or loop is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody left to tell
            loop.call_soon_threadsafe(callback, health)

    # -- writing (owner's thread) ------------------------------------------------------------------
    def _row(
        self,
        ts: datetime,
        kind: str,
        payload: dict[str, Any],
        account: str | None = None,
        broker: str | None = None,
    ) -> Row:
        self._last_seq += 1
        self.since_snapshot += 1
        text = json.dumps(payload, separators=(",", ":"))
        return (self._last_seq, ts.isoformat(), kind, account, broker, text)

    def _append(self, row: Row) -> int:
        self._rows.append(row)
        return row[0]

    def register_account(self, ts: datetime, account: str, config: dict[str, Any]) -> int:
        return self._append(self._row(ts, "account", config, account=account))

    def record_event(self, account: str, event: AccountEvent) -> int:
        return self._append(self._row(event.ts, "event", encode_event(event), account=account))

    def record_mark(self, broker: str, mark: Mark) -> int:
        return self._append(self._row(mark.ts, "mark", encode_event(mark), broker=broker))

    def record_tick(self, ts: datetime) -> int:
        return self._append(self._row(ts, "tick", {}))

    def record_action(self, ts: datetime, account: str, action: Action, state: str) -> int:
        payload = {
            "type": action.type.value,
            "reason": action.reason,
            "rule": action.rule,
            "state": state,
        }
        if action.roots is not None:
            payload["roots"] = sorted(action.roots)
        return self._append(self._row(ts, "action", payload, account=account))

    def record_notice(
        self, ts: datetime, payload: dict[str, Any], account: str | None = None
    ) -> int:
        return self._append(self._row(ts, "notice", payload, account=account))

    def record_snapshot(self, ts: datetime, payload: dict[str, Any]) -> int:
        """Every account's state as of now: a restart starts from the last one."""
        seq = self._append(self._row(ts, "snapshot", payload))
        self.since_snapshot = 0
        return seq

    def set_day(self, day: date) -> None:
        """Say which trading day this file holds (a file made before the runtime knew it)."""
        self.day = day
        self._enqueue(_Meta("day", day.isoformat()))

    @property
    def rotating(self) -> bool:
        with self._cond:
            return self._switching

    def rotate(self, day: date, ts: datetime, snapshot: dict[str, Any]) -> bool:
        """Archive this file under its day's name and go on in a new one for `day`.

        The new file's first record is `snapshot` (every account's state as of now), written with
        the new file before it takes the journal's name, so no crash leaves a day without one. The
        switch runs on the writer thread after every record appended before it; records appended
        after it go to the new file. Returns False (nothing done) while the journal is not
        writable or a switch is under way; a switch that fails leaves the snapshot in this file
        and says why in `switch_failed`.
        """
        if self.day is None or self.day == day:
            return False
        with self._cond:
            if self._switching or not self._health.writable:
                return False
            self._switching = True
        self.switch_failed = None
        self.flush(now=True)
        self._close_reader()  # no connection of ours may hold the file while it is renamed
        row = self._row(ts, "snapshot", snapshot)
        self.since_snapshot = 0
        self._enqueue(_Switch(day, self.day, row))
        return True

    def _enqueue(self, item: _Item) -> None:
        self.flush(now=True)
        with self._cond:
            self._queue.append(item)
            self._cond.notify_all()

    def flush(self, *, now: bool = False) -> None:
        """Hand what was appended to the writer without waiting for it.

        Records nobody waits on (marks, ticks) are handed over every `FLUSH_EVERY` at most, or
        once `FLUSH_ROWS` wait: each hand-over wakes the writer, and a writer woken for every drain
        competes with the event loop for the interpreter; a longer wait would make the commit
        before a flatten carry more of them (bench/breach_latency.py, bench/kill_latency.py).
        `now`: hand over at once.
        """
        if not self._rows:
            return
        if not now and len(self._rows) < FLUSH_ROWS:
            waited = time.monotonic() - self._handed_at
            if waited < FLUSH_EVERY:
                self._flush_later(FLUSH_EVERY - waited)
                return
        rows, self._rows = self._rows, []
        self._handed_at = time.monotonic()
        with self._cond:
            self._queue.extend(rows)
            self._cond.notify_all()

    def _flush_later(self, delay: float) -> None:
        """Hand over what waits once `delay` has passed, even if nothing else is appended."""
        loop = self._loop
        if self._flush_timer is not None or loop is None or loop.is_closed():
            return

        def due() -> None:
            self._flush_timer = None
            self.flush(now=True)

        self._flush_timer = loop.call_later(delay, due)

    def commit(self, timeout: float | None = None) -> bool:
        """Hand everything appended to the writer and wait until it is durable.

        Returns True when it is. Returns False at once while the journal is not writable, and after
        `timeout` (default: the journal's sync timeout) when the writer has not finished: the caller
        acts either way. Never raises for a storage fault.
        """
        self.flush(now=True)
        target = self._last_seq
        wait = self._sync_timeout if timeout is None else timeout
        with self._cond:
            if self.committed_seq >= target:
                return True
            if not self._health.writable:
                return False
            done = self._cond.wait_for(
                lambda: self.committed_seq >= target or not self._health.writable, wait
            )
            if self.committed_seq >= target:
                return True
            if not done:
                self._report(
                    JournalHealth(
                        False,
                        f"a write has not finished after {wait * 1000:.0f} ms "
                        "(a stalled disk or network mount?)",
                        len(self._queue),
                    )
                )
            return False

    # -- the writer thread ---------------------------------------------------------------------------
    def _write_loop(self) -> None:
        db: sqlite3.Connection | None = None
        while True:
            with self._cond:
                self._cond.wait_for(lambda: bool(self._queue) or self._stopping)
                if not self._queue:
                    break  # stopping, and everything is written
                items = list(self._queue)
                last_try = self._stopping
            rows: list[Row] = []
            for item in items:
                if not isinstance(item, tuple) or len(rows) == _MAX_BATCH:
                    break
                rows.append(item)
            following = items[len(rows)] if len(rows) < len(items) else None
            command = None if isinstance(following, tuple) else following
            try:
                if db is None:
                    db = self._open_writer()
                if rows:
                    db.execute("BEGIN IMMEDIATE")
                    db.executemany(INSERT, rows)
                    db.execute("COMMIT")
                if isinstance(command, _Meta):
                    db.execute(
                        "INSERT OR REPLACE INTO meta VALUES (?, ?)", (command.key, command.value)
                    )
            except (sqlite3.Error, OSError) as exc:
                if db is not None and db.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        db.execute("ROLLBACK")
                self._write_failed(exc)
                if last_try:
                    break  # closing: close() hands back what is left
                self._pause_before_retry()  # cut short by close(): then one last try
                continue
            done = len(rows) + (1 if isinstance(command, _Meta) else 0)
            if isinstance(command, _Switch):
                db, switched = self._switch(db, command)
                if switched:
                    done += 1
                else:
                    # The snapshot goes into this file instead, as the next record written.
                    with self._cond:
                        self._queue[len(rows)] = command.snapshot
            self._written(done, rows[-1][0] if rows else None)
        if db is not None:
            with contextlib.suppress(sqlite3.Error):
                db.close()

    def _pause_before_retry(self) -> None:
        """Wait `retry_every`: new records do not shorten the wait, closing does."""
        deadline = time.monotonic() + self._retry_every
        with self._cond:
            while not self._stopping and (left := deadline - time.monotonic()) > 0:
                self._cond.wait(left)

    def _open_writer(self) -> sqlite3.Connection:
        db = self._connect(self.path)
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA wal_autocheckpoint=0")
        return db

    def _write_failed(self, exc: BaseException) -> None:
        reason = describe_error(exc)
        if "i/o" in str(exc).lower() and (refused := refuses_writes(self.path)):
            # SQLite says only "disk I/O error"; the file system says why (immutable, read-only).
            reason = f"the file cannot be written ({refused}; SQLite: {exc})"
        with self._cond:
            pending = len(self._queue)
            if self._health.writable or self._health.reason != reason:
                log.error(
                    "journal %s not writable: %s (%d records kept)", self.path, reason, pending
                )
                self._report(JournalHealth(False, reason, pending))
            self._cond.notify_all()

    def _written(self, done: int, last_seq: int | None) -> None:
        with self._cond:
            written = sum(1 for item in self._queue[:done] if isinstance(item, tuple))
            del self._queue[:done]
            if last_seq is not None:
                self.committed_seq = max(self.committed_seq, last_seq)
            if not self._health.writable:
                self._backlog_written += written
                if not self._queue:
                    total, self._backlog_written = self._backlog_written, 0
                    log.warning("journal %s writable again: %d records written", self.path, total)
                    self._report(JournalHealth(True, written=total))
            self._cond.notify_all()
        if last_seq is not None:
            self._write_high_water(last_seq)

    def _write_high_water(self, seq: int) -> None:
        if self._mark is None:
            return
        with contextlib.suppress(OSError):  # the mark is a check, never a reason to stop
            os.lseek(self._mark, 0, os.SEEK_SET)
            os.write(self._mark, f"{seq:020d}\n".encode("ascii"))

    def _switch(
        self, db: sqlite3.Connection, switch: _Switch
    ) -> tuple[sqlite3.Connection | None, bool]:
        """On the writer thread: archive the current file, put the next day's in its place.

        Order: the next file is made complete (snapshot included) under `<name>.next` and synced;
        the current file is renamed to its archive name; the next one takes the journal's name. A
        crash between the two renames leaves `<name>.next` and no `<name>`, which opening finishes.
        Returns the writer's connection (None: reopened on the next write) and whether it worked;
        when it did not, the current file goes on as before.
        """
        following = side_file(self.path, "next")
        archive: Path | None = None
        with self._files:
            try:
                busy, frames, done = db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
                db.close()
                wal = Path(f"{self.path}-wal")
                if busy or frames != done or (wal.exists() and wal.stat().st_size):
                    raise OSError(f"the write-ahead log of {self.path} could not be folded in")
                if following.exists():
                    raise OSError(f"{following} is in the way (from an interrupted start?)")
                create_journal_file(following, day=switch.day, first=switch.snapshot)
                archive = archive_path(self.path, switch.old_day)
                os.rename(self.path, archive)
                os.rename(following, self.path)
                fsync_dir(self.path.parent)
            except (sqlite3.Error, OSError) as exc:
                if archive is not None and not self.path.exists() and archive.exists():
                    with contextlib.suppress(OSError):
                        os.rename(archive, self.path)  # back where it was: the day goes on
                reason = describe_error(exc)
                log.error("journal %s: the new day's file was not started: %s", self.path, reason)
                with self._cond:
                    self.switch_failed = reason
                    self._switching = False
                    self._cond.notify_all()
                return None, False
        log.info("journal: %s archived as %s; %s started", switch.old_day, archive, switch.day)
        with self._cond:
            self.day = switch.day
            self._switching = False
            self.committed_seq = max(self.committed_seq, switch.snapshot[0])
            self._cond.notify_all()
        self._write_high_water(switch.snapshot[0])
        return None, True

    # -- closing -----------------------------------------------------------------------------------------
    def close(self, timeout: float = 5.0) -> list[Row]:
        """Write what is left (waiting up to `timeout`), stop the writer and close the file.

        Returns the records that could not be written (empty when all are durable); the caller
        says so and keeps them. Never raises for a storage fault. Releases the one-writer lock.
        """
        if self._flush_timer is not None:
            self._flush_timer.cancel()
            self._flush_timer = None
        self.flush(now=True)
        with self._cond:
            self._cond.wait_for(lambda: not self._queue or not self._health.writable, timeout)
            self._stopping = True
            self._cond.notify_all()
        self._writer.join(timeout)
        with self._cond:
            unwritten = [item for item in self._queue if isinstance(item, tuple)]
            unwritten += [item.snapshot for item in self._queue if isinstance(item, _Switch)]
        if not self._writer.is_alive():
            with contextlib.suppress(sqlite3.Error):
                # Leave one tidy file behind: the WAL folded in and truncated.
                self._reader().execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._close_reader()
        if self._mark is not None:
            with contextlib.suppress(OSError):
                os.close(self._mark)
            self._mark = None
        if self._lock is not None:
            self._lock.release()
            self._lock = None
        return sorted(unwritten)

    @property
    def stalled(self) -> bool:
        """After close(): the writer is still inside a write the file system never finished."""
        return self._stopping and self._writer.is_alive()

    def checkpoint(self) -> tuple[int, int]:
        """Fold the WAL into the database without blocking writers; safe to call from a thread.

        Returns (WAL frames, frames checkpointed). Uses its own connection.
        """
        with self._files:
            db = connect_existing(self.path)
            try:
                _busy, frames, done = db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                return int(frames), int(done)
            finally:
                db.close()

    # -- reading (owner's thread) -----------------------------------------------------------------------
    def last_seq(self) -> int:
        row = self._reader().execute("SELECT MAX(seq) FROM records").fetchone()
        return int(row[0] or 0)

    def last_ts(self) -> datetime | None:
        row = self._reader().execute("SELECT ts FROM records ORDER BY seq DESC LIMIT 1").fetchone()
        return None if row is None else datetime.fromisoformat(row[0])

    def last_snapshot_seq(self) -> int | None:
        """The sequence number of the newest snapshot in this file (None: it has none)."""
        row = (
            self._reader()
            .execute("SELECT MAX(seq) FROM records WHERE kind = 'snapshot'")
            .fetchone()
        )
        return None if row[0] is None else int(row[0])

    def records(self, after: int = 0, kinds: tuple[str, ...] | None = None) -> Iterator[Record]:
        sql = "SELECT seq, ts, kind, account, broker, payload FROM records WHERE seq > ?"
        params: list[Any] = [after]
        if kinds:
            sql += f" AND kind IN ({','.join('?' * len(kinds))})"
            params.extend(kinds)
        for seq, ts, kind, account, broker, payload in self._reader().execute(
            sql + " ORDER BY seq", params
        ):
            yield Record(
                seq, datetime.fromisoformat(ts), kind, account, broker, json.loads(payload)
            )

    def fill_ids(self) -> dict[str, dict[str, datetime]]:
        """Every fill id in this file by account (with the fill's time), and those the file's
        first snapshot carried over from the days before."""
        found: dict[str, dict[str, datetime]] = {}
        first = (
            self._reader()
            .execute("SELECT payload FROM records WHERE kind = 'snapshot' ORDER BY seq LIMIT 1")
            .fetchone()
        )
        if first is not None:
            for key, saved in json.loads(first[0]).get("accounts", {}).items():
                carried = saved.get("fill_ids", {})
                found.setdefault(key, {}).update(
                    (fid, datetime.fromisoformat(ts)) for fid, ts in carried.items()
                )
        rows = self._reader().execute(
            "SELECT account, json_extract(payload, '$.fill_id'), ts FROM records "
            "WHERE kind = 'event' AND json_extract(payload, '$.type') = 'fill'"
        )
        for account, fill_id, ts in rows:
            if fill_id:
                found.setdefault(account, {})[fill_id] = datetime.fromisoformat(ts)
        return found

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """A read of this file's committed records, on the owner's thread like the others."""
        return self._reader().execute(sql, params).fetchall()

    def integrity_check(self) -> str:
        return str(self._reader().execute("PRAGMA integrity_check").fetchone()[0])

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

Durability: WAL with synchronous=NORMAL. A committed transaction survives the process being killed
(SIGKILL, a crash); a power cut may lose the last transactions before the next checkpoint. SQLite's
automatic checkpoint is off: `checkpoint()` runs on its own connection, in a thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from propdesk.domain.events import AccountEvent, Mark
from propdesk.domain.guard import Action
from propdesk.runtime.journal.codec import JournalError, encode_event

log = logging.getLogger(__name__)

# Version 2 files may start with a snapshot instead of the account registrations (one file per
# trading day); version 1 files hold every record since the first and are still read.
SCHEMA_VERSION = 2
READABLE_SCHEMAS = (1, 2)

# How long `commit()` waits for the writer before the runtime acts without durability. A commit
# takes well under a millisecond on a local disk (bench/); only a stalled file system gets here.
SYNC_TIMEOUT = 0.25
# Seconds between attempts to write the records kept in memory while the file cannot be written.
RETRY_EVERY = 1.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS records (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    ts TEXT NOT NULL,
    kind TEXT NOT NULL,       -- account | event | mark | tick | action | notice | snapshot
    account TEXT,             -- "broker:account-id" for per-account records
    broker TEXT,              -- for marks: applied to every account of that broker
    payload TEXT NOT NULL
);
"""
_INSERT = "INSERT INTO records (seq, ts, kind, account, broker, payload) VALUES (?, ?, ?, ?, ?, ?)"

Row = tuple[int, str, str, str | None, str | None, str]
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


def _connect(path: Path) -> sqlite3.Connection:
    # isolation_level=None: transactions are opened and committed explicitly, in batches.
    return sqlite3.connect(path, isolation_level=None, check_same_thread=False)


def describe_error(exc: BaseException) -> str:
    """The storage error in a trader's words, with SQLite's or the OS's own text after it."""
    text = str(exc) or type(exc).__name__
    lowered = text.lower()
    if "full" in lowered:
        return f"the disk is full ({text})"
    if "readonly" in lowered or "read-only" in lowered or "permission" in lowered:
        return f"the file cannot be written ({text})"
    if "i/o" in lowered or "disk" in lowered:
        return f"the disk does not answer ({text})"
    return text


class Journal:
    """Append on the event loop's thread, `commit()` before acting; the writer thread does the rest."""

    def __init__(
        self,
        path: Path,
        *,
        sync_timeout: float = SYNC_TIMEOUT,
        retry_every: float = RETRY_EVERY,
        connect: ConnectionFactory = _connect,
    ) -> None:
        self.path = Path(path)
        self._sync_timeout = sync_timeout
        self._retry_every = retry_every
        self._connect = connect
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = connect(self.path)  # reads, on the owner's thread
        self._open_schema()
        self._last_seq = self.last_seq()
        self.committed_seq = self._last_seq
        self._rows: list[Row] = []  # appended since the last hand-over (owner's thread only)
        self._cond = threading.Condition()
        self._queue: list[Row] = []  # handed to the writer, not yet durable, in order
        self._health = JournalHealth(True)
        self._stopping = False
        self._watch: HealthCallback | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._writer = threading.Thread(target=self._write_loop, name="journal writer", daemon=True)
        self._writer.start()

    def _open_schema(self) -> None:
        db = self._db
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA wal_autocheckpoint=0")
            db.executescript(_SCHEMA)
            version = db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
            if version is None:
                version = (str(SCHEMA_VERSION),)
                db.execute("INSERT INTO meta VALUES ('schema', ?)", version)
        except sqlite3.OperationalError as exc:
            # A journal that cannot be written is still read; the writer reports the fault.
            version = db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
            if version is None:
                raise JournalError(f"{self.path}: cannot create the journal: {exc}") from exc
        if int(version[0]) not in READABLE_SCHEMAS:
            raise JournalError(
                f"{self.path}: journal schema {version[0]}; this propdesk reads "
                f"{', '.join(map(str, READABLE_SCHEMAS))}"
            )

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
    def _append(
        self,
        ts: datetime,
        kind: str,
        payload: dict[str, Any],
        account: str | None = None,
        broker: str | None = None,
    ) -> int:
        self._last_seq += 1
        self._rows.append(
            (
                self._last_seq,
                ts.isoformat(),
                kind,
                account,
                broker,
                json.dumps(payload, separators=(",", ":")),
            )
        )
        return self._last_seq

    def register_account(self, ts: datetime, account: str, config: dict[str, Any]) -> int:
        return self._append(ts, "account", config, account=account)

    def record_event(self, account: str, event: AccountEvent) -> int:
        return self._append(event.ts, "event", encode_event(event), account=account)

    def record_mark(self, broker: str, mark: Mark) -> int:
        return self._append(mark.ts, "mark", encode_event(mark), broker=broker)

    def record_tick(self, ts: datetime) -> int:
        return self._append(ts, "tick", {})

    def record_action(self, ts: datetime, account: str, action: Action, state: str) -> int:
        payload = {
            "type": action.type.value,
            "reason": action.reason,
            "rule": action.rule,
            "state": state,
        }
        if action.roots is not None:
            payload["roots"] = sorted(action.roots)
        return self._append(ts, "action", payload, account=account)

    def record_notice(
        self, ts: datetime, payload: dict[str, Any], account: str | None = None
    ) -> int:
        return self._append(ts, "notice", payload, account=account)

    def flush(self) -> None:
        """Hand what was appended to the writer without waiting for it."""
        if not self._rows:
            return
        rows, self._rows = self._rows, []
        with self._cond:
            self._queue.extend(rows)
            self._cond.notify_all()

    def commit(self, timeout: float | None = None) -> bool:
        """Hand everything appended to the writer and wait until it is durable.

        Returns True when it is. Returns False at once while the journal is not writable, and after
        `timeout` (default: the journal's sync timeout) when the writer has not finished: the caller
        acts either way. Never raises for a storage fault.
        """
        self.flush()
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
                batch = list(self._queue)
                last_try = self._stopping
            try:
                if db is None:
                    db = self._open_writer()
                db.execute("BEGIN IMMEDIATE")
                db.executemany(_INSERT, batch)
                db.execute("COMMIT")
            except (sqlite3.Error, OSError) as exc:
                if db is not None and db.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        db.execute("ROLLBACK")
                self._write_failed(exc)
                if last_try:
                    break  # closing: close() hands back what is left
                self._pause_before_retry()  # cut short by close(): then one last try
                continue
            self._written(batch)
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
        with self._cond:
            pending = len(self._queue)
            if self._health.writable or self._health.reason != reason:
                log.error(
                    "journal %s not writable: %s (%d records kept)", self.path, reason, pending
                )
                self._report(JournalHealth(False, reason, pending))
            self._cond.notify_all()

    def _written(self, batch: list[Row]) -> None:
        with self._cond:
            del self._queue[: len(batch)]
            self.committed_seq = batch[-1][0]
            if not self._health.writable and not self._queue:
                log.warning("journal %s writable again: %d records written", self.path, len(batch))
                self._report(JournalHealth(True, written=len(batch)))
            self._cond.notify_all()

    # -- closing -----------------------------------------------------------------------------------------
    def close(self, timeout: float = 5.0) -> list[Row]:
        """Write what is left (waiting up to `timeout`), stop the writer and close the file.

        Returns the records that could not be written (empty when all are durable); the caller
        says so and keeps them. Never raises for a storage fault.
        """
        self.flush()
        with self._cond:
            self._cond.wait_for(lambda: not self._queue or not self._health.writable, timeout)
            self._stopping = True
            self._cond.notify_all()
        self._writer.join(timeout)
        with self._cond:
            unwritten = list(self._queue)
        if not self._writer.is_alive():
            # Leave one tidy file behind: the WAL folded in and truncated.
            with contextlib.suppress(sqlite3.Error):
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            with contextlib.suppress(sqlite3.Error):
                self._db.close()
        return unwritten

    def checkpoint(self) -> tuple[int, int]:
        """Fold the WAL into the database without blocking writers; safe to call from a thread.

        Returns (WAL frames, frames checkpointed). Uses its own connection.
        """
        db = sqlite3.connect(self.path)
        try:
            _busy, frames, done = db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            return int(frames), int(done)
        finally:
            db.close()

    # -- reading (owner's thread) -----------------------------------------------------------------------
    def last_seq(self) -> int:
        row = self._db.execute("SELECT MAX(seq) FROM records").fetchone()
        return int(row[0] or 0)

    def last_ts(self) -> datetime | None:
        row = self._db.execute("SELECT ts FROM records ORDER BY seq DESC LIMIT 1").fetchone()
        return None if row is None else datetime.fromisoformat(row[0])

    def records(self, after: int = 0, kinds: tuple[str, ...] | None = None) -> Iterator[Record]:
        sql = "SELECT seq, ts, kind, account, broker, payload FROM records WHERE seq > ?"
        params: list[Any] = [after]
        if kinds:
            sql += f" AND kind IN ({','.join('?' * len(kinds))})"
            params.extend(kinds)
        for seq, ts, kind, account, broker, payload in self._db.execute(
            sql + " ORDER BY seq", params
        ):
            yield Record(
                seq, datetime.fromisoformat(ts), kind, account, broker, json.loads(payload)
            )

    def integrity_check(self) -> str:
        return str(self._db.execute("PRAGMA integrity_check").fetchone()[0])


def unwritten_to_jsonl(rows: list[Row]) -> str:
    """Records that never reached the file, one JSON object a line, for the trader to keep."""
    keys = ("seq", "ts", "kind", "account", "broker", "payload")
    lines = []
    for row in rows:
        item = dict(zip(keys, row, strict=True))
        item["payload"] = json.loads(row[5])
        lines.append(json.dumps(item, separators=(",", ":")))
    return "\n".join(lines) + "\n"

"""The journal: every event and every action, in SQLite (WAL), written before it is acted on.

State after a crash is rebuilt by replaying the journal through fresh account engines: the guard and
ledger are deterministic functions of their input events, so a replay reaches exactly the state the
crashed process had for every committed record (locks, day baselines, high-water marks, EOD floors).

Durability: WAL with synchronous=NORMAL. A committed transaction survives the process being killed
(SIGKILL, a crash); a power cut may lose the last transactions before the next checkpoint. That is the
trade made for latency, since every breach commits before its flatten is sent. For the same reason
SQLite's automatic checkpoint (which fsyncs inside whichever commit crosses the threshold, stalling
the event loop for milliseconds) is off: `checkpoint()` runs on its own connection, in a thread.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from platformdirs import user_data_dir

from propdesk.domain.account import AccountRisk
from propdesk.domain.events import (
    AccountEvent,
    ClockTick,
    ConnectionRestored,
    Fill,
    FlatVerified,
    KillRequest,
    Mark,
    Side,
    UnlockRequest,
    WorkingOrders,
)
from propdesk.domain.guard import Action
from propdesk.domain.instruments import InstrumentBook

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS records (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    ts TEXT NOT NULL,
    kind TEXT NOT NULL,       -- account | event | mark | tick | action | notice
    account TEXT,             -- "broker:account-id" for per-account records
    broker TEXT,              -- for marks: applied to every account of that broker
    payload TEXT NOT NULL
);
"""


def default_journal_path() -> Path:
    return Path(user_data_dir("propdesk", appauthor=False)) / "journal.sqlite"


class JournalError(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class Record:
    seq: int
    ts: datetime
    kind: str
    account: str | None
    broker: str | None
    payload: dict[str, Any]


# -- the codec: domain events <-> JSON ----------------------------------------------------------------
def _num(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _dec(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def encode_event(event: AccountEvent) -> dict[str, Any]:
    if isinstance(event, Fill):
        return {
            "type": "fill",
            "contract": event.contract.key,
            "side": event.side.value,
            "qty": event.qty,
            "price": str(event.price),
            "fee": str(event.fee),
            "fill_id": event.fill_id,
        }
    if isinstance(event, Mark):
        return {
            "type": "mark",
            "contract": event.contract.key,
            "bid": _num(event.bid),
            "ask": _num(event.ask),
            "last": _num(event.last),
        }
    if isinstance(event, ClockTick):
        return {"type": "clock"}
    if isinstance(event, KillRequest):
        return {"type": "kill", "reason": event.reason}
    if isinstance(event, UnlockRequest):
        return {"type": "unlock", "confirmed": event.confirmed, "scope": event.scope}
    if isinstance(event, ConnectionRestored):
        return {"type": "reconnected", "down_seconds": str(event.down_for.total_seconds())}
    if isinstance(event, FlatVerified):
        return {"type": "flat_verified"}
    if isinstance(event, WorkingOrders):
        return {"type": "orders", "count": event.count, "adding": event.adding_exposure}
    raise TypeError(f"cannot journal {type(event).__name__}")


def decode_event(ts: datetime, payload: dict[str, Any], book: InstrumentBook) -> AccountEvent:
    kind = payload["type"]
    if kind == "fill":
        return Fill(
            ts,
            book.parse(payload["contract"]),
            Side(payload["side"]),
            int(payload["qty"]),
            Decimal(payload["price"]),
            Decimal(payload["fee"]),
            payload.get("fill_id", ""),
        )
    if kind == "mark":
        return Mark(
            ts,
            book.parse(payload["contract"]),
            _dec(payload["bid"]),
            _dec(payload["ask"]),
            _dec(payload["last"]),
        )
    if kind == "clock":
        return ClockTick(ts)
    if kind == "kill":
        return KillRequest(ts, payload["reason"])
    if kind == "unlock":
        return UnlockRequest(ts, bool(payload["confirmed"]), payload["scope"])
    if kind == "reconnected":
        return ConnectionRestored(ts, timedelta(seconds=float(payload["down_seconds"])))
    if kind == "flat_verified":
        return FlatVerified(ts)
    if kind == "orders":
        return WorkingOrders(ts, int(payload["count"]), int(payload["adding"]))
    raise JournalError(f"unknown event type {kind!r} in the journal")


# -- the store ----------------------------------------------------------------------------------------
class Journal:
    """Append-only records in one SQLite file; callers commit before acting on what they wrote."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: we open and commit transactions ourselves, in batches.
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA wal_autocheckpoint=0")
        self._db.executescript(_SCHEMA)
        version = self._db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
        if version is None:
            self._db.execute("INSERT INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
        elif int(version[0]) != SCHEMA_VERSION:
            raise JournalError(f"{path}: journal schema {version[0]}, expected {SCHEMA_VERSION}")
        self._in_tx = False
        self._last_seq = self.last_seq()
        self.committed_seq = self._last_seq

    def close(self) -> None:
        if self._in_tx:
            self.commit()
        # Leave one tidy file behind: the WAL folded in and truncated.
        self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self._db.close()

    # -- writing ------------------------------------------------------------------------------
    def _append(
        self,
        ts: datetime,
        kind: str,
        payload: dict[str, Any],
        account: str | None = None,
        broker: str | None = None,
    ) -> int:
        if not self._in_tx:
            self._db.execute("BEGIN")
            self._in_tx = True
        cursor = self._db.execute(
            "INSERT INTO records (ts, kind, account, broker, payload) VALUES (?, ?, ?, ?, ?)",
            (ts.isoformat(), kind, account, broker, json.dumps(payload, separators=(",", ":"))),
        )
        self._last_seq = cursor.lastrowid or self._last_seq
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

    def commit(self) -> int:
        """Make everything appended so far durable; returns the last committed sequence number."""
        if self._in_tx:
            self._db.execute("COMMIT")
            self._in_tx = False
        self.committed_seq = self._last_seq
        return self.committed_seq

    def checkpoint(self) -> tuple[int, int]:
        """Fold the WAL into the database without blocking writers; safe to call from a thread.

        Returns (WAL frames, frames checkpointed). Uses its own connection: the writer's
        connection belongs to the event loop's thread.
        """
        db = sqlite3.connect(self.path)
        try:
            _busy, frames, done = db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            return int(frames), int(done)
        finally:
            db.close()

    # -- reading ------------------------------------------------------------------------------
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


# -- rebuilding state ----------------------------------------------------------------------------------
AccountFactory = Callable[[str, dict[str, Any]], AccountRisk]


@dataclass
class Rebuilt:
    accounts: dict[str, AccountRisk] = field(default_factory=dict)
    configs: dict[str, dict[str, Any]] = field(default_factory=dict)
    broker_accounts: dict[str, list[str]] = field(default_factory=dict)
    fill_ids: dict[str, set[str]] = field(default_factory=dict)
    last_seq: int = 0
    last_ts: datetime | None = None


def rebuild(
    records: Iterator[Record], make_account: AccountFactory, book: InstrumentBook
) -> Rebuilt:
    """Replay journal records into fresh account engines, exactly as the live runtime applied them."""
    out = Rebuilt()
    for record in records:
        out.last_seq = record.seq
        out.last_ts = record.ts
        kind = record.kind
        if kind == "mark":
            mark = decode_event(record.ts, record.payload, book)
            for ref in out.broker_accounts.get(record.broker or "", ()):
                out.accounts[ref].process(mark)
        elif kind == "event":
            ref = record.account or ""
            account = out.accounts.get(ref)
            if account is None:
                raise JournalError(f"record {record.seq}: event for unregistered account {ref!r}")
            event = decode_event(record.ts, record.payload, book)
            if isinstance(event, Fill) and event.fill_id:
                out.fill_ids[ref].add(event.fill_id)
            account.process(event)
        elif kind == "tick":
            tick = ClockTick(record.ts)
            for account in out.accounts.values():
                account.process(tick)
        elif kind == "account":
            ref = record.account or ""
            if ref not in out.accounts:
                out.accounts[ref] = make_account(ref, record.payload)
                out.configs[ref] = record.payload
                out.fill_ids[ref] = set()
                broker = ref.split(":", 1)[0]
                out.broker_accounts.setdefault(broker, []).append(ref)
        # "action" and "notice" records are the audit trail: outcomes, not inputs.
    return out

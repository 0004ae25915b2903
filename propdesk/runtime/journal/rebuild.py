"""Rebuilding the accounts from journal records, exactly as the live runtime applied them.

A snapshot record resets the rebuild to the state it holds (every account's setup, risk state, fill
ids, counters and whether a flatten was in flight); the records after it are replayed as usual. A
restart reads from the last snapshot; `use_snapshots=False` replays every record instead, which is
how the tests check that both reach the same state.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from propdesk.domain.account import AccountRisk
from propdesk.domain.events import ClockTick, Fill
from propdesk.domain.instruments import InstrumentBook
from propdesk.runtime.journal.codec import JournalError, decode_event
from propdesk.runtime.journal.store import Record

AccountFactory = Callable[[str, dict[str, Any]], AccountRisk]

SNAPSHOT_VERSION = 1


@dataclass
class Counters:
    fills: int = 0
    flattens: int = 0
    locks: int = 0


@dataclass
class Rebuilt:
    accounts: dict[str, AccountRisk] = field(default_factory=dict)
    configs: dict[str, dict[str, Any]] = field(default_factory=dict)
    broker_accounts: dict[str, list[str]] = field(default_factory=dict)
    fill_ids: dict[str, dict[str, datetime]] = field(default_factory=dict)  # id -> fill time
    # Accounts whose last flatten was sent and has no journaled result: a crash interrupted it.
    open_flattens: set[str] = field(default_factory=set)
    counters: dict[str, Counters] = field(default_factory=dict)
    last_seq: int = 0
    last_ts: datetime | None = None
    snapshot_seq: int | None = None  # the snapshot the rebuild started from
    snapshot_ts: datetime | None = None


def rebuild(
    records: Iterator[Record],
    make_account: AccountFactory,
    book: InstrumentBook,
    *,
    use_snapshots: bool = True,
) -> Rebuilt:
    """Replay journal records into fresh account engines, exactly as the live runtime applied them."""
    out = Rebuilt()
    for record in records:
        kind = record.kind
        if kind == "snapshot":
            if use_snapshots:
                out = _from_snapshot(record, make_account, book)
        elif kind == "mark":
            mark = decode_event(record.ts, record.payload, book)
            for ref in out.broker_accounts.get(record.broker or "", ()):
                out.accounts[ref].process(mark)
        elif kind == "event":
            ref = record.account or ""
            account = out.accounts.get(ref)
            if account is None:
                raise JournalError(f"record {record.seq}: event for unregistered account {ref!r}")
            event = decode_event(record.ts, record.payload, book)
            if isinstance(event, Fill):
                out.counters[ref].fills += 1
                if event.fill_id:
                    out.fill_ids[ref][event.fill_id] = event.ts
            account.process(event)
        elif kind == "tick":
            tick = ClockTick(record.ts)
            for account in out.accounts.values():
                account.process(tick)
        elif kind == "account":
            ref = record.account or ""
            if ref not in out.accounts:
                _register(out, ref, record.payload, make_account(ref, record.payload))
        elif kind == "action":
            _follow_action(out, record)
        elif kind == "notice" and record.payload.get("type") == "flatten" and record.account:
            out.open_flattens.discard(record.account)  # the flatten's result: it ended
        out.last_seq = record.seq
        out.last_ts = record.ts
    return out


def _register(out: Rebuilt, ref: str, config: dict[str, Any], risk: AccountRisk) -> None:
    out.accounts[ref] = risk
    out.configs[ref] = config
    out.fill_ids[ref] = {}
    out.counters[ref] = Counters()
    out.broker_accounts.setdefault(ref.split(":", 1)[0], []).append(ref)


def _follow_action(out: Rebuilt, record: Record) -> None:
    """Actions are outcomes, not inputs; two of them say what was in flight and what was counted."""
    ref = record.account
    if ref is None or ref not in out.counters:
        return
    action = record.payload.get("type")
    if action == "flatten":
        if ref not in out.open_flattens:
            out.counters[ref].flattens += 1  # a flatten joining one in flight is the same flatten
        out.open_flattens.add(ref)
    elif action == "lock":
        out.counters[ref].locks += 1


def snapshot_payload(
    accounts: dict[str, tuple[dict[str, Any], AccountRisk]],
    fill_ids: dict[str, dict[str, datetime]] | None,
    open_flattens: set[str],
    counters: dict[str, Counters],
) -> dict[str, Any]:
    """The snapshot record's payload: per account, its setup, state and counters.

    `fill_ids` only in the first snapshot of a day's file: the fills before it are in earlier files,
    and a broker may list them again after a reconnect. The fills in the file itself are found by
    their own records (`Journal.fill_ids`): carried in every snapshot they cost more than the
    rest of it together (bench/restart.py).
    """
    out: dict[str, Any] = {}
    for key, (config, risk) in accounts.items():
        saved: dict[str, Any] = {
            "config": config,
            "state": risk.save_state(),
            "open_flatten": key in open_flattens,
            "counters": vars(counters[key]) if key in counters else vars(Counters()),
        }
        if fill_ids is not None:
            saved["fill_ids"] = {fid: ts.isoformat() for fid, ts in fill_ids.get(key, {}).items()}
        out[key] = saved
    return {"version": SNAPSHOT_VERSION, "accounts": out}


def _from_snapshot(record: Record, make_account: AccountFactory, book: InstrumentBook) -> Rebuilt:
    payload = record.payload
    if payload.get("version") != SNAPSHOT_VERSION:
        raise JournalError(f"record {record.seq}: snapshot version {payload.get('version')!r}")
    out = Rebuilt(snapshot_seq=record.seq, snapshot_ts=record.ts)
    for ref, saved in payload["accounts"].items():
        risk = make_account(ref, saved["config"])
        risk.restore_state(saved["state"], book)
        _register(out, ref, saved["config"], risk)
        out.fill_ids[ref] = {
            fid: datetime.fromisoformat(ts) for fid, ts in saved.get("fill_ids", {}).items()
        }
        out.counters[ref] = Counters(**saved["counters"])
        if saved["open_flatten"]:
            out.open_flattens.add(ref)
    return out

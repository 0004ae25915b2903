"""Rebuilding the accounts from journal records, exactly as the live runtime applied them."""

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

"""The journal's codec: domain events to JSON payloads and back, exactly (Decimals as strings)."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

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
from propdesk.domain.instruments import InstrumentBook


class JournalError(RuntimeError):
    """The journal cannot be read as propdesk wrote it."""


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
            "fee": _num(event.fee),  # null: the broker reported none (not a fee of 0)
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
        if event.roots is None:
            return {"type": "flat_verified"}
        return {"type": "flat_verified", "roots": sorted(event.roots)}
    if isinstance(event, WorkingOrders):
        payload = {"type": "orders", "count": event.count, "adding": event.adding_exposure}
        if event.roots:
            payload["roots"] = sorted(event.roots)
        if event.groups:
            payload["groups"] = sorted(event.groups)
        return payload
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
            # Records from before the distinction always hold a string: a fee as reported.
            _dec(payload["fee"]),
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
        roots = payload.get("roots")
        return FlatVerified(ts, None if roots is None else frozenset(roots))
    if kind == "orders":
        # Records written before orders carried their roots and groups have neither.
        return WorkingOrders(
            ts,
            int(payload["count"]),
            int(payload["adding"]),
            frozenset(payload.get("roots", ())),
            frozenset(payload.get("groups", ())),
        )
    raise JournalError(f"unknown event type {kind!r} in the journal")

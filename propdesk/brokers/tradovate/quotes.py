"""Market-data pushes (`{"e": "md", "d": {"quotes": [...]}}`) to marks.

A quote names its contract by id and carries entries by kind: `Bid`, `Offer`, `Trade` (each with a
`price`); a kind may be missing from a quote, which then leaves that side of the mark unknown.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from propdesk.brokers.tradovate.entities import ContractBook
from propdesk.domain.events import Mark


def quote_contract_ids(data: Any) -> set[int]:
    ids = set()
    for quote in _quotes(data):
        contract_id = quote.get("contractId")
        if not isinstance(contract_id, int) or isinstance(contract_id, bool):
            raise ValueError(f"a quote without a contract id: {quote!r:.80}")
        ids.add(contract_id)
    return ids


def marks_in(data: Any, contracts: ContractBook, now: datetime) -> list[Mark]:
    """The marks in one md push, for contracts propdesk knows; ValueError if it is malformed."""
    marks = []
    for quote in _quotes(data):
        contract = contracts.by_id.get(quote.get("contractId"))  # type: ignore[arg-type]
        if contract is None:
            continue
        entries = quote.get("entries")
        if not isinstance(entries, dict):
            raise ValueError(f"a quote without entries: {quote!r:.80}")
        bid, ask, last = (_price(entries, kind) for kind in ("Bid", "Offer", "Trade"))
        if bid is None and ask is None and last is None:
            continue
        marks.append(Mark(_ts(quote.get("timestamp"), now), contract, bid, ask, last))
    return marks


def _quotes(data: Any) -> list[dict[str, Any]]:
    if not isinstance(data, dict):
        raise ValueError(f"an md push that is not an object: {data!r:.80}")
    quotes = data.get("quotes", [])
    if not isinstance(quotes, list) or not all(isinstance(q, dict) for q in quotes):
        raise ValueError(f"md quotes that are not a list of objects: {quotes!r:.80}")
    return quotes


def _price(entries: dict[str, Any], kind: str) -> Decimal | None:
    entry = entries.get(kind)
    if entry is None:
        return None
    price = entry.get("price") if isinstance(entry, dict) else None
    if price is None:
        return None
    if isinstance(price, bool) or not isinstance(price, int | float | str):
        raise ValueError(f"a {kind} price that is not a number: {price!r:.40}")
    try:
        value = Decimal(str(price))
    except InvalidOperation as exc:
        raise ValueError(f"a {kind} price that is not a number: {price!r:.40}") from exc
    if not value.is_finite() or value <= 0:
        raise ValueError(f"a {kind} price out of range: {price!r:.40}")
    return value


def _ts(value: object, now: datetime) -> datetime:
    if value is None:
        return now
    if not isinstance(value, str):
        raise ValueError(f"a quote timestamp that is not text: {value!r:.40}")
    ts = datetime.fromisoformat(value)
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)

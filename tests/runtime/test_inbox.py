"""The hub's inbox: arrival order kept, quote storms coalesced per contract, nothing else dropped."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

from propdesk.brokers.base import AccountFill, AccountRef, Quote
from propdesk.domain.events import Fill, Mark, Side
from propdesk.domain.instruments import InstrumentBook
from propdesk.runtime.inbox import Inbox

T0 = datetime(2026, 11, 24, 15, tzinfo=UTC)


def quote(book: InstrumentBook, symbol: str, bid: str, n: int = 0) -> Quote:
    return Quote(
        Mark(T0 + timedelta(milliseconds=n), book.parse(symbol), D(bid), D(bid) + D("0.25"))
    )


def test_a_storm_of_quotes_costs_one_update_per_contract(instruments: InstrumentBook) -> None:
    inbox = Inbox()
    for n in range(10_000):
        inbox.put("sim", quote(instruments, "ESZ6", str(6000 + n % 7), n))
        inbox.put("sim", quote(instruments, "NQZ6", str(21000 + n % 5), n))
    assert len(inbox) == 2
    batch = inbox.drain()
    assert [e.mark.contract.key for _, e in batch] == ["ESZ26", "NQZ26"]  # type: ignore[union-attr]
    last_es = batch[0][1]
    assert last_es.mark.bid == D(6000 + 9_999 % 7), "the newest quote wins"  # type: ignore[union-attr]
    assert inbox.received == 20_000
    assert inbox.coalesced == 19_998


def test_a_fill_behind_a_storm_keeps_its_place_and_is_never_merged(
    instruments: InstrumentBook,
) -> None:
    inbox = Inbox()
    ref = AccountRef("sim", "A")
    es = instruments.parse("ESZ6")
    inbox.put("sim", quote(instruments, "ESZ6", "6000"))
    fill = AccountFill(ref, Fill(T0, es, Side.BUY, 1, D("6000.25"), D("2.10"), "f1"))
    inbox.put("sim", fill)
    for n in range(1000):
        inbox.put("sim", quote(instruments, "ESZ6", "5990", n))
    inbox.put("sim", quote(instruments, "ESZ6", "5980", 5000))
    kinds = [type(e).__name__ for _, e in inbox.drain()]
    assert kinds == ["Quote", "AccountFill"], "quotes after the fill fold into the earlier slot"


def test_same_contract_on_two_brokers_is_not_merged(instruments: InstrumentBook) -> None:
    inbox = Inbox()
    inbox.put("tradovate", quote(instruments, "ESZ6", "6000"))
    inbox.put("projectx", quote(instruments, "ESZ6", "6001"))
    assert [b for b, _ in inbox.drain()] == ["tradovate", "projectx"]


async def test_wait_wakes_on_put_and_returns_at_once_when_not_empty(
    instruments: InstrumentBook,
) -> None:
    inbox = Inbox()
    waiter = asyncio.create_task(inbox.wait())
    await asyncio.sleep(0)
    assert not waiter.done()
    inbox.put("sim", quote(instruments, "ESZ6", "6000"))
    await asyncio.wait_for(waiter, 1)
    await asyncio.wait_for(inbox.wait(), 1)  # still one item waiting
    inbox.drain()
    assert len(inbox) == 0

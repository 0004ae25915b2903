"""The event hub's inbox: broker events in arrival order, with quote storms coalesced per contract.

A quote for a contract whose previous quote is still waiting replaces it in place, so a burst of
10,000 quotes a second costs one update per contract per drain, and a fill or order event queued
behind the burst is never delayed by it.
"""

from __future__ import annotations

import asyncio
from collections import deque

from propdesk.brokers.base import BrokerEvent, Quote


class Inbox:
    __slots__ = ("_items", "_pending", "_wake", "coalesced", "received")

    def __init__(self) -> None:
        self._items: deque[list[object]] = deque()  # [broker, event] slots, mutable for coalescing
        self._pending: dict[tuple[str, str], list[object]] = {}
        self._wake = asyncio.Event()
        self.received = 0
        self.coalesced = 0

    def put(self, broker: str, event: BrokerEvent) -> None:
        """Called from adapters' pumps; never blocks."""
        self.received += 1
        if isinstance(event, Quote):
            key = (broker, event.mark.contract.key)
            slot = self._pending.get(key)
            if slot is not None:
                slot[1] = event
                self.coalesced += 1
                return
            slot = [broker, event]
            self._pending[key] = slot
        else:
            slot = [broker, event]
        self._items.append(slot)
        self._wake.set()

    def drain(self) -> list[tuple[str, BrokerEvent]]:
        """Everything waiting, oldest first."""
        items = self._items
        batch = [(slot[0], slot[1]) for slot in items]  # type: ignore[misc]
        items.clear()
        self._pending.clear()
        self._wake.clear()
        return batch  # type: ignore[return-value]

    async def wait(self) -> None:
        if not self._items:
            await self._wake.wait()

    def __len__(self) -> int:
        return len(self._items)

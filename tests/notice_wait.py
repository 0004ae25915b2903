"""Waiting for a runtime notice without sleeping (shared by the runtime's and the adapters' tests)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from propdesk.runtime.engine import Runtime
from propdesk.runtime.notices import Notice


async def notice_matching(
    runtime: Runtime,
    seen: list[Notice],
    predicate: Callable[[Notice], bool],
    timeout: float = 10.0,
) -> Notice:
    """The first notice matching `predicate`: one already in `seen`, or the next one emitted."""
    for notice in seen:
        if predicate(notice):
            return notice
    found: asyncio.Future[Notice] = asyncio.get_running_loop().create_future()

    def check(notice: Notice) -> None:
        if not found.done() and predicate(notice):
            found.set_result(notice)

    runtime.notices.register(check)
    try:
        return await asyncio.wait_for(found, timeout)
    finally:
        runtime.notices.unregister(check)

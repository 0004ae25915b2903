"""Malformed frames and payloads (hypothesis-generated) reset the link and never crash the runtime."""

from __future__ import annotations

import asyncio
import json
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tradovate_helpers import ACCOUNTS, OPEN, SPEED, make_broker, start_fake, until

from propdesk.brokers.base import AccountRef, LinkState
from propdesk.brokers.tradovate.entities import ContractBook, EntityBook
from propdesk.brokers.tradovate.wire import MalformedFrame, parse_frame
from propdesk.domain.firms import ProfileSet
from propdesk.domain.instruments import InstrumentBook
from propdesk.domain.protocol import Protocol
from propdesk.runtime.accounts import AccountSetup
from propdesk.runtime.clock import ScaledClock
from propdesk.runtime.engine import Runtime
from propdesk.runtime.journal import Journal
from propdesk.runtime.notices import FillBooked, LinkChanged, Notice

# Small numbers only: the fake's real ids start at 1000, so no generated entity names a real one.
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-5, 50)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8)
    | st.sampled_from(["Buy", "Sell", "Working", "Filled", "Limit", "ESZ6", "2026-11-24T15:00:00Z"])
)
JSON = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
FIELDS = [
    "id", "accountId", "contractId", "orderId", "netPos", "netPrice", "qty", "price", "action",
    "ordStatus", "orderType", "orderQty", "timestamp", "amount", "active", "name",
]  # fmt: skip
ENTITY_TYPES = ["order", "orderVersion", "fill", "position", "cashBalance", "account", "contract"]
PROPS = st.builds(
    lambda kind, event, entity: (
        "a"
        + json.dumps(
            [{"e": "props", "d": {"entityType": kind, "eventType": event, "entity": entity}}]
        )
    ),
    st.sampled_from(ENTITY_TYPES),
    st.sampled_from(["Created", "Updated", "Deleted"]),
    st.dictionaries(st.sampled_from(FIELDS), JSON, max_size=8),
)
FRAMES = st.one_of(
    st.text(max_size=40),
    st.builds(lambda value: "a" + json.dumps(value), JSON),
    PROPS,
    st.sampled_from(["a", "a[", "x", "a{}", "a[1]", 'a[{"e":"props","d":null}]', 'a[{"s":"x"}]']),
)


@given(st.text(max_size=200) | FRAMES)
def test_parse_frame_raises_only_malformed_frame(text: str) -> None:
    try:
        frame = parse_frame(text)
    except MalformedFrame:
        return
    assert frame.kind.value == text[0]


@given(st.sampled_from(ENTITY_TYPES), st.dictionaries(st.sampled_from(FIELDS), JSON, max_size=8))
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_entity_pushes_apply_or_raise_value_error(
    instruments: InstrumentBook, kind: str, entity: dict[str, object]
) -> None:
    book = EntityBook(
        "tdv", ACCOUNTS, ContractBook(instruments, lambda: datetime(2026, 11, 17, tzinfo=UTC))
    )
    book.load({"accounts": [{"id": 3, "name": "DEMO1"}], "contracts": [{"id": 4, "name": "ESZ6"}]})
    try:
        book.apply(kind, "Updated", entity, OPEN)
    except ValueError:
        return


async def _scenario(frames: list[str], instruments: InstrumentBook, profiles: ProfileSet) -> None:
    clock = ScaledClock(OPEN, speed=SPEED)
    fake = await start_fake(clock, instruments)
    broker = make_broker(fake, instruments, clock)
    refs = [AccountRef("tdv", a) for a in ACCOUNTS]
    profile = profiles.get("topstep-combine-50k")
    with tempfile.TemporaryDirectory() as folder:
        journal = Journal(Path(folder) / "journal.sqlite")
        runtime = Runtime(
            [broker],
            [AccountSetup(r, profile, Protocol(connection_down_limit=None)) for r in refs],
            clock=clock,
            journal=journal,
            instruments=instruments,
            reconnect_backoff=(0.1, 0.2),
        )
        notices: list[Notice] = []
        runtime.notices.register(notices.append)
        await runtime.start()
        supervisor = runtime.supervisors["tdv"]

        def linked() -> bool:
            synced = any(s.kind == "user" and s.synced and not s.closed for s in fake.sockets)
            return synced and supervisor.state is LinkState.CONNECTED

        try:
            for frame in frames:
                await until(linked, timeout=10, what="the link back")
                fake.send_raw(frame)
            await until(linked, timeout=10, what="the link back")
            contract = fake.contract_by_name("ESZ6")
            assert contract is not None
            fake.place(fake.account_by_name("DEMO1"), "Buy", contract, 2)
            await until(
                lambda: any(isinstance(n, FillBooked) for n in notices),
                timeout=10,
                what="a real fill after the garbage",
            )
            assert all(not task.done() for task in runtime._tasks), "no runtime task died"
            assert not supervisor.terminal
            ledger = runtime.accounts[str(refs[0])].risk.ledger
            assert {k: p.net for k, p in ledger.positions.items()} == {"ESZ26": 2}
            for notice in notices:
                if isinstance(notice, LinkChanged) and notice.state is LinkState.DISCONNECTED:
                    assert any(
                        word in notice.detail
                        for word in ("malformed", "could not be applied", "closed by Tradovate")
                    ), notice.detail
        finally:
            await runtime.stop()
            journal.close()
            await fake.stop()


@given(st.lists(FRAMES, min_size=1, max_size=4))
@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_garbage_on_the_socket_resets_the_link_and_the_runtime_carries_on(
    instruments: InstrumentBook, profiles: ProfileSet, frames: list[str]
) -> None:
    asyncio.run(_scenario(frames, instruments, profiles))

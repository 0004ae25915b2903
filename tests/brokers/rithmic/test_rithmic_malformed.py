"""Malformed frames and payloads (hypothesis-generated): the adapter logs, resets, never crashes."""

from __future__ import annotations

import asyncio
import tempfile
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from fakes.rithmic import BUY, frame, message
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rithmic_helpers import ACCOUNTS, OPEN, SPEED, es_symbol, make_broker, start_fake, until

from propdesk.brokers.base import AccountFill, AccountRef, LinkState, OrderUpdate, Quote
from propdesk.brokers.rithmic.mapping import Mapper, PayloadError
from propdesk.domain.firms import ProfileSet
from propdesk.domain.instruments import InstrumentBook
from propdesk.domain.protocol import Protocol
from propdesk.runtime.accounts import AccountSetup
from propdesk.runtime.clock import ScaledClock
from propdesk.runtime.engine import Runtime
from propdesk.runtime.journal import Journal
from propdesk.runtime.notices import FillBooked, LinkChanged, Notice

INT32 = st.integers(-(2**31), 2**31 - 1)
SMALL = st.integers(-3, 12) | INT32
DOUBLES = st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from([6000.0, 5999.75, 0.0])
MONEY = st.text(max_size=8) | st.sampled_from(["", "-250.00", "1e9999", "NaN", "-Infinity", "12.5"])
SYMBOLS = st.sampled_from(["ESZ6", "esz6", "ESZ", "XXH7", "NQH7", ""]) | st.text(max_size=6)
EXCHANGES = st.sampled_from(["CME", "CBOT", "", "NYMEX"])
# Only the second watched account gets garbage: the first must keep an exact ledger.
GARBAGE_ACCOUNTS = st.sampled_from([ACCOUNTS[1], "OTHER", ""])
TIMES = {"ssboe": st.integers(-5, 2**31 - 1), "usecs": st.integers(-5, 2_000_000)}
ORDER_NOTE = {
    "notify_type": st.integers(0, 10),
    "transaction_type": st.integers(0, 4),
    "price_type": st.integers(0, 5),
    "quantity": SMALL,
    "total_fill_size": SMALL,
    "total_unfilled_size": SMALL,
    "fill_size": SMALL,
    "fill_price": DOUBLES,
    "price": DOUBLES,
    "trigger_price": DOUBLES,
    "fill_id": st.text(max_size=4),
    "basket_id": st.text(max_size=4),
    "status": st.sampled_from(["open", "complete", "", "?"]),
    "symbol": SYMBOLS,
    "exchange": EXCHANGES,
    **TIMES,
}
INSTRUMENT_PNL = {
    "net_quantity": SMALL,
    "avg_open_fill_price": DOUBLES,
    "open_position_pnl": MONEY,
    "symbol": SYMBOLS,
    "exchange": EXCHANGES,
    **TIMES,
}
ACCOUNT_PNL = {"account_balance": MONEY, **TIMES}


def payloads(account: st.SearchStrategy[str]) -> st.SearchStrategy[Any]:
    def build(template_id: int, fields: dict[str, st.SearchStrategy[Any]]) -> Any:
        return st.fixed_dictionaries({}, optional=fields).flatmap(
            lambda chosen: account.map(lambda acc: message(template_id, account_id=acc, **chosen))
        )

    return st.one_of(build(352, ORDER_NOTE), build(450, INSTRUMENT_PNL), build(451, ACCOUNT_PNL))


@given(payloads(st.sampled_from(["A1", ""])))
@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_payloads_map_to_sound_events_or_raise_payload_error(
    instruments: InstrumentBook, msg: Any
) -> None:
    mapper = Mapper("rith", instruments)
    now = datetime(2026, 11, 24, 15, tzinfo=UTC)
    try:
        if msg.template_id == 352:
            events: list[Any] = mapper.exchange_notification(msg, now)
        elif msg.template_id == 450:
            events = mapper.instrument_pnl(msg, now)
        else:
            events = [mapper.account_pnl(msg, now)]
    except PayloadError:
        return
    for event in events:
        assert event.ts.tzinfo is not None
        if isinstance(event, AccountFill):
            assert event.fill.qty > 0
            assert event.fill.price.is_finite()
            assert event.fill.fill_id
        if isinstance(event, OrderUpdate):
            assert 0 <= event.order.filled <= event.order.qty
            assert event.order.order_id
        if isinstance(event, Quote):
            assert event.mark.last is not None
            assert event.mark.last.is_finite()


def _length_prefixed(body: bytes) -> bytes:
    return len(body).to_bytes(4, "big") + body


FRAMES = st.one_of(
    st.binary(max_size=24),  # no valid length prefix, mostly
    st.binary(max_size=24).map(_length_prefixed),  # a prefix over random protobuf bytes
    st.binary(min_size=1, max_size=24).map(lambda b: _length_prefixed(b)[:-1]),  # truncated
    st.text(max_size=10),  # a text frame where binary is expected
    payloads(GARBAGE_ACCOUNTS).map(frame),  # well-framed messages with nonsense in them
    st.sampled_from([frame(message(11, user_msg=["nobody"], rp_code=["13"])), frame(message(75))]),
)


async def _scenario(
    frames: list[bytes | str], instruments: InstrumentBook, profiles: ProfileSet
) -> list[Notice]:
    clock = ScaledClock(OPEN, speed=SPEED)
    fake = await start_fake(clock, instruments)
    broker = make_broker(fake, instruments, clock)
    refs = [AccountRef("rith", a) for a in ACCOUNTS]
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
        supervisor = runtime.supervisors["rith"]

        def linked() -> bool:
            return broker.wire.is_open and supervisor.state is LinkState.CONNECTED

        try:
            for raw in frames:
                await until(linked, timeout=10, what="the link back")
                fake.send_raw(raw)
            await until(linked, timeout=10, what="the link back")
            fake.place(ACCOUNTS[0], BUY, es_symbol(instruments), 2)
            await until(
                lambda: any(
                    isinstance(n, FillBooked) and n.account == str(refs[0]) for n in notices
                ),
                timeout=10,
                what="a real fill after the garbage",
            )
            assert all(not task.done() for task in runtime._tasks), "no runtime task died"
            assert not supervisor.terminal
            ledger = runtime.accounts[str(refs[0])].risk.ledger
            assert {k: p.net for k, p in ledger.positions.items()} == {"ESZ26": 2}
            assert runtime.accounts[str(refs[0])].broker_balance == Decimal(50_000)
            for notice in notices:
                if isinstance(notice, LinkChanged) and notice.state is LinkState.DISCONNECTED:
                    assert "plant sent" in notice.detail or "closed" in notice.detail, notice
            return notices
        finally:
            await runtime.stop()
            journal.close()
            await fake.stop()


@given(st.lists(FRAMES, min_size=1, max_size=4))
@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_garbage_on_the_sockets_resets_the_link_and_the_runtime_carries_on(
    instruments: InstrumentBook, profiles: ProfileSet, frames: list[bytes | str]
) -> None:
    asyncio.run(_scenario(frames, instruments, profiles))


def test_a_malformed_frame_resets_the_connection(
    instruments: InstrumentBook, profiles: ProfileSet
) -> None:
    """The fixed case: a frame whose length prefix lies is a reset, not a skipped message."""
    notices = asyncio.run(_scenario([b"\x00\x00\x00\x09abc"], instruments, profiles))
    [reset] = [
        n for n in notices if isinstance(n, LinkChanged) and n.state is LinkState.DISCONNECTED
    ]
    assert "not length-prefixed protobuf" in reset.detail
    assert any(isinstance(n, LinkChanged) and n.state is LinkState.CONNECTED for n in notices)

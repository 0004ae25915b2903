"""Malformed frames and payloads (hypothesis-generated): logged, the link reset, never a crash."""

from __future__ import annotations

import contextlib
import itertools
import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from fakes.projectx import BUY, dumps
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from projectx_helpers import ACCOUNT_ID, ACCOUNT_NAME, ES, Rig, condition

from propdesk.brokers.base import AccountRef, LinkState
from propdesk.brokers.projectx import payloads
from propdesk.brokers.projectx.payloads import PayloadError
from propdesk.brokers.projectx.signalr import MalformedFrame, decode_records
from propdesk.domain.instruments import InstrumentBook
from propdesk.runtime.notices import FillBooked

REF = AccountRef("px", ACCOUNT_NAME)
NOW = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(),  # NaN and infinities included: JSON writers emit them
    st.text(max_size=8),
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
# Anything but an integer: every record below then lacks a readable required integer field.
not_integers = st.one_of(
    st.none(), st.text(max_size=6), st.floats(), st.lists(st.integers(), max_size=2)
)
FIELDS = ("id", "size", "side", "type", "status", "price", "balance", "contractId", "fillVolume")


def broken_record() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {"accountId": st.just(ACCOUNT_ID), "size": not_integers},
        optional={name: st.one_of(json_values, not_integers) for name in FIELDS if name != "size"},
    )


USER_TARGETS = st.sampled_from(
    ["GatewayUserOrder", "GatewayUserPosition", "GatewayUserTrade", "GatewayUserAccount"]
)


@st.composite
def malformed_frames(draw: st.DrawFn) -> tuple[str, str]:
    """(hub, frame text): garbage, non-SignalR JSON, or invocations with unreadable payloads."""
    kind = draw(st.integers(0, 4))
    if kind == 0:
        return "user", draw(st.text(max_size=40).filter(lambda t: not t.endswith("\x1e")))
    if kind == 1:
        return draw(st.sampled_from(["user", "market"])), draw(st.text(max_size=40)) + "\x1e"
    if kind == 2:
        record = draw(st.dictionaries(st.text(max_size=6), json_values, max_size=4))
        record.setdefault("type", draw(st.one_of(st.text(max_size=3), st.none(), st.floats())))
        return "user", dumps(record) + "\x1e"
    if kind == 3:
        payload: object = draw(broken_record())
        if draw(st.booleans()):
            payload = {"action": draw(st.integers(0, 3)), "data": payload}
        arguments = [payload] if draw(st.booleans()) else [[payload]]
        message = {"type": 1, "target": draw(USER_TARGETS), "arguments": arguments}
        return "user", dumps(message) + "\x1e"
    quote = draw(
        st.dictionaries(st.sampled_from(["bestBid", "bestAsk", "lastPrice"]), not_integers)
    )
    arguments = draw(st.sampled_from([[ES, quote], [ES], [7, quote], [ES, [quote]]]))
    return "market", dumps({"type": 1, "target": "GatewayQuote", "arguments": arguments}) + "\x1e"


# -- the parsers alone ----------------------------------------------------------------------------
@given(st.text(max_size=80))
def test_frames_decode_or_raise_malformed(text: str) -> None:
    try:
        records = decode_records(text)
    except MalformedFrame:
        return
    assert all(isinstance(r, dict) for r in records)


@given(record=st.dictionaries(st.sampled_from((*FIELDS, "accountId", "customTag")), json_values))
def test_payload_readers_return_or_raise_payload_error(
    record: dict[str, Any], instruments: InstrumentBook
) -> None:
    record = json.loads(dumps(record), parse_float=Decimal)  # as it comes off the wire
    record.setdefault("contractId", ES)
    contract_of = instruments.parse
    for reader in (
        lambda: payloads.order(record, REF, contract_of),
        lambda: payloads.position(record, REF, contract_of),
        lambda: payloads.trade(record, REF, contract_of, NOW),
        lambda: payloads.account(record, REF),
        lambda: payloads.QuoteBook().mark(record, contract_of(ES), ES, NOW),
    ):
        with contextlib.suppress(PayloadError):
            reader()


# -- through the socket, into a running Runtime ---------------------------------------------------
markers = itertools.count(40_001)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(frame=malformed_frames())
async def test_malformed_frames_reset_the_link_and_the_runtime_carries_on(
    rig: Rig, frame: tuple[str, str]
) -> None:
    await rig.broker.subscribe([rig.broker._contract(ES)])
    await condition(lambda: rig.broker.connected and ACCOUNT_ID in rig.fake.subscribed_accounts())
    hub, text = frame
    rig.fake.send_raw(hub, text)
    # A marker after the frame: it arrives live if the frame was tolerated, or through the
    # re-read after a reset; either way the runtime must end up connected and current.
    marker = Decimal(next(markers))
    account = rig.fake.accounts[ACCOUNT_ID]
    account.balance = marker
    rig.fake._push_account(account)
    live = rig.runtime.accounts[rig.key]
    supervisor = rig.runtime.supervisors["px"]
    await condition(
        lambda: live.broker_balance == marker and supervisor.state is LinkState.CONNECTED,
        timeout=10,
    )
    assert not supervisor.terminal


async def test_after_a_reset_live_fills_still_reach_the_ledger(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    await condition(lambda: ACCOUNT_ID in rig.fake.subscribed_accounts())
    rig.fake.send_raw(
        "user", '{"type":1,"target":"GatewayUserTrade","arguments":[{"accountId":7001}]}\x1e'
    )
    await rig.until(lambda n: getattr(n, "state", None) is LinkState.DISCONNECTED)
    await condition(
        lambda: (
            rig.runtime.supervisors["px"].reconnects == 1
            and ACCOUNT_ID in rig.fake.subscribed_accounts()
        )
    )
    assert rig.broker.resets == 1
    assert "malformed data on the user hub" in caplog.text
    rig.fake.place(ACCOUNT_ID, ES, BUY, 1)
    booked = await rig.until(lambda n: isinstance(n, FillBooked))
    assert booked.fill.qty == 1  # type: ignore[union-attr]


@pytest.mark.parametrize("payload", [None, {"data": 5, "action": 1}, [1, 2], "text"])
def test_unwrap_refuses_what_is_not_a_record(payload: object) -> None:
    with pytest.raises(PayloadError):
        payloads.unwrap(payload)

"""Reading ProjectX records: what each documented field becomes in propdesk's terms."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from projectx_helpers import ACCOUNT_NAME, ES

from propdesk.brokers.base import AccountRef, OrderStatus, OrderType
from propdesk.brokers.projectx import payloads
from propdesk.brokers.projectx.payloads import PayloadError, QuoteBook
from propdesk.brokers.projectx.snapshot import trading_day_start
from propdesk.domain.events import Side
from propdesk.domain.instruments import InstrumentBook

REF = AccountRef("px", ACCOUNT_NAME)
NOW = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)


def test_a_quote_update_keeps_the_sides_it_does_not_repeat(instruments: InstrumentBook) -> None:
    book, es = QuoteBook(), instruments.parse(ES)
    first = book.mark({"bestBid": Decimal("6000.25"), "bestAsk": Decimal("6000.5")}, es, ES, NOW)
    assert (first.bid, first.ask, first.last) == (Decimal("6000.25"), Decimal("6000.5"), None)
    second = book.mark({"bestBid": Decimal("6000.00")}, es, ES, NOW)
    assert (second.bid, second.ask) == (Decimal("6000.00"), Decimal("6000.5"))
    book.forget()  # a new transport: nothing carried over
    with pytest.raises(PayloadError, match="no price"):
        book.mark({"volume": 3}, es, ES, NOW)


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (1, OrderStatus.WORKING),
        (6, OrderStatus.WORKING),
        (8, OrderStatus.WORKING),  # a suspended bracket child may still fill: cancel it too
        (2, OrderStatus.FILLED),
        (4, OrderStatus.CANCELLED),
        (5, OrderStatus.REJECTED),
    ],
)
def test_order_status_codes(
    status: int, expected: OrderStatus, instruments: InstrumentBook
) -> None:
    record = {
        "id": 55,
        "accountId": 1,
        "contractId": ES,
        "status": status,
        "type": 4,
        "side": 1,
        "size": 2,
        "fillVolume": 1,
        "stopPrice": Decimal("5990.5"),
    }
    parsed = payloads.order(record, REF, instruments.parse)
    assert parsed.status is expected
    assert parsed.order.order_id == "55"
    assert (parsed.order.side, parsed.order.type, parsed.order.remaining) == (
        Side.SELL,
        OrderType.STOP,
        1,
    )


def test_a_short_position_is_negative_and_size_zero_is_closed(instruments: InstrumentBook) -> None:
    short = {"accountId": 1, "contractId": ES, "type": 2, "size": 3, "averagePrice": 6001}
    assert payloads.position(short, REF, instruments.parse).net == -3
    closed = {"accountId": 1, "contractId": ES, "type": 1, "size": 0, "averagePrice": None}
    assert payloads.position(closed, REF, instruments.parse).net == 0


def test_trades_carry_fees_and_utc_times_and_voided_ones_are_dropped(
    instruments: InstrumentBook,
) -> None:
    record = {
        "id": 9,
        "contractId": ES,
        "creationTimestamp": "2026-11-24T14:59:58.5",  # no offset: the gateway speaks UTC
        "price": Decimal("6000.75"),
        "profitAndLoss": None,
        "fees": Decimal("1.40"),
        "side": 0,
        "size": 1,
        "voided": False,
    }
    fill = payloads.trade(record, REF, instruments.parse, NOW)
    assert fill is not None
    assert fill.ts == datetime(2026, 11, 24, 14, 59, 58, 500000, tzinfo=UTC)
    assert (fill.side, fill.fee, fill.fill_id) == (Side.BUY, Decimal("1.40"), "9")
    assert payloads.trade({**record, "voided": True}, REF, instruments.parse, NOW) is None
    # No fee on the wire is not a fee of 0: the account's commission schedule applies to it.
    assert payloads.trade({**record, "fees": None}, REF, instruments.parse, NOW).fee is None  # type: ignore[union-attr]
    assert payloads.trade({**record, "fees": 0}, REF, instruments.parse, NOW).fee == 0  # type: ignore[union-attr]


def test_the_trading_day_starts_at_five_pm_chicago() -> None:
    morning = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)  # 9:00 CT
    assert trading_day_start(morning) == datetime(2026, 11, 23, 23, 0, tzinfo=UTC)
    evening = datetime(2026, 11, 24, 23, 30, tzinfo=UTC)  # 17:30 CT
    assert trading_day_start(evening) == datetime(2026, 11, 24, 23, 0, tzinfo=UTC)

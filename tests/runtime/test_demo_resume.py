"""A demo resumed from its journal goes on from the last journaled marks, not from the start prices.

The simulator lives in propdesk's process, so a restart would otherwise reopen every market at its
start price: the gap moves every open P&L at once (13.75 ES points once turned a daily lock into a
permanent max-loss lock).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from propdesk.app import build_demo_workspace, demo_news, demo_setups
from propdesk.brokers.sim import START_PRICES, SimExchange, front_month
from propdesk.domain.events import Mark
from propdesk.domain.firms import ProfileSet
from propdesk.domain.instruments import Contract, InstrumentBook
from propdesk.runtime.accounts import LiveAccount, risk_for
from propdesk.runtime.journal import Journal
from propdesk.runtime.journal.marks import last_marks
from propdesk.runtime.journal.rebuild import Counters, snapshot_payload

CT = ZoneInfo("America/Chicago")
AT = datetime(2025, 6, 11, 13, 50, tzinfo=CT)  # a Wednesday afternoon, every market open
D = Decimal


def quote_of(exchange: SimExchange, contract: Contract) -> tuple[Decimal | None, Decimal | None]:
    quote = exchange.quote(contract)
    assert quote is not None, f"no quote for {contract.key}: is its market open?"
    return quote.mark.bid, quote.mark.ask


def journaled_last_marks(path: Path, broker: str) -> dict[str, tuple[Decimal, Decimal]]:
    """Every mark of `broker` read in order, the later one winning: the plain way, for comparison."""
    db = sqlite3.connect(path)
    try:
        rows = db.execute(
            "SELECT payload FROM records WHERE kind = 'mark' AND broker = ? ORDER BY seq", [broker]
        ).fetchall()
    finally:
        db.close()
    last: dict[str, tuple[Decimal, Decimal]] = {}
    for (payload,) in rows:
        mark = json.loads(payload)
        last[mark["contract"]] = (D(mark["bid"]), D(mark["ask"]))
    return last


async def until(predicate: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


def write_marks(path: Path, marks: list[tuple[str, Mark]]) -> None:
    journal = Journal(path)
    for broker, mark in marks:
        journal.record_mark(broker, mark)
    assert journal.commit(timeout=5.0)
    assert journal.close() == []


def test_every_journaled_contract_resumes_at_its_last_mark(
    tmp_path: Path, instruments: InstrumentBook
) -> None:
    path = tmp_path / "journal.sqlite"
    es = front_month(instruments.instrument("ES"), AT)
    gc = front_month(instruments.instrument("GC"), AT)  # no account and no strategy trades it
    nq = front_month(instruments.instrument("NQ"), AT)
    second = timedelta(seconds=1)
    write_marks(
        path,
        [
            ("sim", Mark(AT, es, D("5990.00"), D("5990.25"))),
            ("sim", Mark(AT + second, gc, D("2411.3"), D("2411.4"))),
            ("sim", Mark(AT + 2 * second, es, D("6013.75"), D("6014.25"))),  # ES's last
            ("other", Mark(AT + 3 * second, es, D("7000.00"), D("7000.25"))),  # not the sim's
        ],
    )
    workspace = build_demo_workspace(speed=1.0, seed=7, journal=path, control_path=None)
    try:
        assert workspace.resumed == AT + 3 * second
        exchange = workspace.demo.exchange
        assert quote_of(exchange, es) == (D("6013.75"), D("6014.25"))
        assert quote_of(exchange, gc) == (D("2411.3"), D("2411.4"))
        # A contract with no journaled mark has only its start price to start from.
        assert quote_of(exchange, nq)[0] == START_PRICES["NQ"]
    finally:
        assert workspace.close() == []


async def test_a_demo_restarted_on_its_journal_goes_on_from_its_last_marks(
    tmp_path: Path, instruments: InstrumentBook
) -> None:
    path = tmp_path / "journal.sqlite"
    first = build_demo_workspace(speed=60.0, seed=7, journal=path, control_path=None)
    es = front_month(instruments.instrument("ES"), first.clock.now())
    await first.start()
    try:
        ledgers = [account.risk.ledger for account in first.runtime.accounts.values()]
        assert len(ledgers) == 3
        await until(
            lambda: any(es.key in ledger.quotes for ledger in ledgers),
            "the runtime's first ES mark",
        )
        # The market stops and gaps 13.75 points, as in the report: that is its last quote.
        await first.demo.strategy.stop()
        await first.demo.exchange.stop()
        gapped = START_PRICES["ES"] + D("13.75")
        first.demo.exchange.move_price(es, gapped)
        await until(
            lambda: all(ledger.quotes[es.key].bid == gapped for ledger in ledgers),
            "the gapped ES mark to reach the runtime",
        )
    finally:
        await first.stop()
        assert first.close() == []
    journaled = journaled_last_marks(path, "sim")
    assert journaled[es.key] == (gapped, gapped + es.instrument.tick_size)

    second = build_demo_workspace(speed=60.0, seed=7, journal=path, control_path=None)
    try:
        assert second.resumed is not None
        exchange = second.demo.exchange
        for key, bid_ask in journaled.items():
            assert quote_of(exchange, instruments.parse(key)) == bid_ask, key
    finally:
        assert second.close() == []


def test_last_marks_reads_the_latest_mark_of_each_contract_of_one_broker(
    tmp_path: Path, instruments: InstrumentBook
) -> None:
    path = tmp_path / "journal.sqlite"
    es = front_month(instruments.instrument("ES"), AT)
    cl = front_month(instruments.instrument("CL"), AT)
    marks = [
        ("sim", Mark(AT + timedelta(seconds=i), contract, D(bid), D(bid) + tick))
        for i, (contract, bid, tick) in enumerate(
            [
                (es, "6000.00", D("0.25")),
                (cl, "70.00", D("0.01")),
                (es, "6001.50", D("0.25")),
                (cl, "69.95", D("0.01")),
                (es, "6002.25", D("0.25")),
            ]
        )
    ]
    write_marks(path, [*marks, ("other", Mark(AT, es, D("1.00"), D("1.25")))])
    journal = Journal(path)
    try:
        got = last_marks(journal, instruments, "sim")
    finally:
        journal.close()
    # Decoded whole, as journaled: timestamp, contract, exact bid and ask.
    assert got == {es.key: marks[4][1], cl.key: marks[3][1]}


def test_a_day_file_that_starts_with_a_snapshot_resumes_from_its_ledgers_quotes(
    tmp_path: Path, instruments: InstrumentBook, profiles: ProfileSet
) -> None:
    # After the 17:00 CT roll the day's file holds a snapshot and no mark yet: the prices the
    # accounts last saw are in the snapshot's ledgers.
    path = tmp_path / "journal.sqlite"
    es = front_month(instruments.instrument("ES"), AT)
    setups = demo_setups(profiles, demo_news(AT.date()))
    accounts = {str(s.ref): LiveAccount(s, risk_for(s)) for s in setups}
    for account in accounts.values():
        account.risk.process(Mark(AT, es, D("6021.50"), D("6021.75")))
    journal = Journal(path)
    journal.record_snapshot(
        AT,
        snapshot_payload(
            {k: (a.config, a.risk) for k, a in accounts.items()},  # type: ignore[misc]
            None,
            set(),
            {k: Counters() for k in accounts},
        ),
    )
    assert journal.commit(timeout=5.0)
    assert journal.close() == []
    workspace = build_demo_workspace(speed=1.0, seed=7, journal=path, control_path=None)
    try:
        assert quote_of(workspace.demo.exchange, es) == (D("6021.50"), D("6021.75"))
    finally:
        assert workspace.close() == []

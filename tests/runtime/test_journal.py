"""The journal: codec round trips, WAL durability settings, and rebuild == the live engine's state."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta
from decimal import Decimal as D
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from propdesk.brokers.base import AccountRef
from propdesk.domain.events import (
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
from propdesk.domain.firms import ProfileSet
from propdesk.domain.guard import GuardState
from propdesk.domain.instruments import InstrumentBook
from propdesk.domain.protocol import Protocol
from propdesk.resources import load_commissions
from propdesk.runtime.accounts import AccountSetup, risk_for, setup_from_json, setup_to_json
from propdesk.runtime.journal import Journal, JournalError, decode_event, encode_event, rebuild

CT = ZoneInfo("America/Chicago")
T0 = datetime(2026, 11, 17, 9, 0, tzinfo=CT)


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    j = Journal(tmp_path / "journal.sqlite")
    yield j
    j.close()


def test_codec_round_trips_every_event(instruments: InstrumentBook) -> None:
    es = instruments.parse("ESZ6")
    events = [
        Fill(T0, es, Side.SELL, 3, D("6000.25"), D("6.30"), "f-1"),
        Mark(T0, es, D("6000.00"), D("6000.25"), None),
        Mark(T0, instruments.parse("ZNH7"), None, None, D("110.015625")),
        ClockTick(T0),
        KillRequest(T0, "FLATTEN ALL pressed"),
        UnlockRequest(T0, True, "sim:demo-1"),
        ConnectionRestored(T0, timedelta(seconds=12.5)),
        FlatVerified(T0),
        FlatVerified(T0, frozenset({"CL"})),
        WorkingOrders(T0, 3, 1),
        WorkingOrders(T0, 2, 0, frozenset({"ES", "MES"})),
    ]
    for event in events:
        assert decode_event(T0, encode_event(event), instruments) == event


def test_codec_keeps_no_fee_apart_from_a_fee_of_zero(instruments: InstrumentBook) -> None:
    es = instruments.parse("ESZ6")
    none, zero = (Fill(T0, es, Side.BUY, 1, D("6000.00"), fee, "f-1") for fee in (None, D(0)))
    assert encode_event(none)["fee"] is None
    assert decode_event(T0, encode_event(none), instruments).fee is None, "reported none"
    assert decode_event(T0, encode_event(zero), instruments).fee == D(0), "reported 0"
    # A record written before the distinction always held a string: read as the broker's fee.
    old = {"type": "fill", "contract": "ESZ6", "side": "buy", "qty": 1, "price": "6000.00"}
    assert decode_event(T0, old | {"fee": "0"}, instruments).fee == D(0)


def test_working_orders_keep_their_roots_and_groups(instruments: InstrumentBook) -> None:
    orders = WorkingOrders(T0, 2, 1, frozenset({"CL", "ES"}), frozenset({"energy", "equity"}))
    payload = encode_event(orders)
    assert payload["roots"] == ["CL", "ES"]
    assert payload["groups"] == ["energy", "equity"]
    assert decode_event(T0, payload, instruments) == orders
    # A record journaled before orders carried them reads as "not known".
    old = {"type": "orders", "count": 2, "adding": 1}
    assert decode_event(T0, old, instruments) == WorkingOrders(T0, 2, 1)


def test_unknown_event_type_is_an_error(instruments: InstrumentBook) -> None:
    with pytest.raises(JournalError, match="unknown event type"):
        decode_event(T0, {"type": "teleport"}, instruments)


def test_wal_mode_and_commit_visibility(journal: Journal, tmp_path: Path) -> None:
    journal.record_tick(T0)
    other = sqlite3.connect(tmp_path / "journal.sqlite")
    assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert other.execute("SELECT COUNT(*) FROM records").fetchone()[0] == 0, "not committed yet"
    seq = journal.commit()
    assert other.execute("SELECT COUNT(*) FROM records").fetchone()[0] == 1
    assert seq == journal.committed_seq == 1
    assert journal.integrity_check() == "ok"
    other.close()


def test_reopen_keeps_records_and_sequence(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    first = Journal(path)
    first.record_tick(T0)
    first.record_tick(T0 + timedelta(seconds=1))
    first.close()
    again = Journal(path)
    assert again.last_seq() == 2
    assert again.last_ts() == T0 + timedelta(seconds=1)
    assert again.record_tick(T0 + timedelta(seconds=2)) == 3
    again.close()


def test_rebuild_reaches_the_live_state(
    journal: Journal, profiles: ProfileSet, instruments: InstrumentBook
) -> None:
    """Drive a live engine and the journal side by side, as the runtime does, then rebuild."""
    ref = AccountRef("sim", "demo-1")
    setup = AccountSetup(ref, profiles.get("topstep-combine-50k"), Protocol(), cluster="a")
    live = risk_for(setup)
    key = str(ref)
    journal.register_account(T0, key, setup_to_json(setup))
    es = instruments.parse("ESZ6")

    def event(e: object) -> None:
        journal.record_event(key, e)  # type: ignore[arg-type]
        live.process(e)  # type: ignore[arg-type]

    def mark(ts: datetime, bid: str) -> None:
        m = Mark(ts, es, D(bid), D(bid) + D("0.25"))
        journal.record_mark("sim", m)
        live.process(m)

    event(Fill(T0, es, Side.BUY, 2, D("6000.00"), D("2.80"), "f-1"))
    mark(T0 + timedelta(minutes=1), "5992.00")  # past the 75% stop
    assert live.status.state is GuardState.FLATTENING
    event(Fill(T0 + timedelta(minutes=2), es, Side.SELL, 2, D("5992.00"), D("2.80"), "f-2"))
    assert live.status.state is GuardState.LOCKED
    tick = T0.replace(hour=16)
    journal.record_tick(tick)
    live.process(ClockTick(tick))
    journal.commit()

    rebuilt = rebuild(journal.records(), lambda _r, c: risk_for(setup_from_json(c)), instruments)
    assert rebuilt.accounts[key].durable_state() == live.durable_state()
    assert set(rebuilt.fill_ids[key]) == {"f-1", "f-2"}
    assert rebuilt.broker_accounts == {"sim": [key]}
    assert rebuilt.accounts[key].status.state is GuardState.LOCKED


def test_event_for_an_unregistered_account_is_refused(
    journal: Journal, instruments: InstrumentBook
) -> None:
    journal.record_event("sim:ghost", ClockTick(T0))
    journal.commit()
    with pytest.raises(JournalError, match="unregistered account 'sim:ghost'"):
        rebuild(journal.records(), lambda _r, _c: None, instruments)  # type: ignore[arg-type,return-value]


def test_setup_json_round_trip(profiles: ProfileSet) -> None:
    setup = AccountSetup(
        AccountRef("tradovate-demo", "123"),
        profiles.get("ftmo-2step-100k"),
        Protocol.none(),
        balance=D("101234.50"),
        cluster="fx",
        name="FTMO main",
    )
    assert setup_from_json(setup_to_json(setup)) == setup


def test_a_setups_commissions_are_journaled_with_it(profiles: ProfileSet) -> None:
    table = load_commissions().table("tpt-test-pro", "tradovate")
    setup = AccountSetup(
        AccountRef("tradovate-demo", "123"), profiles.get("tpt-test-50k"), commissions=table
    )
    data = setup_to_json(setup)
    assert setup_from_json(data).commissions == table
    # A journal from before commissions were estimated replays as it ran: without them.
    del data["commissions"]
    assert setup_from_json(data).commissions is None


def test_rebuild_charges_the_journaled_schedule_on_fills_without_a_fee(
    journal: Journal, profiles: ProfileSet, instruments: InstrumentBook
) -> None:
    ref = AccountRef("tradovate-demo", "123")
    table = load_commissions().table("tpt-test-pro", "tradovate")
    setup = AccountSetup(ref, profiles.get("tpt-test-50k"), Protocol(), commissions=table)
    live, key, es = risk_for(setup), str(ref), instruments.parse("ESZ6")
    journal.register_account(T0, key, setup_to_json(setup))
    for n, side in enumerate((Side.BUY, Side.SELL)):
        fill = Fill(T0 + timedelta(minutes=n), es, side, 1, D("6000.00"), None, f"f-{n}")
        journal.record_event(key, fill)
        live.process(fill)
    journal.commit()
    assert live.ledger.fees == D("5.00")
    rebuilt = rebuild(journal.records(), lambda _r, c: risk_for(setup_from_json(c)), instruments)
    assert rebuilt.accounts[key].durable_state() == live.durable_state()
    assert rebuilt.accounts[key].ledger.estimated_fees == D("5.00")


def test_checkpoint_runs_from_another_thread_and_close_truncates_the_wal(tmp_path: Path) -> None:
    import threading

    path = tmp_path / "j.sqlite"
    journal = Journal(path)
    for n in range(2_000):
        journal.record_tick(T0 + timedelta(seconds=n))
    journal.commit()
    wal = Path(f"{path}-wal")
    assert wal.stat().st_size > 0, "no automatic checkpoint folded the WAL"
    result: list[tuple[int, int]] = []
    worker = threading.Thread(target=lambda: result.append(journal.checkpoint()))
    worker.start()
    worker.join(10)
    frames, done = result[0]
    assert frames > 0
    assert done == frames
    journal.close()
    assert not wal.exists() or wal.stat().st_size == 0
    assert Journal(path).last_seq() == 2_000

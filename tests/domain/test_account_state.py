"""A saved account state continues exactly as the engine it came from (journal snapshots).

Random multi-day streams of fills, marks, kills, unlocks, working orders, reconnects and ticks run
through one engine; at random points its state is saved, sent through JSON, and restored into a
fresh engine built from the same profile. From there both engines take the rest of the stream and
must decide the same actions and end in the same durable state at every step.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from propdesk.domain.account import AccountRisk, calendar_for
from propdesk.domain.account_state import AccountStateError
from propdesk.domain.events import (
    AccountEvent,
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
from propdesk.domain.firms import FirmProfile, ProfileSet
from propdesk.domain.guard import GuardState
from propdesk.domain.instruments import InstrumentBook

CT = ZoneInfo("America/Chicago")
START = datetime(2026, 11, 23, 8, 30, tzinfo=CT)  # a Monday morning
EVENTS = 700
FOLLOW = 120  # events each restored copy is checked against the original
PROFILES = ("topstep-combine-50k", "apex-intraday-50k", "ftmo-1step-100k", "tradeify-growth-50k")


def engine(profile: FirmProfile) -> AccountRisk:
    return AccountRisk(profile, calendar=calendar_for(profile))


class Trader:
    """Three days of trading that reaches warnings, stops, locks, unlocks and day rolls.

    It watches the engine as a strategy and a kill switch would: while the account is being
    flattened the next events close every position and report it flat.
    """

    def __init__(self, seed: int, instruments: InstrumentBook) -> None:
        self.rng = random.Random(seed)
        self.contracts = [
            instruments.parse(s, at=datetime(2026, 11, 17, tzinfo=UTC))
            for s in ("ESZ6", "MESZ6", "NQZ6")
        ]
        self.mids = {
            c.key: Decimal(p)
            for c, p in zip(self.contracts, ("6000", "6000", "21000"), strict=True)
        }
        self.ts = START
        self.n = 0

    def next(self, engine: AccountRisk) -> AccountEvent:
        rng = self.rng
        self.n += 1
        self.ts += timedelta(minutes=rng.choice((1, 2, 5, 9, 31)))
        if engine.status.state is GuardState.FLATTENING:
            for key, position in engine.ledger.positions.items():
                side = Side.SELL if position.net > 0 else Side.BUY
                price = self.mids[key]
                return Fill(
                    self.ts, position.contract, side, abs(position.net), price, fill_id=f"c{self.n}"
                )
            if engine.working_orders != (0, 0):
                return WorkingOrders(self.ts, 0, 0)
            return FlatVerified(self.ts)
        contract = rng.choice(self.contracts)
        tick = contract.instrument.tick_size
        roll = rng.random()
        if roll < 0.5:
            self.mids[contract.key] += tick * rng.randint(-12, 11)
            bid = self.mids[contract.key]
            if rng.random() < 0.1:  # a feed with trades only: the last price marks
                return Mark(self.ts, contract, None, None, bid)
            return Mark(self.ts, contract, bid, bid + tick, bid)
        if roll < 0.78:
            side = rng.choice((Side.BUY, Side.SELL))
            price = self.mids[contract.key] + tick * rng.randint(-2, 2)
            fee = Decimal("0.62") * rng.randint(1, 3)
            return Fill(self.ts, contract, side, rng.randint(1, 3), price, fee, f"f{self.n}")
        if roll < 0.85:
            return ClockTick(self.ts)
        if roll < 0.89:
            return WorkingOrders(self.ts, rng.randint(0, 3), rng.randint(0, 1))
        if roll < 0.91:
            return KillRequest(self.ts, "FLATTEN ALL pressed")
        if roll < 0.96:
            return UnlockRequest(self.ts, rng.random() < 0.8, "this account")
        return ConnectionRestored(self.ts, timedelta(seconds=rng.choice((3, 45, 400))))


@pytest.mark.parametrize("profile_id", PROFILES)
@pytest.mark.parametrize("seed", [1, 2])
def test_a_restored_engine_continues_exactly_as_the_original(
    profile_id: str, seed: int, profiles: ProfileSet, instruments: InstrumentBook
) -> None:
    profile = profiles.get(profile_id)
    trader = Trader(seed, instruments)
    original = engine(profile)
    states_seen: set[GuardState] = set()
    restored: list[tuple[int, AccountRisk]] = []
    before: tuple[object, ...] = ()
    for index in range(EVENTS):
        # Cut where it matters: every change of state, day or end-of-day step, and now and then.
        moment = (original.status.state, original.trading_day, original.time_state()[2])
        if moment != before or index % 50 == 25:
            saved = json.loads(json.dumps(original.save_state()))
            copy = engine(profile)
            copy.restore_state(saved, instruments)
            assert copy.durable_state() == original.durable_state()
            assert copy.view() == original.view()
            restored.append((index, copy))
        before = moment
        event = trader.next(original)
        expected = original.process(event)
        states_seen.add(original.status.state)
        # Each copy is followed for a while: long enough to cross what its cut was near.
        restored = [(at, copy) for at, copy in restored if index - at < FOLLOW]
        for at, copy in restored:
            assert copy.process(event) == expected, f"cut at {at}, event {index}: {event}"
            assert copy.durable_state() == original.durable_state(), f"cut at {at}, event {index}"
            assert copy.view() == original.view(), f"cut at {at}, event {index}"
            assert copy.status == original.status, f"cut at {at}, event {index}"
    # The stream must have exercised what a snapshot has to carry.
    assert GuardState.LOCKED in states_seen
    assert original.trading_day is not None
    assert original.trading_day > START.date()


def test_a_state_saved_for_another_start_balance_is_refused(
    profiles: ProfileSet, instruments: InstrumentBook
) -> None:
    saved = engine(profiles.get("topstep-combine-50k")).save_state()
    with pytest.raises(AccountStateError, match="start balance 50000 is not the setup's 100000"):
        engine(profiles.get("topstep-combine-100k")).restore_state(saved, instruments)


def test_an_unknown_state_version_is_refused(
    profiles: ProfileSet, instruments: InstrumentBook
) -> None:
    saved = engine(profiles.get("topstep-combine-50k")).save_state()
    saved["version"] = 99
    with pytest.raises(AccountStateError, match="version 99"):
        engine(profiles.get("topstep-combine-50k")).restore_state(saved, instruments)


def test_a_version_1_state_from_the_last_release_still_restores_its_lock(
    profiles: ProfileSet, instruments: InstrumentBook
) -> None:
    profile = profiles.get("topstep-combine-50k")
    original = engine(profile)
    es = instruments.parse("ESZ26")
    original.process(Fill(START, es, Side.BUY, 2, Decimal(6000), Decimal(0)))
    original.process(KillRequest(START + timedelta(minutes=1)))
    saved = json.loads(json.dumps(original.save_state()))
    # What the last release wrote: no rules, lots without open times, undated quotes.
    saved["version"] = 1
    del saved["rules"]
    for position in saved["ledger"]["positions"].values():
        position["lots"] = [lot[:2] for lot in position["lots"]]
    saved["ledger"]["quotes"] = {k: q[:3] for k, q in saved["ledger"]["quotes"].items()}
    for key in ("stops_lifted", "scope"):
        del saved["status"][key]
    restored = engine(profile)
    restored.restore_state(saved, instruments)
    assert restored.status.state is GuardState.FLATTENING
    assert restored.status.lock_until is None
    assert restored.durable_state() == original.durable_state()

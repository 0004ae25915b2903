"""Kill latency through the Rithmic adapter against the loopback gateway, beside a bare client.

FLATTEN ALL on ACCOUNTS accounts × len(ROOTS) positions × ORDERS working orders, two ways:
- propdesk: `Runtime.kill` (journal, guard, kill switch, the adapter over async-rithmic: cancel-all
  (346) and exit-position (3504) per account, then a fresh read per account until flat: the
  account P&L and positions (402 twice), working orders (320) and today's fills (3512));
- floor: bare WebSockets on the ORDER and PNL plants, logged in, sending the same six requests per
  account and waiting for their answers, with no logic at all.
Each side has its own fake gateway in this process; rounds alternate between the two sides.
Prints p50/p99 of "verified flat" (ms from the call) and the ratio; asserts nothing.

    python bench/kill_latency_rithmic.py [--rounds N]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import sys
import tempfile
import time
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import websockets
from async_rithmic.plants.base import TEMPLATES_MAP

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _vs_bare import OPEN, ROOTS, kill_round, report, watched
from fakes.rithmic import BUY, LIMIT, ORDER_PLANT, PNL_PLANT, FakeRithmic, frame, message

from propdesk.brokers.rithmic import from_settings
from propdesk.brokers.rithmic.mapping import rithmic_symbol
from propdesk.brokers.sim import front_month
from propdesk.resources import load_instruments
from propdesk.runtime.accounts import LiveAccount
from propdesk.runtime.clock import ScaledClock

ACCOUNTS, ORDERS = 10, 5
SECRETS = {"password": "secret"}
VALUES = {"username": "trader", "system": "Rithmic Test"}


def build_venue(clock: ScaledClock) -> tuple[FakeRithmic, list[str], list[str]]:
    instruments = load_instruments()
    fake = FakeRithmic(clock)
    names = [f"K{i:02d}" for i in range(ACCOUNTS)]
    for name in names:
        fake.add_account(name, Decimal(150_000))
    symbols = []
    for root, price in ROOTS.items():
        contract = front_month(instruments.instrument(root), OPEN)
        symbol, exchange = rithmic_symbol(contract)
        fake.add_contract(symbol, exchange, price, contract.instrument.point_value)
        symbols.append(symbol)
    return fake, names, symbols


def load(fake: FakeRithmic, symbols: list[str]) -> None:
    """Every account: one long per contract and ORDERS far-away buy limits."""
    for account_id in fake.accounts:
        for symbol in symbols:
            fake.place(account_id, BUY, symbol, 1)
        for n in range(ORDERS):
            symbol = symbols[n % len(symbols)]
            far = fake.contracts[symbol].price * Decimal("0.8")
            fake.place(account_id, BUY, symbol, 1, LIMIT, far)


def loaded(account: LiveAccount) -> bool:
    """The runtime sees this round's working orders and positions of the account."""
    return len(account.orders) >= ORDERS and len(account.risk.ledger.positions) >= len(ROOTS)


class PropdeskSide:
    """The runtime over the adapter, on its own fake gateway."""

    async def start(self, folder: Path) -> None:
        clock = ScaledClock(OPEN, speed=1.0)
        self.fake, names, self.symbols = build_venue(clock)
        await self.fake.start()
        instruments = load_instruments()
        broker = from_settings(
            VALUES,
            environment="demo",
            server=self.fake.url,
            secret=SECRETS.get,
            accounts=names,
            instruments=instruments,
            clock=clock,
            name="rith",
        )
        self.runtime, self.journal = watched(
            broker,
            names,
            clock=clock,
            instruments=instruments,
            journal_path=folder / "kill-rithmic.sqlite",
        )
        await self.runtime.start()

    async def round(self) -> float:
        load(self.fake, self.symbols)
        return await kill_round(self.runtime, loaded)

    async def stop(self) -> None:
        await self.runtime.stop()
        self.journal.close()
        await self.fake.stop()


class BarePlant:
    """One logged-in plant socket: requests by user_msg, snapshot rows gathered per account."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.ids = itertools.count(1)
        self.waiting: dict[str, asyncio.Future[None]] = {}
        self.rows: dict[tuple[int, str], list[Any]] = defaultdict(list)
        self.reader = asyncio.get_running_loop().create_task(self._read())

    @classmethod
    async def open(cls, url: str, infra_type: int) -> BarePlant:
        plant = cls(await websockets.connect(url, ping_interval=None))
        await plant.request(10, user="trader", password="secret", system_name="Rithmic Test",
                            app_name="bench", app_version="1", template_version="3.9",
                            infra_type=infra_type)  # fmt: skip
        if infra_type == PNL_PLANT:
            for account in [f"K{i:02d}" for i in range(ACCOUNTS)]:
                await plant.request(400, account_id=account, request=1)
        return plant

    async def _read(self) -> None:
        async for data in self.ws:
            body = data[4:]
            base = TEMPLATES_MAP[18]()
            base.ParseFromString(body)
            msg = TEMPLATES_MAP[base.template_id]()
            msg.ParseFromString(body)
            if base.template_id in (352, 450) and msg.is_snapshot:
                self.rows[(base.template_id, msg.account_id)].append(msg)
            ids = list(getattr(msg, "user_msg", ()))
            if ids and list(getattr(msg, "rp_code", ())) and ids[0] in self.waiting:
                self.waiting.pop(ids[0]).set_result(None)

    async def request(self, template_id: int, **fields: Any) -> None:
        request_id = str(next(self.ids))
        done = asyncio.get_running_loop().create_future()
        self.waiting[request_id] = done
        await self.ws.send(frame(message(template_id, user_msg=[request_id], **fields)))
        await done

    async def close(self) -> None:
        self.reader.cancel()
        await self.ws.close()


class FloorSide:
    """Bare sockets on the two plants, on their own fake gateway."""

    async def start(self) -> None:
        clock = ScaledClock(OPEN, speed=1.0)
        self.fake, self.names, self.symbols = build_venue(clock)
        await self.fake.start()
        self.order, self.pnl = await asyncio.gather(
            BarePlant.open(self.fake.url, ORDER_PLANT), BarePlant.open(self.fake.url, PNL_PLANT)
        )
        for account in self.names:
            await self.order.request(308, account_id=account)

    async def _flatten(self, account: str) -> float:
        order, pnl = self.order, self.pnl
        while True:
            await asyncio.gather(
                order.request(346, account_id=account, manual_or_auto=2),
                order.request(3504, account_id=account, manual_or_auto=2),
            )
            order.rows.pop((352, account), None)
            pnl.rows.pop((450, account), None)
            await asyncio.gather(
                pnl.request(402, account_id=account),
                pnl.request(402, account_id=account),
                order.request(320, account_id=account),
                order.request(3512, account_id=account),
            )
            held = [r for r in pnl.rows.get((450, account), []) if r.net_quantity]
            if not held and not order.rows.get((352, account)):
                return time.perf_counter()

    async def round(self) -> float:
        load(self.fake, self.symbols)
        await asyncio.sleep(0.01)  # let the pushes of the load drain, as the other side waits
        started = time.perf_counter()
        ends = await asyncio.gather(*(self._flatten(account) for account in self.names))
        return max(ends) - started

    async def stop(self) -> None:
        await self.order.close()
        await self.pnl.close()
        await self.fake.stop()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    print(
        f"Rithmic kill latency over loopback: {ACCOUNTS} accounts × {len(ROOTS)} positions × "
        f"{ORDERS} working orders, {ACCOUNTS * 6} requests per kill, {args.rounds} rounds "
        "(ms from the call to verified flat)"
    )
    ours: list[float] = []
    floor: list[float] = []
    with tempfile.TemporaryDirectory() as folder:
        propdesk, bare = PropdeskSide(), FloorSide()
        await propdesk.start(Path(folder))
        await bare.start()
        try:
            # Rounds alternate, so both sides see the same machine load.
            for _ in range(args.rounds):
                ours.append(await propdesk.round())
                floor.append(await bare.round())
        finally:
            await propdesk.stop()
            await bare.stop()
    report(ours, floor)


if __name__ == "__main__":
    asyncio.run(main())

"""Kill latency through the Tradovate adapter against the loopback fake, beside a bare client.

FLATTEN ALL on ACCOUNTS accounts × len(ROOTS) positions × ORDERS working orders, two ways:
- propdesk: `Runtime.kill` (journal, guard, kill switch, the adapter: `order/cancelorder` per
  order and `order/liquidatepositions`, then a fresh REST read per account until flat);
- floor: a bare httpx client sending the same requests and the same reads with no logic at all.
Each round starts from a fresh trading day at the fake (finished orders forgotten), so the lists the
reads return do not grow from round to round. Prints p50/p99 of "verified flat" (ms from the call)
and the ratio; asserts nothing.

    python bench/kill_latency_tradovate.py [--rounds N]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _vs_bare import OPEN, ROOTS, kill_round, report, watched
from fakes.tradovate import FakeTradovate

from propdesk.brokers.sim import front_month
from propdesk.brokers.tradovate import from_settings
from propdesk.resources import load_instruments
from propdesk.runtime.accounts import LiveAccount
from propdesk.runtime.clock import ScaledClock

ACCOUNTS, ORDERS = 10, 5
LISTS = (
    "account/list",
    "cashBalance/list",
    "position/list",
    "order/list",
    "orderVersion/list",
    "fill/list",
)
LOGIN = {
    "name": "trader",
    "password": "secret",
    "appId": "bench",
    "appVersion": "1.0",
    "cid": 8,
    "sec": "s",
    "deviceId": "bench-device",
}


def build_venue(clock: ScaledClock) -> tuple[FakeTradovate, list[str], list[int]]:
    instruments = load_instruments()
    fake = FakeTradovate(clock)
    names = [f"K{i:02d}" for i in range(ACCOUNTS)]
    for name in names:
        fake.add_account(name, Decimal(150_000))
    contract_ids = []
    for root, price in ROOTS.items():
        contract = front_month(instruments.instrument(root), OPEN)
        name = f"{root}{contract.month_code}{contract.year % 10}"
        contract_ids.append(fake.add_contract(name, price, contract.instrument.point_value))
    return fake, names, contract_ids


def load(fake: FakeTradovate, contract_ids: list[int]) -> None:
    """Every account: one long per contract and ORDERS far-away buy limits."""
    for account_id in fake.accounts:
        for contract_id in contract_ids:
            fake.place(account_id, "Buy", contract_id, 1)
        for n in range(ORDERS):
            contract_id = contract_ids[n % len(contract_ids)]
            far = fake.prices[contract_id] * Decimal("0.8")
            fake.place(account_id, "Buy", contract_id, 1, "Limit", far)


def loaded(account: LiveAccount) -> bool:
    """The runtime sees this round's working orders and positions of the account."""
    return len(account.orders) >= ORDERS and len(account.risk.ledger.positions) >= len(ROOTS)


async def propdesk_rounds(rounds: int, folder: Path) -> list[float]:
    clock = ScaledClock(OPEN, speed=1.0)
    fake, names, contract_ids = build_venue(clock)
    await fake.start()
    instruments = load_instruments()
    broker = from_settings(
        {"username": "trader", "app_id": "bench", "cid": "8"},
        environment="demo",
        server=fake.url,
        secret={"password": "secret", "sec": "s"}.get,
        accounts=names,
        instruments=instruments,
        clock=clock,
        name="tdv",
    )
    runtime, journal = watched(
        broker,
        names,
        clock=clock,
        instruments=instruments,
        journal_path=folder / "kill-tradovate.sqlite",
    )
    await runtime.start()
    verified: list[float] = []
    try:
        for _ in range(rounds):
            load(fake, contract_ids)
            verified.append(await kill_round(runtime, loaded))
            fake.forget_finished()
    finally:
        await runtime.stop()
        journal.close()
        await fake.stop()
    return verified


def _flat(account_id: int, lists: dict[str, Any]) -> bool:
    held = [p for p in lists["position/list"] if p["accountId"] == account_id and p["netPos"]]
    working = [
        o
        for o in lists["order/list"]
        if o["accountId"] == account_id and o["ordStatus"] == "Working"
    ]
    return not held and not working


async def floor_rounds(rounds: int) -> list[float]:
    clock = ScaledClock(OPEN, speed=1.0)
    fake, _names, contract_ids = build_venue(clock)
    await fake.start()
    limits = httpx.Limits(max_connections=32, max_keepalive_connections=32)
    verified: list[float] = []
    async with httpx.AsyncClient(base_url=f"{fake.url}/v1", limits=limits) as http:
        token = (await http.post("/auth/accesstokenrequest", json=LOGIN)).json()["accessToken"]
        headers = {"Authorization": f"Bearer {token}"}

        async def post(path: str, body: dict[str, Any]) -> None:
            await http.post(path, json=body, headers=headers)

        async def read() -> dict[str, Any]:
            answers = await asyncio.gather(*(http.get(p, headers=headers) for p in LISTS))
            return {p: a.json() for p, a in zip(LISTS, answers, strict=True)}

        async def flatten(account_id: int, positions: list[int], orders: list[int]) -> float:
            await asyncio.gather(
                *(post("/order/cancelorder", {"orderId": o, "isAutomated": True}) for o in orders),
                post("/order/liquidatepositions", {"positions": positions, "isAutomated": True}),
            )
            while not _flat(account_id, await read()):
                pass
            return time.perf_counter()

        try:
            for _ in range(rounds):
                load(fake, contract_ids)
                plan = [
                    (
                        account_id,
                        [p["id"] for (a, _c), p in fake.positions.items() if a == account_id],
                        [o["id"] for o in fake.working_orders(account_id)],
                    )
                    for account_id in fake.accounts
                ]
                started = time.perf_counter()
                ends = await asyncio.gather(*(flatten(*account) for account in plan))
                verified.append(max(ends) - started)
                fake.forget_finished()
        finally:
            await fake.stop()
    return verified


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    requests = ACCOUNTS * (ORDERS + 1 + len(LISTS))
    print(
        f"Tradovate kill latency over loopback: {ACCOUNTS} accounts × {len(ROOTS)} positions × "
        f"{ORDERS} working orders, {requests} requests per kill, {args.rounds} rounds "
        "(ms from the call to verified flat)"
    )
    with tempfile.TemporaryDirectory() as folder:
        ours = await propdesk_rounds(args.rounds, Path(folder))
    floor = await floor_rounds(args.rounds)
    report(ours, floor)


if __name__ == "__main__":
    asyncio.run(main())

"""Kill latency through the ProjectX adapter against the loopback gateway, beside a bare client.

FLATTEN ALL on ACCOUNTS accounts × len(ROOTS) positions × ORDERS working orders, two ways:
- propdesk: `Runtime.kill` (journal, guard, kill switch, the adapter: `Order/cancel` per order,
  then, once those are answered, `Position/closeContract` per position, then a fresh read per
  account of what a flatten verifies: `Position/searchOpen`, `Order/searchOpen`);
- floor: a bare httpx client sending the same requests in the same order and the same reads, with
  no logic at all.
Prints p50/p99 of "verified flat" (ms from the call) and the ratio; asserts nothing.

    python bench/kill_latency_projectx.py [--rounds N]
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
from fakes.projectx import BUY, LIMIT, FakeProjectX

from propdesk.brokers.projectx import from_settings
from propdesk.brokers.sim import front_month
from propdesk.resources import load_instruments
from propdesk.runtime.accounts import LiveAccount
from propdesk.runtime.clock import ScaledClock

ACCOUNTS, ORDERS = 10, 5
READS = ("Position/searchOpen", "Order/searchOpen")  # the adapter's exposure() read


def build_venue(clock: ScaledClock) -> tuple[FakeProjectX, list[str], list[str]]:
    instruments = load_instruments()
    fake = FakeProjectX(instruments, now=clock.now, ping_interval=1.0)
    names = [f"150K-{i:02d}" for i in range(ACCOUNTS)]
    for n, name in enumerate(names):
        fake.add_account(8001 + n, name, Decimal(150_000))
    contract_ids = []
    for root, price in ROOTS.items():
        contract = front_month(instruments.instrument(root), OPEN)
        tick = contract.instrument.tick_size
        fake.set_quote(contract.projectx_id, price, price + tick)
        contract_ids.append(contract.projectx_id)
    return fake, names, contract_ids


def load(fake: FakeProjectX, contract_ids: list[str]) -> None:
    """Every account: one long per contract and ORDERS far-away buy limits."""
    for account_id in fake.accounts:
        for contract_id in contract_ids:
            fake.place(account_id, contract_id, BUY, 1)
        for n in range(ORDERS):
            contract_id = contract_ids[n % len(contract_ids)]
            far = (fake.quotes[contract_id]["bestBid"] * Decimal("0.8")).quantize(Decimal(1))
            fake.place(account_id, contract_id, BUY, 1, LIMIT, limit_price=far)


def loaded(account: LiveAccount) -> bool:
    """The runtime sees this round's working orders and positions of the account."""
    return len(account.orders) >= ORDERS and len(account.positions) >= len(ROOTS)


async def propdesk_rounds(rounds: int, folder: Path) -> list[float]:
    clock = ScaledClock(OPEN, speed=1.0)
    fake, names, contract_ids = build_venue(clock)
    await fake.start()
    instruments = load_instruments()
    broker = from_settings(
        {"username": fake.username, "firm": "topstepx"},
        environment="demo",
        server=fake.url,
        secret={"api_key": fake.api_key}.get,
        accounts=names,
        instruments=instruments,
        clock=clock,
        name="px",
    )
    runtime, journal = watched(
        broker,
        names,
        clock=clock,
        instruments=instruments,
        journal_path=folder / "kill-projectx.sqlite",
    )
    await runtime.start()
    verified: list[float] = []
    try:
        for _ in range(rounds):
            load(fake, contract_ids)
            verified.append(await kill_round(runtime, loaded))
    finally:
        await runtime.stop()
        journal.close()
        await fake.stop()
    return verified


async def floor_rounds(rounds: int) -> list[float]:
    clock = ScaledClock(OPEN, speed=1.0)
    fake, _names, contract_ids = build_venue(clock)
    await fake.start()
    verified: list[float] = []
    async with httpx.AsyncClient(base_url=fake.url) as http:
        login = {"userName": fake.username, "apiKey": fake.api_key}
        token = (await http.post("/Auth/loginKey", json=login)).json()["token"]
        headers = {"Authorization": f"Bearer {token}"}

        async def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
            reply: dict[str, Any] = (await http.post(f"/{path}", json=body, headers=headers)).json()
            return reply

        async def flat(account_id: int) -> bool:
            body = {"accountId": account_id}
            positions, orders = await asyncio.gather(*(post(p, body) for p in READS))
            return not positions["positions"] and not orders["orders"]

        async def flatten(account_id: int, contracts: list[str], orders: list[int]) -> float:
            await asyncio.gather(
                *(post("Order/cancel", {"accountId": account_id, "orderId": o}) for o in orders)
            )
            await asyncio.gather(
                *(
                    post("Position/closeContract", {"accountId": account_id, "contractId": c})
                    for c in contracts
                )
            )
            while not await flat(account_id):
                pass
            return time.perf_counter()

        try:
            for _ in range(rounds):
                load(fake, contract_ids)
                plan = [
                    (
                        account_id,
                        [c for (a, c), p in fake.positions.items() if a == account_id and p.net],
                        [o.id for o in fake.working_orders(account_id)],
                    )
                    for account_id in fake.accounts
                ]
                started = time.perf_counter()
                ends = await asyncio.gather(*(flatten(*account) for account in plan))
                verified.append(max(ends) - started)
        finally:
            await fake.stop()
    return verified


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    requests = ACCOUNTS * (ORDERS + len(ROOTS) + len(READS))
    print(
        f"ProjectX kill latency over loopback: {ACCOUNTS} accounts × {len(ROOTS)} positions × "
        f"{ORDERS} working orders, {requests} requests per kill, {args.rounds} rounds "
        "(ms from the call to verified flat)"
    )
    with tempfile.TemporaryDirectory() as folder:
        ours = await propdesk_rounds(args.rounds, Path(folder))
    floor = await floor_rounds(args.rounds)
    report(ours, floor)


if __name__ == "__main__":
    asyncio.run(main())

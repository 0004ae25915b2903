"""The composition root: builds the runtime (and, later, the console) from configuration or the demo.

Nothing else lives here: every rule is in the domain, every service in the runtime.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TextIO
from zoneinfo import ZoneInfo

from platformdirs import user_data_dir

from propdesk.brokers.base import AccountRef
from propdesk.brokers.sim import SimDemo, build_demo
from propdesk.domain.account import calendar_for
from propdesk.domain.calendar import TradingCalendar
from propdesk.domain.firms import ProfileSet
from propdesk.domain.instruments import InstrumentBook
from propdesk.domain.protocol import Protocol
from propdesk.headless import Printer, print_summary
from propdesk.resources import load_instruments, load_profiles
from propdesk.runtime.accounts import AccountSetup
from propdesk.runtime.clock import ScaledClock
from propdesk.runtime.control import AlreadyRunning, ControlServer, default_socket_path
from propdesk.runtime.engine import Runtime, RuntimeControl
from propdesk.runtime.journal import Journal

CT = ZoneInfo("America/Chicago")


@dataclass(frozen=True, slots=True)
class DemoAccount:
    account_id: str
    profile: str
    name: str
    cluster: str


# Three firms with different arithmetic: EOD trailing + daily limit (Topstep), EOD trailing with a
# firm that bans bots (Apex: the console warns), and a lock at start + $100 (Tradeify).
DEMO_ACCOUNTS = (
    DemoAccount("TS-50K", "topstep-combine-50k", "Topstep 50K Combine", "trend"),
    DemoAccount("APEX-50K", "apex-eod-50k", "Apex 50K EOD", "trend"),
    DemoAccount("TDY-50K", "tradeify-growth-50k", "Tradeify 50K Growth", "mean-revert"),
)
DEMO_START = time(
    13, 45
)  # CT: the first hour holds a flat-by cutoff (Topstep 14:40 CT with the buffer)


def demo_start(today: date, calendar: TradingCalendar) -> datetime:
    """The latest trading day up to `today` with an equity session, at 13:40 CT."""
    day = today
    for _ in range(10):
        session = calendar.session("equity", day)
        if session is not None and session.close.astimezone(CT).time() >= time(15, 0):
            return datetime.combine(day, DEMO_START, CT)
        day -= timedelta(days=1)
    raise RuntimeError(f"no full equity session in the 10 days up to {today}")


def demo_setups(profiles: ProfileSet) -> list[AccountSetup]:
    return [
        AccountSetup(
            AccountRef("sim", a.account_id),
            profiles.get(a.profile),
            Protocol(),
            cluster=a.cluster,
            name=a.name,
        )
        for a in DEMO_ACCOUNTS
    ]


def default_demo_journal() -> Path:
    return Path(user_data_dir("propdesk", appauthor=False)) / "demo-journal.sqlite"


def _restore_sim_books(demo: SimDemo, runtime: Runtime, instruments: InstrumentBook) -> None:
    """The simulator lives in this process: after a restart its books come back from the journal.

    A real broker keeps its own books; the simulator's would otherwise start flat and disagree with
    the rebuilt ledgers.
    """
    for account in runtime.accounts.values():
        ledger = account.risk.ledger
        positions = [
            (p.contract, p.net, p.average_price or Decimal(0)) for p in ledger.positions.values()
        ]
        demo.exchange.restore_account(account.ref, ledger.balance, positions)


async def _run_demo(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    instruments = load_instruments()
    profiles = load_profiles()
    setups = demo_setups(profiles)
    calendar = calendar_for(setups[0].profile)
    path: Path = args.journal or default_demo_journal()
    if args.journal is None and path.exists():
        # The default demo starts a new day each time; an explicit --journal resumes.
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    journal = Journal(path)
    resumed = journal.last_ts()
    start = resumed if resumed is not None else demo_start(datetime.now(CT).date(), calendar)
    clock = ScaledClock(start, speed=args.speed)
    demo = build_demo(
        instruments,
        calendar,
        clock,
        accounts={a.account_id: Decimal(50_000) for a in DEMO_ACCOUNTS},
        seed=args.seed,
        aggression=0.6,
    )
    runtime = Runtime([demo.broker], setups, clock=clock, journal=journal, instruments=instruments)
    runtime.notices.register(Printer(out))
    if resumed is not None:
        runtime.restore()
        _restore_sim_books(demo, runtime, instruments)
        out.write(f"resumed from {path} at {resumed.astimezone(CT):%Y-%m-%d %H:%M:%S} CT\n")
    control = ControlServer(RuntimeControl(runtime), default_socket_path())
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await control.start()
    except AlreadyRunning as exc:
        err.write(f"propdesk: {exc}\n")
        journal.close()
        return 1
    try:
        demo.exchange.start()
        await runtime.start()
        demo.strategy.start()
        out.write(
            f"propdesk headless demo: {len(setups)} accounts on the simulator, clock "
            f"{clock.now().astimezone(CT):%Y-%m-%d %H:%M} CT at {args.speed:g}x, journal {path}\n"
        )
        out.flush()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=args.run_for)
    finally:
        await demo.strategy.stop()
        await runtime.stop()
        await demo.exchange.stop()
        await control.close()
    print_summary(runtime, out)
    journal.close()
    return 0


def run_headless(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    if not args.demo:
        err.write(
            "propdesk: --headless without --demo runs the configured accounts; no connections are "
            "configured yet (the console's settings will add them). Try --headless --demo.\n"
        )
        return 2
    if args.speed <= 0:
        err.write("propdesk: --speed must be > 0\n")
        return 2
    return asyncio.run(_run_demo(args, out, err))

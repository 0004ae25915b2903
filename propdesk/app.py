"""The composition root: builds the runtime and the console (or the headless printer) from the demo.

Nothing else lives here: every rule is in the domain, every service in the runtime.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import tempfile
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TextIO
from zoneinfo import ZoneInfo

from platformdirs import user_data_dir

from propdesk.brokers.base import AccountRef
from propdesk.brokers.sim import SimDemo, build_demo
from propdesk.brokers.sim.strategy import DemoStrategy
from propdesk.config.model import Config, ConfigError
from propdesk.config.secrets import SecretStore
from propdesk.config.store import default_config_path, load_config
from propdesk.domain.account import calendar_for
from propdesk.domain.calendar import TradingCalendar
from propdesk.domain.firms import ProfileSet
from propdesk.domain.guard import ActionType, GuardState, lock_bleed
from propdesk.domain.instruments import Contract, InstrumentBook
from propdesk.domain.news import NewsEvent, Restriction
from propdesk.domain.protocol import Protocol
from propdesk.headless import Printer, print_summary
from propdesk.resources import load_instruments, load_profiles
from propdesk.runtime.accounts import AccountSetup
from propdesk.runtime.clock import ScaledClock
from propdesk.runtime.control import AlreadyRunning, default_socket_path
from propdesk.runtime.control_server import ControlServer
from propdesk.runtime.engine import Runtime, RuntimeControl
from propdesk.runtime.journal import Journal, JournalError
from propdesk.runtime.journal.files import close_journal, open_journal, restore_or_move_aside
from propdesk.runtime.journal.marks import last_marks
from propdesk.runtime.notices import ActionTaken, Alert, Level, Notice, StateChanged
from propdesk.workspace import ConfiguredWorkspace, build_workspace, opening_alerts

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


def demo_news(day: date) -> tuple[NewsEvent, ...]:
    """The demo day's calendar: a Fed speaker at 15:00 ET (14:00 CT), a quarter hour in.

    None of the three firms restricts news, so the window is the trader's own rule: no executions
    in the index futures from two minutes before to two minutes after. It only eases the accounts
    into reduce-only (never a lock), so Topstep's lock still comes from its 14:40 CT cutoff.
    """
    return (
        NewsEvent(
            at=datetime.combine(day, time(14, 0), CT),
            title="Fed speaker",
            roots=frozenset({"ES", "MES", "NQ"}),
            pre=timedelta(minutes=2),
            post=timedelta(minutes=2),
            restriction=Restriction.NO_EXECUTIONS,
        ),
    )


def demo_setups(profiles: ProfileSet, news: tuple[NewsEvent, ...] = ()) -> list[AccountSetup]:
    return [
        AccountSetup(
            AccountRef("sim", a.account_id),
            profiles.get(a.profile),
            Protocol(),
            cluster=a.cluster,
            news=news,
            name=a.name,
        )
        for a in DEMO_ACCOUNTS
    ]


def default_demo_journal() -> Path:
    return Path(user_data_dir("propdesk", appauthor=False)) / "demo-journal.sqlite"


def _restore_sim_books(demo: SimDemo, runtime: Runtime, instruments: InstrumentBook) -> None:
    """The simulator lives in this process: after a restart its books and prices come back from
    the journal.

    A real broker keeps its own books; the simulator's would otherwise start flat and disagree with
    the rebuilt ledgers. A real market goes on from where it was; the simulator's would otherwise
    reopen at its start prices, and the gap moves every open P&L at once (13.75 ES points across a
    restart once turned a daily lock into a permanent max-loss lock).
    """
    for account in runtime.accounts.values():
        ledger = account.risk.ledger
        positions = [
            (p.contract, p.net, p.average_price or Decimal(0)) for p in ledger.positions.values()
        ]
        demo.exchange.restore_account(account.ref, ledger.balance, positions)
    # Every contract the simulator quoted, held or not: the last mark of each, as journaled. A
    # day's file starts with a snapshot, whose ledgers hold the quotes the accounts had seen.
    quotes: dict[str, tuple[Contract, Decimal, Decimal]] = {}
    for account in runtime.accounts.values():
        for key, quote in account.risk.ledger.quotes.items():
            if quote.bid is not None and quote.ask is not None:
                quotes[key] = (instruments.parse(key), quote.bid, quote.ask)
    for mark in last_marks(runtime.journal, instruments, demo.broker.name).values():
        if mark.bid is not None and mark.ask is not None:
            quotes[mark.contract.key] = (mark.contract, mark.bid, mark.ask)
    for contract, bid, ask in quotes.values():
        demo.exchange.restore_quote(contract, bid, ask)


@dataclass
class DemoWorkspace:
    """The demo as one unit: simulator, runtime, journal and (optionally) the control socket.

    The headless demo and the console both build it here and drive it with `start()` / `stop()`.
    """

    runtime: Runtime
    demo: SimDemo
    journal: Journal
    clock: ScaledClock
    path: Path
    resumed: datetime | None
    control: ControlServer | None
    label: str = "DEMO · simulator"
    is_demo: bool = True
    alert_settings: None = None  # the demo alerts on screen and by sound, never the phone

    async def start(self) -> None:
        """Serve the control socket first (raises AlreadyRunning), then run venue, runtime, strategy."""
        if self.control is not None:
            try:
                await self.control.start()
            except AlreadyRunning:
                close_journal(self.journal)
                raise
        self.demo.exchange.start()
        await self.runtime.start()
        self.demo.strategy.start()

    async def stop(self) -> None:
        """Stop the strategy, the runtime (running flattens finish first), the venue, the socket."""
        await self.demo.strategy.stop()
        await self.runtime.stop()
        await self.demo.exchange.stop()
        if self.control is not None:
            await self.control.close()

    def close(self) -> list[str]:
        """Close the journal; what the trader must hear about records it could not write."""
        return close_journal(self.journal)

    def alerts_at_open(self) -> list[str]:
        return []


type Workspace = DemoWorkspace | ConfiguredWorkspace


def build_demo_workspace(
    *,
    speed: float,
    seed: int,
    journal: Path | None,
    control_path: Path | None,
    new_journal: bool = False,
    latency_ms: float = 0.0,
) -> DemoWorkspace:
    """The demo: three accounts on the simulator, its clock `speed` times real time.

    `journal` None: a fresh day in the user data dir's demo journal (an explicit file resumes).
    `control_path` None: no control socket (the smoke run and tests).
    """
    instruments = load_instruments()
    profiles = load_profiles()
    setups = demo_setups(profiles)
    calendar = calendar_for(setups[0].profile)
    path: Path = journal or default_demo_journal()
    # The default demo starts a new day each time (the last one is moved aside, never deleted,
    # and only once this process holds the journal); an explicit --journal resumes.
    book = open_journal(path, fresh=journal is None or new_journal, private_dir=journal is None)
    resumed = book.last_ts()
    start = resumed if resumed is not None else demo_start(datetime.now(CT).date(), calendar)
    setups = demo_setups(profiles, demo_news(start.astimezone(CT).date()))
    clock = ScaledClock(start, speed=speed)
    demo = build_demo(
        instruments,
        calendar,
        clock,
        accounts={a.account_id: Decimal(50_000) for a in DEMO_ACCOUNTS},
        seed=seed,
        aggression=0.6,
        latency_ms=latency_ms,
    )
    runtime = Runtime([demo.broker], setups, clock=clock, journal=book, instruments=instruments)
    if resumed is not None:
        restore_or_move_aside(runtime, book)
        _restore_sim_books(demo, runtime, instruments)
    stop_strategy_on_relock(runtime, demo.strategy)
    control = None if control_path is None else ControlServer(RuntimeControl(runtime), control_path)
    return DemoWorkspace(runtime, demo, book, clock, path, resumed, control)


def stop_strategy_on_relock(runtime: Runtime, strategy: DemoStrategy) -> None:
    """The demo strategy stops trading an account once its lock had to close a position again.

    A real bot beside propdesk is stopped by the trader's own stop command (a service, a script);
    the demo's bot is stopped here, so the demo shows a lock that protects the account rather than
    one that bleeds it. An unlock lets it trade again.
    """

    def on_notice(notice: Notice) -> None:
        key = getattr(notice, "account", None)
        account = None if key is None else runtime.accounts.get(key)
        if account is None:
            return
        if isinstance(notice, ActionTaken) and notice.action.type is ActionType.FLATTEN:
            status = account.risk.status
            relocked = status.state is GuardState.LOCKED and status.reflattens >= 1
            if relocked and account.ref not in strategy.stopped:
                strategy.stop_trading(account.ref)
                text = (
                    f"the demo strategy kept trading a locked account ({lock_bleed(status)}); "
                    "it was told to stop trading it until an unlock"
                )
                # Said after this notice has reached everyone, not from inside its delivery.
                alert = Alert(notice.ts, Level.WARNING, text, notice.account)
                asyncio.get_running_loop().call_soon(runtime.notices.emit, alert)
        elif isinstance(notice, StateChanged) and notice.new < GuardState.FLATTENING:
            strategy.resume_trading(account.ref)

    runtime.notices.register(on_notice)


async def _run_headless(
    workspace: Workspace, speed: float, run_for: float | None, out: TextIO, err: TextIO
) -> int:
    runtime = workspace.runtime
    runtime.notices.register(Printer(out))
    if isinstance(workspace, DemoWorkspace) and workspace.resumed is not None:
        out.write(
            f"resumed from {workspace.path} at "
            f"{workspace.resumed.astimezone(CT):%Y-%m-%d %H:%M:%S} CT\n"
        )
    if isinstance(workspace, ConfiguredWorkspace):
        for line in opening_alerts(workspace):
            out.write(f"ALERT {line}\n")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await workspace.start()
    except AlreadyRunning as exc:
        err.write(f"propdesk: {exc}\n")
        return 1
    try:
        clock = runtime.clock
        if isinstance(workspace, DemoWorkspace):
            out.write(
                f"propdesk headless demo: {len(runtime.accounts)} accounts on the simulator, clock "
                f"{clock.now().astimezone(CT):%Y-%m-%d %H:%M} CT at {speed:g}x, "
                f"journal {workspace.path}\n"
            )
        else:
            out.write(
                f"propdesk headless: {len(runtime.accounts)} accounts from the settings "
                f"({', '.join(runtime.brokers) or 'no connection'})\n"
            )
        out.flush()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=run_for)
    finally:
        await workspace.stop()
    print_summary(runtime, out)
    for line in workspace.close():
        err.write(f"{line}\n")
    return 0


def _demo_args_problem(args: argparse.Namespace) -> str | None:
    """What is wrong with the simulator's options (the console and headless share them)."""
    if args.speed <= 0:
        return "--speed must be > 0"
    latency = getattr(args, "sim_latency", None)
    if latency is not None and not 0 <= latency <= 60_000:
        return "--sim-latency must be between 0 and 60000 ms"
    return None


def run_headless(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    if (problem := _demo_args_problem(args)) is not None:
        err.write(f"propdesk: {problem}\n")
        return 2
    workspaces = Workspaces.from_args(args)
    try:
        workspace = _headless_workspace(workspaces, demo=args.demo, err=err)
    except JournalError as exc:
        err.write(f"{_journal_text(exc)}\n")
        return 2
    if workspace is None:
        return 2
    return asyncio.run(_run_headless(workspace, args.speed, args.run_for, out, err))


def _journal_text(exc: JournalError) -> str:
    text = str(exc)
    return text if text.startswith("propdesk:") else f"propdesk: {text}"


def _headless_workspace(workspaces: Workspaces, *, demo: bool, err: TextIO) -> Workspace | None:
    """The demo, or the accounts in the settings; None (after saying why) when there are none."""
    if demo:
        return workspaces.demo()
    try:
        config = workspaces.load()
    except ConfigError as exc:
        err.write(f"propdesk: the settings in {workspaces.config_path} are not valid:\n{exc}\n")
        return None
    if config is None or not config.accounts:
        err.write(
            f"propdesk: no accounts are set up in {workspaces.config_path}. Add them in the "
            "console (Settings), or try the simulator: propdesk --headless --demo\n"
        )
        return None
    return workspaces.configured(config)


@dataclass
class Workspaces:
    """The console's two kinds of workspace: the demo, or the accounts in the user's settings.

    The console starts with one and, when the settings are saved, builds the next from here.
    """

    config_path: Path
    profiles: ProfileSet
    secrets: SecretStore
    speed: float
    seed: int
    journal: Path | None
    control_path: Path | None
    new_journal: bool = False  # start a new journal (the old one moved aside), once
    latency_ms: float = 0.0  # the demo broker's delay each way

    @classmethod
    def from_args(cls, args: argparse.Namespace, *, control: bool = True) -> Workspaces:
        return cls(
            config_path=default_config_path(),
            profiles=load_profiles(),
            secrets=SecretStore(),
            speed=args.speed,
            seed=args.seed,
            journal=args.journal,
            control_path=default_socket_path() if control else None,
            new_journal=bool(getattr(args, "new_journal", False)),
            latency_ms=float(getattr(args, "sim_latency", None) or 0.0),
        )

    def load(self) -> Config | None:
        """The saved settings; None on first run. Raises ConfigError naming each bad field."""
        return load_config(self.config_path, self.profiles)

    def demo(self) -> DemoWorkspace:
        return build_demo_workspace(
            speed=self.speed,
            seed=self.seed,
            journal=self.journal,
            control_path=self.control_path,
            new_journal=self._take_new_journal(),
            latency_ms=self.latency_ms,
        )

    def configured(self, config: Config) -> ConfiguredWorkspace:
        return build_workspace(
            config,
            secrets=self.secrets,
            journal=self.journal,
            control_path=self.control_path,
            new_journal=self._take_new_journal(),
        )

    def _take_new_journal(self) -> bool:
        """--new-journal applies to the first workspace only: the next one resumes it."""
        new, self.new_journal = self.new_journal, False
        return new


def parse_size(value: str) -> tuple[int, int]:
    width, sep, height = value.lower().partition("x")
    if not sep or not width.isdigit() or not height.isdigit():
        raise ValueError(f"--size {value!r}: expected WIDTHxHEIGHT, e.g. 1366x768")
    return int(width), int(height)


def choose_workspace(workspaces: Workspaces, *, demo: bool) -> Workspace:
    """The accounts in the settings; the demo on first run (no settings, no account) or on --demo.

    Raises ConfigError when the settings file is invalid: guessing would watch the wrong accounts.
    """
    if demo:
        return workspaces.demo()
    config = workspaces.load()
    if config is None or not config.accounts:
        return workspaces.demo()  # first run: everything visible at once
    return workspaces.configured(config)


def run_console(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """The desktop console on the demo workspace (`--smoke`: offscreen, one frame, exit)."""
    if (problem := _demo_args_problem(args)) is not None:
        err.write(f"propdesk: {problem}\n")
        return 2
    size = None
    if args.size is not None:
        try:
            size = parse_size(args.size)
        except ValueError as exc:
            err.write(f"propdesk: {exc}\n")
            return 2
    try:
        from PySide6.QtCore import QSize

        from propdesk.ui.app import Options, run, startup_error
    except ImportError as exc:
        err.write(
            f"propdesk: the console needs the gui extra (PySide6, pyqtgraph, qasync): {exc}.\n"
            "Install propdesk[gui], or run without a window: propdesk --headless --demo\n"
        )
        return 2
    try:
        until = (
            frozenset(
                GuardState[name.strip().upper()] for name in args.until.split(",") if name.strip()
            )
            if args.until
            else frozenset()
        )
    except KeyError as exc:
        states = ", ".join(s.name for s in GuardState)
        err.write(
            f"propdesk: --until {args.until!r}: unknown state {exc.args[0]} (one of {states})\n"
        )
        return 2
    options = Options(
        smoke=args.smoke,
        run_for=args.run_for,
        until_states=until,
        size=None if size is None else QSize(*size),
        screenshot=args.screenshot,
    )
    if args.smoke:
        # A throwaway journal and no control socket: a smoke run never touches a running propdesk.
        with tempfile.TemporaryDirectory(prefix="propdesk-smoke-") as tmp:
            workspaces = Workspaces.from_args(args, control=False)
            workspaces.journal = args.journal or Path(tmp) / "journal.sqlite"
            return run(workspaces.demo(), options, out=out, err=err, workspaces=workspaces)
    workspaces = Workspaces.from_args(args)
    try:
        workspace = choose_workspace(workspaces, demo=args.demo)
    except ConfigError as exc:
        err.write(f"propdesk: the settings in {workspaces.config_path} are not valid:\n{exc}\n")
        err.write("Fix the file, or start on the demo with: propdesk --demo\n")
        return 2
    except JournalError as exc:
        text = _journal_text(exc)
        err.write(f"{text}\n")
        startup_error("propdesk cannot start", text)
        return 2
    return run(workspace, options, out=out, err=err, workspaces=workspaces)

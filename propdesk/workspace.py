"""The configured workspace: the runtime built from the user's settings (not the demo).

One broker per connection, named by the connection's id (an account is "<connection>:<account id>").
Brokers are made by kind; a kind whose adapter this version does not have is reported, its accounts
are left out, and the console says so in red: nobody must believe an account is watched when it is not.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Protocol

from platformdirs import user_data_dir

from propdesk.brokers.base import AccountRef, Broker
from propdesk.brokers.sim import DEMO_ROOTS, DemoStrategy, SimBroker, SimExchange, front_months
from propdesk.config.model import (
    AccountConfig,
    AlertSettings,
    BrokerKind,
    Config,
    Connection,
    Environment,
    account_profile,
)
from propdesk.config.secrets import NoSecureKeyring, SecretStore
from propdesk.domain.account import calendar_for
from propdesk.domain.calendar import TradingCalendar
from propdesk.domain.clock import Clock
from propdesk.domain.commissions import CommissionBook
from propdesk.domain.firms import ProfileSet
from propdesk.domain.instruments import InstrumentBook
from propdesk.resources import load_commissions, load_instruments, load_profiles
from propdesk.runtime.accounts import AccountSetup, setup_to_json
from propdesk.runtime.clock import SteadyClock
from propdesk.runtime.control import AlreadyRunning
from propdesk.runtime.control_server import ControlServer
from propdesk.runtime.engine import Runtime, RuntimeControl
from propdesk.runtime.journal import Journal
from propdesk.runtime.journal.files import close_journal, open_journal, restore_or_move_aside

log = logging.getLogger(__name__)


class AdapterUnavailable(RuntimeError):
    """This connection cannot be made from its settings (a missing value or secret, a bad URL)."""


@dataclass
class Venue:
    """What one connection brings: propdesk's broker and, for the simulator, the venue and strategy."""

    broker: Broker
    exchange: SimExchange | None = None
    strategy: DemoStrategy | None = None


BrokerFactory = Callable[
    [Connection, list[AccountConfig], SecretStore, InstrumentBook, TradingCalendar, Clock], Venue
]


def _sim_venue(
    connection: Connection,
    accounts: list[AccountConfig],
    _secrets: SecretStore,
    instruments: InstrumentBook,
    calendar: TradingCalendar,
    clock: Clock,
) -> Venue:
    exchange = SimExchange(instruments, calendar, clock, name=connection.id)
    refs = []
    profiles = load_profiles()
    for account in accounts:
        balance = profiles.get(account.profile).start_balance
        refs.append(exchange.open_account(account.account_id, balance, account.name))
    strategy = None
    if connection.demo_strategy and refs:
        strategy = DemoStrategy(
            SimBroker(exchange, accounts=tuple(refs)),
            tuple(refs),
            front_months(instruments, DEMO_ROOTS, clock.now()),
            clock,
        )
    return Venue(SimBroker(exchange), exchange, strategy)


class AdapterFromSettings(Protocol):
    """Each real broker package's one entry point (plain types: brokers know nothing of settings)."""

    def __call__(
        self,
        values: Mapping[str, str],
        *,
        environment: str,
        server: str,
        secret: Callable[[str], str | None],
        accounts: Sequence[str],
        instruments: InstrumentBook,
        clock: Clock,
        name: str,
    ) -> Broker: ...


def _adapter(package: str) -> BrokerFactory:
    """The factory of a real broker's package, imported only when a connection uses it (their
    libraries are heavy, and async-rithmic sets up logging of its own when imported)."""

    def factory(
        connection: Connection,
        accounts: list[AccountConfig],
        secrets: SecretStore,
        instruments: InstrumentBook,
        _calendar: TradingCalendar,
        clock: Clock,
    ) -> Venue:
        from_settings: AdapterFromSettings = importlib.import_module(package).from_settings
        try:
            broker = from_settings(
                connection.values,
                environment=connection.environment.value,
                server=connection.server,
                secret=lambda key: secrets.get(connection.id, key),
                accounts=[a.account_id for a in accounts],
                instruments=instruments,
                clock=clock,
                name=connection.id,
            )
        except ValueError as exc:  # a missing user name or secret, an unknown firm, a bad URL
            raise AdapterUnavailable(str(exc)) from exc
        return Venue(broker)

    return factory


FACTORIES: dict[BrokerKind, BrokerFactory] = {
    BrokerKind.SIM: _sim_venue,
    BrokerKind.TRADOVATE: _adapter("propdesk.brokers.tradovate"),
    BrokerKind.PROJECTX: _adapter("propdesk.brokers.projectx"),
    BrokerKind.RITHMIC: _adapter("propdesk.brokers.rithmic"),
}


def default_journal_path() -> Path:
    return Path(user_data_dir("propdesk", appauthor=False)) / "journal.sqlite"


@dataclass
class ConfiguredWorkspace:
    runtime: Runtime
    journal: Journal
    venues: list[Venue]
    control: ControlServer | None
    problems: list[str] = field(default_factory=list)  # connections that could not be built
    changed_setups: list[str] = field(default_factory=list)  # accounts still on their old setup
    label: str = "LIVE"
    is_demo: bool = False
    alert_settings: AlertSettings = field(default_factory=AlertSettings)

    async def start(self) -> None:
        if self.control is not None:
            try:
                await self.control.start()
            except AlreadyRunning:
                close_journal(self.journal)
                raise
        for venue in self.venues:
            if venue.exchange is not None:
                venue.exchange.start()
        await self.runtime.start()
        for venue in self.venues:
            if venue.strategy is not None:
                venue.strategy.start()

    async def stop(self) -> None:
        for venue in self.venues:
            if venue.strategy is not None:
                await venue.strategy.stop()
        await self.runtime.stop()
        for venue in self.venues:
            if venue.exchange is not None:
                await venue.exchange.stop()
        if self.control is not None:
            await self.control.close()

    def close(self) -> list[str]:
        """Close the journal; what the trader must hear about records it could not write."""
        return close_journal(self.journal)

    def alerts_at_open(self) -> list[str]:
        return opening_alerts(self)


def account_setups(
    config: Config, profiles: ProfileSet, today: datetime, commissions: CommissionBook
) -> dict[str, list[AccountSetup]]:
    """Each connection's account setups, with the profile overrides and the user's protocol applied.

    Every account gets its firm's commission schedule as its platform charges it: fills the
    broker reports without a fee are charged from it (a missing root is alerted).
    """
    protocol = config.protocol()
    platforms = {c.id: c.broker.value for c in config.connections}
    setups: dict[str, list[AccountSetup]] = {c.id: [] for c in config.connections}
    for account in config.accounts:
        profile = account_profile(account, profiles, today.date())
        setups[account.connection].append(
            AccountSetup(
                AccountRef(account.connection, account.account_id),
                profile,
                protocol,
                cluster=account.cluster or None,
                name=account.name or account.key,
                commissions=commissions.table(profile.commissions, platforms[account.connection]),
            )
        )
    return setups


def build_workspace(
    config: Config,
    *,
    secrets: SecretStore,
    journal: Path | None = None,
    control_path: Path | None = None,
    clock: Clock | None = None,
    factories: dict[BrokerKind, BrokerFactory] | None = None,
    new_journal: bool = False,
) -> ConfiguredWorkspace:
    instruments = load_instruments()
    profiles = load_profiles()
    clock = clock if clock is not None else SteadyClock()
    factories = factories if factories is not None else FACTORIES
    setups_by_connection = account_setups(config, profiles, clock.now(), load_commissions())
    venues: list[Venue] = []
    setups: list[AccountSetup] = []
    problems: list[str] = []
    for connection in config.connections:
        accounts = [a for a in config.accounts if a.connection == connection.id]
        connection_setups = setups_by_connection[connection.id]
        # The venue's sessions (the exchange's calendar); each account's own day boundary is its own.
        calendar = (
            calendar_for(connection_setups[0].profile) if connection_setups else TradingCalendar()
        )
        try:
            venue = factories[connection.broker](
                connection, accounts, secrets, instruments, calendar, clock
            )
        except (AdapterUnavailable, NoSecureKeyring) as exc:
            problems.append(f"{connection.id} ({connection.spec.title}): {exc}")
            continue
        venues.append(venue)
        setups.extend(connection_setups)
    path = journal or default_journal_path()
    book = open_journal(path, fresh=new_journal, private_dir=journal is None)
    runtime = Runtime(
        [v.broker for v in venues], setups, clock=clock, journal=book, instruments=instruments
    )
    restore_or_move_aside(runtime, book)
    changed = [
        key
        for setup in setups
        if (key := str(setup.ref)) in runtime.accounts
        and setup_to_json(runtime.accounts[key].setup) != setup_to_json(setup)
    ]
    control = None if control_path is None else ControlServer(RuntimeControl(runtime), control_path)
    live = any(
        c.environment is Environment.LIVE and c.broker is not BrokerKind.SIM
        for c in config.connections
    )
    label = "LIVE" if live else "SETTINGS · " + ", ".join(c.id for c in config.connections)
    return ConfiguredWorkspace(
        runtime, book, venues, control, problems, changed, label, alert_settings=config.alerts
    )


def opening_alerts(workspace: ConfiguredWorkspace) -> list[str]:
    """What the console must say in red the moment it opens."""
    lines = [f"NOT WATCHED — {problem}" for problem in workspace.problems]
    for key in workspace.changed_setups:
        lines.append(
            f"{key}: your settings changed, but this account keeps the setup it started with in the "
            "journal (its floors and locks stay consistent); new settings apply with a new journal."
        )
    return lines

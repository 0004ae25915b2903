"""The user's settings as data: connections, accounts, buffers, the disconnect policy, alert channels.

What the settings file holds and what a valid one is. No secret is ever part of it: passwords and API
keys live in the OS keyring (`secrets.py`), named by connection id. Validation reports every problem
with the field it belongs to (`Issue.field`, e.g. "accounts[1].profile"), so the settings window can
show each message beside its field.

Reading and checking a settings file's data is parse.py's; this module is the data and its file form.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from propdesk.domain.firm_overrides import apply_overrides
from propdesk.domain.firms import FirmProfile, ProfileSet
from propdesk.domain.protocol import Protocol

CONFIG_VERSION = 1


class BrokerKind(StrEnum):
    SIM = "sim"
    TRADOVATE = "tradovate"
    PROJECTX = "projectx"
    RITHMIC = "rithmic"


class Environment(StrEnum):
    DEMO = "demo"
    LIVE = "live"


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One field of a connection form: its config key, its label, and whether the user must fill it."""

    key: str
    label: str
    required: bool = True
    hint: str = ""


@dataclass(frozen=True, slots=True)
class BrokerSpec:
    """What a connection of one broker kind needs: plain fields (in the config) and secrets (keyring)."""

    kind: BrokerKind
    title: str
    fields: tuple[FieldSpec, ...]
    secrets: tuple[FieldSpec, ...]
    note: str = ""


BROKERS: dict[BrokerKind, BrokerSpec] = {
    BrokerKind.SIM: BrokerSpec(
        BrokerKind.SIM,
        "Simulator (paper, built in)",
        (),
        (),
        "Simulated accounts inside propdesk: practise the console with no broker and no money.",
    ),
    BrokerKind.TRADOVATE: BrokerSpec(
        BrokerKind.TRADOVATE,
        "Tradovate",
        (
            FieldSpec("username", "User name"),
            FieldSpec("app_id", "App ID", hint="from the API key page, e.g. propdesk"),
            FieldSpec("cid", "CID", hint="the API key's client id (a number)"),
        ),
        (FieldSpec("password", "Password"), FieldSpec("sec", "API secret")),
    ),
    BrokerKind.PROJECTX: BrokerSpec(
        BrokerKind.PROJECTX,
        "ProjectX (TopstepX and other firms)",
        (
            FieldSpec("username", "User name"),
            FieldSpec("firm", "Firm gateway", hint="e.g. topstepx"),
        ),
        (FieldSpec("api_key", "API key"),),
    ),
    BrokerKind.RITHMIC: BrokerSpec(
        BrokerKind.RITHMIC,
        "Rithmic",
        (
            FieldSpec("username", "User name"),
            FieldSpec("system", "System name", hint="e.g. Rithmic Paper Trading, TopstepTrader"),
            FieldSpec(
                "gateway",
                "Gateway URL",
                required=False,
                hint="wss://host:443 from your firm (empty: Rithmic's test gateway, demo only)",
            ),
        ),
        (FieldSpec("password", "Password"),),
    ),
}


@dataclass(frozen=True, slots=True)
class Issue:
    """One problem with the settings: the field it belongs to and what is wrong, in plain words."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class ConfigError(ValueError):
    def __init__(self, issues: list[Issue]) -> None:
        self.issues = tuple(issues)
        super().__init__("\n".join(str(i) for i in issues))


@dataclass(frozen=True, slots=True)
class Connection:
    id: str
    broker: BrokerKind
    environment: Environment = Environment.DEMO
    values: dict[str, str] = field(default_factory=dict)  # the broker kind's plain fields
    server: str = ""  # a base URL that replaces the broker's own (a local test server)
    demo_strategy: bool = False  # simulator only: a strategy trades its accounts

    @property
    def spec(self) -> BrokerSpec:
        return BROKERS[self.broker]

    @property
    def username(self) -> str:
        return self.values.get("username", "")


@dataclass(frozen=True, slots=True)
class AccountConfig:
    connection: str
    account_id: str
    profile: str
    name: str = ""
    cluster: str = ""
    overrides: dict[str, str] = field(default_factory=dict)  # dotted path → value (apply_overrides)

    @property
    def key(self) -> str:
        return f"{self.connection}:{self.account_id}"


@dataclass(frozen=True, slots=True)
class Buffers:
    """The user's own levels inside the firm's (DESIGN.md: the seed article's practice as defaults)."""

    warn_fraction: Decimal = Decimal("0.50")
    reduce_fraction: Decimal = Decimal("0.65")
    stop_fraction: Decimal = Decimal("0.75")
    cutoff_buffer_minutes: int = 30
    size_cap_offset: int = 1
    # Holds for the rest of the day once you unlock your own stop; a fraction of the firm's limit.
    last_line_fraction: Decimal = Decimal("0.90")


@dataclass(frozen=True, slots=True)
class DisconnectPolicy:
    """A link down longer than this means flatten and lock on reconnect; 0 turns it off."""

    flatten_after_seconds: int = 10


@dataclass(frozen=True, slots=True)
class AlertSettings:
    desktop: bool = True
    sound: bool = True
    phone_url: str = ""  # an ntfy-style topic URL; empty: no phone alerts
    phone_min_level: str = "warning"


@dataclass(frozen=True, slots=True)
class Config:
    connections: tuple[Connection, ...] = ()
    accounts: tuple[AccountConfig, ...] = ()
    buffers: Buffers = Buffers()
    disconnect: DisconnectPolicy = DisconnectPolicy()
    alerts: AlertSettings = AlertSettings()

    def connection(self, connection_id: str) -> Connection | None:
        return next((c for c in self.connections if c.id == connection_id), None)

    def protocol(self) -> Protocol:
        """The Protocol every account runs with, from the buffers and the disconnect policy."""
        seconds = self.disconnect.flatten_after_seconds
        return Protocol(
            warn_fraction=self.buffers.warn_fraction,
            reduce_fraction=self.buffers.reduce_fraction,
            stop_fraction=self.buffers.stop_fraction,
            last_line_fraction=self.buffers.last_line_fraction,
            size_cap_offset=self.buffers.size_cap_offset,
            cutoff_buffer=timedelta(minutes=self.buffers.cutoff_buffer_minutes),
            connection_down_limit=timedelta(seconds=seconds) if seconds > 0 else None,
        )


PHONE_LEVELS = ("info", "warning", "critical")


def config_to_data(config: Config) -> dict[str, Any]:
    """The settings file's data for `config` (the inverse of parse_config)."""
    connections = []
    for c in config.connections:
        row: dict[str, Any] = {
            "id": c.id,
            "broker": c.broker.value,
            "environment": c.environment.value,
        }
        row.update(c.values)
        if c.server:
            row["server"] = c.server
        if c.broker is BrokerKind.SIM:
            row["demo_strategy"] = c.demo_strategy
        connections.append(row)
    accounts = []
    for a in config.accounts:
        row = {"connection": a.connection, "account_id": a.account_id, "profile": a.profile}
        if a.name:
            row["name"] = a.name
        if a.cluster:
            row["cluster"] = a.cluster
        if a.overrides:
            row["overrides"] = dict(a.overrides)
        accounts.append(row)
    b, d, al = config.buffers, config.disconnect, config.alerts
    return {
        "version": CONFIG_VERSION,
        "buffers": {
            "warn_fraction": str(b.warn_fraction),
            "reduce_fraction": str(b.reduce_fraction),
            "stop_fraction": str(b.stop_fraction),
            "cutoff_buffer_minutes": b.cutoff_buffer_minutes,
            "size_cap_offset": b.size_cap_offset,
            "last_line_fraction": str(b.last_line_fraction),
        },
        "disconnect": {"flatten_after_seconds": d.flatten_after_seconds},
        "alerts": {
            "desktop": al.desktop,
            "sound": al.sound,
            "phone_url": al.phone_url,
            "phone_min_level": al.phone_min_level,
        },
        "connections": connections,
        "accounts": accounts,
    }


def account_profile(account: AccountConfig, profiles: ProfileSet, today: date) -> FirmProfile:
    """The account's firm profile with its overrides applied (labelled as the user's numbers)."""
    profile = profiles.get(account.profile)
    if not account.overrides:
        return profile
    return apply_overrides(profile, account.overrides, checked=today)

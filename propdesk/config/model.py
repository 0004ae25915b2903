"""The user's settings as data: connections, accounts, buffers, the disconnect policy, alert channels.

What the settings file holds and what a valid one is. No secret is ever part of it: passwords and API
keys live in the OS keyring (`secrets.py`), named by connection id. Validation reports every problem
with the field it belongs to (`Issue.field`, e.g. "accounts[1].profile"), so the settings window can
show each message beside its field.

The file is read strictly, because a default silently standing in for a mistyped key watches accounts
with levels the trader never chose: a key or section propdesk does not know is an error naming the
closest one it does, a key that looks like a secret is refused wherever it is (its value never shown),
and NaN, infinity, a file nested deeper than settings ever are, or a version this propdesk does not
read are errors too.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from propdesk.domain.firm_errors import ProfileError
from propdesk.domain.firm_overrides import apply_overrides
from propdesk.domain.firms import FirmProfile, ProfileSet
from propdesk.domain.protocol import Protocol

CONFIG_VERSION = 1
SECRETS_GO_TO_THE_KEYRING = "secrets go to the keyring: Settings → Connections"
# Tables and lists inside each other. The settings' deepest place is an override path
# (accounts → [n] → overrides → max_loss → amount → value): a file nested deeper is not settings.
MAX_DEPTH = 16
NESTED_TOO_DEEP = (
    f"tables or lists nested too deep (propdesk's settings are at most {MAX_DEPTH} deep): "
    "this file is damaged or is not propdesk's settings"
)
_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
_URL = re.compile(r"^(https?|wss?)://[^\s/]+(/\S*)?$")


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
            size_cap_offset=self.buffers.size_cap_offset,
            cutoff_buffer=timedelta(minutes=self.buffers.cutoff_buffer_minutes),
            connection_down_limit=timedelta(seconds=seconds) if seconds > 0 else None,
        )


PHONE_LEVELS = ("info", "warning", "critical")
SECTIONS = ("version", "connections", "accounts", "buffers", "disconnect", "alerts")
ACCOUNT_KEYS = ("connection", "account_id", "profile", "name", "cluster", "overrides")


def connection_keys(kind: BrokerKind) -> tuple[str, ...]:
    """The keys a connection of `kind` has in the settings file (its secrets are never among them)."""
    own = ("demo_strategy",) if kind is BrokerKind.SIM else ("server",)
    return ("id", "broker", "environment", *own, *(f.key for f in BROKERS[kind].fields))


def _section_keys(section: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(section))


# A key naming a secret, however it is spelt: "api_key", "API-Key", "apiKey", "private key",
# "access_token", "client_secret", Tradovate's "sec". Whole words, or these anywhere in the key.
_SECRET_WORDS = frozenset({"pass", "pwd", "sec", "key"})
_SECRET_PARTS = (
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "apikey",
    "privatekey",
    "accesskey",
    "credential",
)


def is_secret_key(key: str) -> bool:
    """True when a settings key looks like it holds a password, an API key or a token."""
    words = [word for word in re.split(r"[^a-z0-9]+", key.lower()) if word]
    joined = "".join(words)
    return any(w in _SECRET_WORDS for w in words) or any(p in joined for p in _SECRET_PARTS)


# -- parsing (plain TOML data → Config) and validation -------------------------------------------------
def _at(where: str, key: object) -> str:
    return f"{where}.{key}" if where else str(key)


def _children(value: object, where: str) -> Iterator[tuple[str, str | None, object]]:
    """(path, key, child) for each entry of a table or a list; key is None for a list item."""
    if isinstance(value, Mapping):
        for key, child in value.items():
            yield _at(where, key), str(key), child
    elif isinstance(value, list | tuple):
        for i, child in enumerate(value):
            yield f"{where}[{i}]", None, child


def _too_deep(data: Mapping[str, Any]) -> Issue | None:
    """The first table or list nested deeper than MAX_DEPTH, as an Issue.

    Walked with a stack, not by recursion, and never below the limit: a dotted key of thousands of
    parts reads without recursion, so nothing here may recurse on it either.
    """
    stack: list[tuple[str, object, int]] = [("", data, 0)]
    while stack:
        where, value, depth = stack.pop()
        if depth > MAX_DEPTH:
            return Issue(where, NESTED_TOO_DEEP)
        for path, _, child in _children(value, where):
            if isinstance(child, Mapping | list | tuple):
                stack.append((path, child, depth + 1))
    return None


def _secret_issues(value: object, where: str, issues: list[Issue]) -> None:
    """An Issue for each secret-looking key at any depth; the value it holds is never shown."""
    for path, key, child in _children(value, where):
        if key is not None and is_secret_key(key):
            issues.append(
                Issue(
                    path,
                    f"looks like a password or key: take it out of this file; "
                    f"{SECRETS_GO_TO_THE_KEYRING}",
                )
            )
            continue
        _secret_issues(child, path, issues)


def _unknown_keys(
    raw: Mapping[str, Any],
    known: Sequence[str],
    where: str,
    issues: list[Issue],
    owner: str = "",
) -> None:
    """An Issue for each key of `raw` that propdesk does not know, naming the closest one it does."""
    for key, value in raw.items():
        if key in known or is_secret_key(key):
            continue  # a secret has its own message
        is_table = isinstance(value, Mapping) or (
            isinstance(value, list) and bool(value) and all(isinstance(v, Mapping) for v in value)
        )
        close = difflib.get_close_matches(key.lower(), known, n=1, cutoff=0.6)
        hint = f"did you mean {close[0]!r}?" if close else f"known: {', '.join(known)}"
        what = "section" if is_table else "key"
        issues.append(Issue(_at(where, key), f"unknown {what}{owner}; {hint}"))


def _version_issue(data: Mapping[str, Any]) -> Issue | None:
    """What is wrong with the file's `version`, saying what the file has and what is read."""
    version = data.get("version", CONFIG_VERSION)
    reads = f"this propdesk reads version {CONFIG_VERSION}"
    if type(version) is int:  # not `isinstance`: true is not version 1
        if version == CONFIG_VERSION:
            return None
        newer = " (a newer propdesk wrote it? update propdesk)" if version > CONFIG_VERSION else ""
        return Issue("version", f"this file is version {version}; {reads} only{newer}")
    if isinstance(version, str):
        shown = version if len(version) <= 20 else f"{version[:19]}…"
        return Issue(
            "version",
            f'the file says version "{shown}" (text); {reads}: write version = {CONFIG_VERSION}, '
            "without quotes",
        )
    if isinstance(version, bool):
        shown = str(version).lower()
    elif isinstance(version, float):
        shown = repr(version)
    elif isinstance(version, Mapping):
        shown = "a table"
    else:
        shown = "a list" if isinstance(version, list) else "a date or a time"
    return Issue(
        "version",
        f"the file says version {shown}, not a whole number; {reads}: "
        f"write version = {CONFIG_VERSION}",
    )


def _text(data: dict[str, Any], key: str, where: str, issues: list[Issue]) -> str:
    value = data.get(key, "")
    if value is None:
        return ""
    if not isinstance(value, str):
        issues.append(Issue(f"{where}.{key}", "must be text"))
        return ""
    return value.strip()


def _fraction(raw: object, where: str, issues: list[Issue], default: Decimal) -> Decimal:
    if raw is None:
        return default
    try:
        value = Decimal(str(raw).strip().removesuffix("%"))
    except InvalidOperation:
        value = Decimal("NaN")
    if not value.is_finite():  # NaN cannot even be compared, and ∞ is no share of a limit
        issues.append(Issue(where, f"{raw!r} is not a number"))
        return default
    if isinstance(raw, str) and raw.strip().endswith("%"):
        value /= 100
    if not Decimal(0) < value < Decimal(1):
        issues.append(Issue(where, f"must be between 0 and 1 (a share of the limit), not {raw}"))
        return default
    return value


def _whole(raw: object, where: str, issues: list[Issue], default: int, low: int, high: int) -> int:
    if raw is None:
        return default
    try:
        value = int(str(raw).strip())
    except ValueError:
        issues.append(Issue(where, f"{raw!r} is not a whole number"))
        return default
    if not low <= value <= high:
        issues.append(Issue(where, f"must be from {low} to {high}, not {value}"))
        return default
    return value


def _flag(raw: object, where: str, issues: list[Issue], default: bool) -> bool:
    if raw is None:
        return default
    if not isinstance(raw, bool):
        issues.append(Issue(where, "must be true or false"))
        return default
    return raw


def _table(data: dict[str, Any], key: str, issues: list[Issue]) -> dict[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        issues.append(Issue(key, "must be a table"))
        return {}
    return value


def _section(data: dict[str, Any], key: str, section: type, issues: list[Issue]) -> dict[str, Any]:
    """The table `key` of the file, each of its keys one of the fields of `section`."""
    table = _table(data, key, issues)
    _unknown_keys(table, _section_keys(section), key, issues)
    return table


def _rows(data: dict[str, Any], key: str, issues: list[Issue]) -> list[dict[str, Any]]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        issues.append(Issue(key, f"must be a list of [[{key}]] tables"))
        return []
    return value


def _connection(raw: dict[str, Any], where: str, issues: list[Issue]) -> Connection | None:
    before = len(issues)
    cid = _text(raw, "id", where, issues)
    if not cid:
        issues.append(
            Issue(f"{where}.id", "a name is required (lower case letters, digits, - or _)")
        )
    elif not _ID.match(cid):
        issues.append(
            Issue(f"{where}.id", f"{cid!r}: use lower case letters, digits, - or _ (40 at most)")
        )
    kind_text = _text(raw, "broker", where, issues)
    try:
        kind = BrokerKind(kind_text)
    except ValueError:
        known = ", ".join(k.value for k in BrokerKind)
        issues.append(
            Issue(f"{where}.broker", f"{kind_text!r} is not a broker propdesk knows ({known})")
        )
        return None
    env_text = _text(raw, "environment", where, issues) or Environment.DEMO.value
    try:
        environment = Environment(env_text)
    except ValueError:
        issues.append(Issue(f"{where}.environment", f"{env_text!r}: must be demo or live"))
        environment = Environment.DEMO
    spec = BROKERS[kind]
    owner = f" for a {spec.title.split(' (')[0]} connection"
    _unknown_keys(raw, connection_keys(kind), where, issues, owner)
    values: dict[str, str] = {}
    for f in spec.fields:
        value = _text(raw, f.key, where, issues)
        if f.required and not value:
            issues.append(Issue(f"{where}.{f.key}", f"{f.label} is required for {spec.title}"))
        if value:
            values[f.key] = value
    if (
        kind is BrokerKind.TRADOVATE
        and values.get("cid", "").strip()
        and not values["cid"].isdigit()
    ):
        issues.append(Issue(f"{where}.cid", "the CID is a number"))
    server = _text(raw, "server", where, issues)
    if server and not _URL.match(server):
        issues.append(Issue(f"{where}.server", f"{server!r} is not a URL (https://host/path)"))
    strategy = _flag(raw.get("demo_strategy"), f"{where}.demo_strategy", issues, False)
    if len(issues) != before:
        return None
    return Connection(cid, kind, environment, values, server, strategy)


def _override_paths(
    table: Mapping[str, Any], prefix: str, where: str, out: dict[str, str], issues: list[Issue]
) -> None:
    """The overrides as dotted path → value, into `out`.

    `max_loss.amount = 2500` written without quotes is a nested table in TOML: its path is the
    same as the quoted `"max_loss.amount" = "2500"` the settings window writes. A secret-looking
    key is left out (it is reported as a secret, and its value must reach no message).
    """
    for key, value in table.items():
        path = _at(prefix, key)
        if is_secret_key(key):
            continue
        if not isinstance(value, Mapping):
            out[path] = str(value)
        elif not value:
            issues.append(
                Issue(f"{where}.{path}", "empty: give a value, e.g. max_loss.amount = 2500")
            )
        else:
            _override_paths(value, path, where, out, issues)


def _account(
    raw: dict[str, Any],
    where: str,
    issues: list[Issue],
    connections: dict[str, Connection],
    profiles: ProfileSet,
) -> AccountConfig | None:
    before = len(issues)
    _unknown_keys(raw, ACCOUNT_KEYS, where, issues)
    connection = _text(raw, "connection", where, issues)
    if not connection:
        issues.append(Issue(f"{where}.connection", "choose the connection this account is on"))
    elif connection not in connections:
        issues.append(Issue(f"{where}.connection", f"no connection is named {connection!r}"))
    account_id = _text(raw, "account_id", where, issues)
    if not account_id:
        issues.append(Issue(f"{where}.account_id", "the broker's account id is required"))
    profile = _text(raw, "profile", where, issues)
    if not profile:
        issues.append(Issue(f"{where}.profile", "choose the firm profile this account follows"))
    elif profile not in profiles:
        issues.append(Issue(f"{where}.profile", f"no firm profile is named {profile!r}"))
    overrides_raw = raw.get("overrides", {})
    overrides: dict[str, str] = {}
    if not isinstance(overrides_raw, dict):
        issues.append(Issue(f"{where}.overrides", 'must be a table of "dotted.path" = "value"'))
    else:
        _override_paths(overrides_raw, "", f"{where}.overrides", overrides, issues)
    if overrides and profile in profiles:
        try:
            apply_overrides(profiles.get(profile), overrides, checked=datetime.now(UTC).date())
        except ProfileError as exc:
            for problem in exc.problems:
                issues.append(Issue(f"{where}.overrides.{problem.path}", problem.message))
    if len(issues) != before:
        return None
    return AccountConfig(
        connection,
        account_id,
        profile,
        _text(raw, "name", where, issues),
        _text(raw, "cluster", where, issues),
        overrides,
    )


def parse_config(data: dict[str, Any], profiles: ProfileSet) -> Config:
    """A Config from the settings file's data; raises ConfigError listing every problem by field."""
    deep = _too_deep(data)
    if deep is not None:
        raise ConfigError([deep])  # the other checks would only describe the damage
    issues: list[Issue] = []
    _secret_issues(data, "", issues)
    version = _version_issue(data)
    if version is not None:
        issues.append(version)
    _unknown_keys(data, SECTIONS, "", issues)
    connections: dict[str, Connection] = {}
    for i, raw in enumerate(_rows(data, "connections", issues)):
        where = f"connections[{i}]"
        connection = _connection(raw, where, issues)
        if connection is None:
            continue
        if connection.id in connections:
            issues.append(Issue(f"{where}.id", f"{connection.id!r} is used by another connection"))
            continue
        connections[connection.id] = connection
    accounts: list[AccountConfig] = []
    seen: set[str] = set()
    for i, raw in enumerate(_rows(data, "accounts", issues)):
        where = f"accounts[{i}]"
        account = _account(raw, where, issues, connections, profiles)
        if account is None:
            continue
        if account.key in seen:
            issues.append(
                Issue(
                    f"{where}.account_id",
                    f"{account.account_id!r} is already set up on that connection",
                )
            )
            continue
        seen.add(account.key)
        accounts.append(account)

    b = _section(data, "buffers", Buffers, issues)
    defaults = Buffers()
    buffers = Buffers(
        _fraction(b.get("warn_fraction"), "buffers.warn_fraction", issues, defaults.warn_fraction),
        _fraction(
            b.get("reduce_fraction"), "buffers.reduce_fraction", issues, defaults.reduce_fraction
        ),
        _fraction(b.get("stop_fraction"), "buffers.stop_fraction", issues, defaults.stop_fraction),
        _whole(b.get("cutoff_buffer_minutes"), "buffers.cutoff_buffer_minutes", issues, 30, 0, 240),
        _whole(b.get("size_cap_offset"), "buffers.size_cap_offset", issues, 1, 0, 50),
    )
    if not buffers.warn_fraction < buffers.reduce_fraction < buffers.stop_fraction:
        issues.append(
            Issue(
                "buffers.stop_fraction",
                "warn < reduce-only < stop: each level must be above the last",
            )
        )
    d = _section(data, "disconnect", DisconnectPolicy, issues)
    disconnect = DisconnectPolicy(
        _whole(
            d.get("flatten_after_seconds"), "disconnect.flatten_after_seconds", issues, 10, 0, 3600
        )
    )
    a = _section(data, "alerts", AlertSettings, issues)
    phone_url = _text(a, "phone_url", "alerts", issues)
    if phone_url and not phone_url.startswith(("https://", "http://")):
        issues.append(Issue("alerts.phone_url", f"{phone_url!r} is not an http(s) URL"))
    level = _text(a, "phone_min_level", "alerts", issues) or "warning"
    if level not in PHONE_LEVELS:
        issues.append(
            Issue("alerts.phone_min_level", f"{level!r}: one of {', '.join(PHONE_LEVELS)}")
        )
    alerts = AlertSettings(
        _flag(a.get("desktop"), "alerts.desktop", issues, True),
        _flag(a.get("sound"), "alerts.sound", issues, True),
        phone_url,
        level,
    )
    if issues:
        raise ConfigError(issues)
    return Config(tuple(connections.values()), tuple(accounts), buffers, disconnect, alerts)


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

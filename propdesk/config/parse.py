"""Reading the settings file's data into a Config, and every problem with it, named by its field.

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
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from propdesk.config.model import (
    BROKERS,
    CONFIG_VERSION,
    PHONE_LEVELS,
    AccountConfig,
    AlertSettings,
    BrokerKind,
    Buffers,
    Config,
    ConfigError,
    Connection,
    DisconnectPolicy,
    Environment,
    Issue,
)
from propdesk.domain.firm_errors import ProfileError
from propdesk.domain.firm_overrides import apply_overrides
from propdesk.domain.firms import ProfileSet

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
        _fraction(
            b.get("last_line_fraction"),
            "buffers.last_line_fraction",
            issues,
            defaults.last_line_fraction,
        ),
    )
    if not buffers.warn_fraction < buffers.reduce_fraction < buffers.stop_fraction:
        issues.append(
            Issue(
                "buffers.stop_fraction",
                "warn < reduce-only < stop: each level must be above the last",
            )
        )
    elif not buffers.stop_fraction < buffers.last_line_fraction < 1:
        issues.append(
            Issue(
                "buffers.last_line_fraction",
                "the last line after an unlock sits between your stop and the firm's limit "
                "(above the stop, below 100%)",
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

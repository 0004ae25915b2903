"""Firm profiles: each prop firm's rules as validated data, every number with its source and date.

Firm rules change often and sources disagree (research/prop-firm-rules.md), so no rule lives in
code: a profile is TOML text under resources/firms/, validated here, and any value can be overridden
per account (firm_overrides.py). Overriding a sourced number re-labels it "user override" so nobody
mistakes a trader's setting for the firm's rule. What is wrong with a profile is worded by
firm_errors.py, whose public names are importable from here too.

Pure: this module parses text it is given and never reads profile files itself (the caller
does); time-zone names are checked against the tz database through zoneinfo.
"""

import re
import tomllib
from collections.abc import Iterable, Iterator, Mapping
from datetime import date, time
from decimal import Decimal, InvalidOperation
from itertools import pairwise
from typing import Annotated, Any, Final, Literal, Self, overload
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from propdesk.domain.firm_errors import (
    Problem,
    ProfileError,
    _fail,
    _problems_from,
    _report,
    _toml_problem,
)

__all__ = [
    "USER_OVERRIDE",
    "AutomationPolicy",
    "DailyLossRule",
    "DayBoundary",
    "FirmProfile",
    "FlatBy",
    "HoldTimeRule",
    "MaxLossRule",
    "NewsPolicy",
    "Problem",
    "ProfileError",
    "ProfileSet",
    "ScalingPlanRule",
    "ScalingStep",
    "SizeRule",
    "Sourced",
    "parse_profile",
]

USER_OVERRIDE: Final = "user override"
"""The `source` of a value a trader set for one account; needs no entry in `[sources]`."""


# --- scalar types -------------------------------------------------------------------------------


class _TomlFloat(Decimal):
    """A number that was written as a TOML float, kept exactly as written.

    tomllib hands `parse_float` the literal text, so fractions stay exact and money fields can still
    tell that the author wrote a float and refuse it.
    """


def _to_money(value: object) -> Decimal:
    if isinstance(value, bool):
        _fail("money_type", "money must be a quoted string or an integer, not a boolean")
    # A float has already lost the written digits (0.1 is 0.1000000000000000055…): refuse it.
    if isinstance(value, float | _TomlFloat):
        _fail(
            "money_float",
            f"money must be a quoted string or an integer, not a float ({value}): floats are "
            f'inexact; write "{value}"',
        )
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, Decimal):
        amount = value
    elif isinstance(value, str):
        try:
            amount = Decimal(value.strip())
        except InvalidOperation:
            _fail("money_parse", f'not an amount: {value!r} (write digits, e.g. "2000")')
    else:
        _fail("money_type", "money must be a quoted string or an integer")
    if not amount.is_finite():
        _fail("money_parse", f"not a finite amount: {str(value)!r}")
    return amount


def _to_fraction(value: object) -> Decimal:
    if isinstance(value, bool):
        _fail("fraction_type", "a fraction must be a number such as 0.5")
    if isinstance(value, _TomlFloat):
        fraction = Decimal(value)  # exact: the digits as written in the file
    elif isinstance(value, float):
        # Not money: the shortest repr round-trips, so 0.4 means 0.4 here.
        fraction = Decimal(repr(value))
    elif isinstance(value, int | Decimal):
        fraction = Decimal(value)
    elif isinstance(value, str):
        try:
            fraction = Decimal(value.strip())
        except InvalidOperation:
            _fail("fraction_parse", f"not a number: {value!r}")
    else:
        _fail("fraction_type", "a fraction must be a number such as 0.5")
    if not fraction.is_finite():
        _fail("fraction_parse", f"not a finite number: {str(value)!r}")
    return fraction


def _whole(value: object) -> object:
    # pydantic's lax int would take 5.0 or Decimal("5"); a count written that way is a typo.
    if isinstance(value, bool | float | Decimal):
        _fail("whole_number", f"must be a whole number (got {value})")
    return value


def _naive_time(value: time) -> time:
    if value.tzinfo is not None:
        _fail("time_aware", "write a local time without an offset; the zone goes in `tz`")
    return value


def _known_zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        _fail("timezone", f"unknown time zone {name!r}: use an IANA name such as 'America/Chicago'")
    return name


_SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_SOURCE_KEY = re.compile(r"[A-Za-z0-9_.-]+")


def _slug(value: str) -> str:
    if not _SLUG.fullmatch(value):
        _fail("slug", f"must be a lowercase slug such as 'apex-eod-50k' (got {value!r})")
    return value


def _source_key(value: str) -> str:
    if value != USER_OVERRIDE and not _SOURCE_KEY.fullmatch(value):
        _fail("source_key", f"must be a key of [sources] such as 'T1' (got {value!r})")
    return value


def _table_key(value: str) -> str:
    if not _SOURCE_KEY.fullmatch(value):
        # This also keeps "user override" out of the table, where it would shadow its meaning.
        _fail("source_key", f"source keys are letters, digits, '_', '.', '-' (got {value!r})")
    return value


Money = Annotated[Decimal, BeforeValidator(_to_money), Field(gt=0)]
Fraction = Annotated[Decimal, BeforeValidator(_to_fraction), Field(gt=0, le=1)]
PositiveCount = Annotated[int, BeforeValidator(_whole), Field(gt=0)]
Minutes = Annotated[int, BeforeValidator(_whole), Field(ge=0)]
LocalTime = Annotated[time, AfterValidator(_naive_time)]
TimeZoneName = Annotated[str, AfterValidator(_known_zone)]
Slug = Annotated[str, AfterValidator(_slug)]
SourceKey = Annotated[str, AfterValidator(_source_key)]
Text = Annotated[str, Field(min_length=1)]


# --- models -------------------------------------------------------------------------------------


def _amount_problems(kind: str, amount: object) -> list[tuple[str, str]]:
    if kind != "none" and amount is None:
        return [("amount", f"required when kind is {kind!r}")]
    if kind == "none" and amount is not None:
        # Consumers read `amount` as the limit; one left behind "none" would still be enforced.
        return [("amount", "must be left out when kind is 'none' (there is no limit)")]
    return []


class _Frozen(BaseModel):
    # extra="forbid": a misspelt key in a hand-edited file must fail loudly, not silently vanish.
    model_config = ConfigDict(frozen=True, extra="forbid")


class Sourced[T](_Frozen):
    """A value, the [sources] key it came from (or "user override") and the date it was checked."""

    value: T
    source: SourceKey
    checked: date
    note: str = ""

    def __repr_name__(self) -> str:
        # The parametrised class is named after its whole Annotated type: unreadable in a repr.
        return "Sourced"


class MaxLossRule(_Frozen):
    """The account-ending floor: D below the start (static) or below a high-water mark (trailing).

    With a lock the trailing floor stops at L (the start, or the start + lock_offset) and stays
    there: floor = min(HWM − D, L). `amount` is present exactly when kind is not "none".
    """

    kind: Literal[
        "static", "intraday_trailing", "intraday_trailing_realized", "eod_trailing", "none"
    ]
    amount: Sourced[Money] | None = None
    lock: Literal["none", "start", "start_plus"] = "none"
    lock_offset: Sourced[Money] | None = None

    @model_validator(mode="after")
    def _coherent(self) -> Self:
        problems = _amount_problems(self.kind, self.amount)
        if self.lock == "start_plus" and self.lock_offset is None:
            problems.append(
                ("lock_offset", "required when lock is 'start_plus' (L = start + lock_offset)")
            )
        if self.lock != "start_plus" and self.lock_offset is not None:
            problems.append(
                ("lock_offset", f"only allowed when lock is 'start_plus' (lock is {self.lock!r})")
            )
        _report(problems)
        return self

    def lock_level(self, start_balance: Decimal) -> Decimal | None:
        """L, the level a trailing floor stops at; None when it trails for ever."""
        if self.lock == "start":
            return start_balance
        if self.lock == "start_plus" and self.lock_offset is not None:
            return start_balance + self.lock_offset.value
        return None


class DailyLossRule(_Frozen):
    """The per-session limit.

    fixed: start-of-day balance − amount; trailing: the day's equity high − amount; previous_close:
    the previous day-boundary balance − amount (FTMO). soft: breach liquidates and blocks until the
    next session, the account survives; hard (soft = false): the breach ends the account.
    `amount` is present exactly when kind is not "none".
    """

    kind: Literal["none", "fixed", "trailing", "previous_close"]
    amount: Sourced[Money] | None = None
    soft: bool = True

    @model_validator(mode="after")
    def _coherent(self) -> Self:
        _report(_amount_problems(self.kind, self.amount))
        return self


class SizeRule(_Frozen):
    """Position cap in full-size contracts; micros count 1/micros_per_contract each.

    spreads_count: how a calendar spread or a roll (opposite positions in two months of one root,
    short ESZ6 + long ESH7) counts against the cap, as the firm states it. "both_legs": every
    leg's contracts count (2 + 2 = 4); "net": a root's months are netted (-2 + 2 = 0), as a net
    position limit does. Left out (no firm rule found): both legs, the stricter reading.
    """

    max_contracts: Sourced[PositiveCount] | None = None
    micros_per_contract: Sourced[PositiveCount]
    spreads_count: Sourced[Literal["both_legs", "net"]] | None = None

    @property
    def nets_spreads(self) -> bool:
        """True only when the firm says a root's months are netted against the cap."""
        return self.spreads_count is not None and self.spreads_count.value == "net"


class ScalingStep(_Frozen):
    """One tier of a scaling plan: above this end-of-day profit, this many contracts."""

    above_profit: Money  # strictly above, in the account's currency, from the starting balance
    max_contracts: PositiveCount


class ScalingPlanRule(_Frozen):
    """The contracts allowed next session, set from the end-of-day profit; never raised intraday.

    `base_contracts` up to the first tier's profit, then `tiers`; every number from `source`.
    size.max_contracts is the cap until the first end of day (a trader may set it to the tier
    they are on), after which the plan decides.
    """

    base_contracts: PositiveCount
    tiers: Annotated[list[ScalingStep], Field(min_length=1)]
    source: SourceKey
    checked: date
    note: str = ""

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        problems: list[tuple[str, str]] = []
        if self.tiers[0].max_contracts < self.base_contracts:
            problems.append(
                ("tiers.0.max_contracts", "a tier cannot allow fewer contracts than base_contracts")
            )
        for index, (lower, upper) in enumerate(pairwise(self.tiers), start=1):
            if upper.above_profit <= lower.above_profit:
                problems.append(
                    (f"tiers.{index}.above_profit", "tiers must go up in profit, lowest first")
                )
            if upper.max_contracts < lower.max_contracts:
                problems.append(
                    (f"tiers.{index}.max_contracts", "a higher tier cannot allow fewer contracts")
                )
        _report(problems)
        return self


class HoldTimeRule(_Frozen):
    """A limit on profit from very short trades (the firms call them microscalps).

    A closed trade held `seconds` or less is short. The rule is broken when the short trades earn
    `profit_share` or more of the realized profit, or, where the firm also counts trades, make up
    `trade_share` or more of the closed trades.
    """

    seconds: Sourced[PositiveCount]
    profit_share: Sourced[Fraction]
    trade_share: Sourced[Fraction] | None = None


class DayBoundary(_Frozen):
    """When one trading day ends and the next begins (CME: 17:00 Chicago; FTMO: Prague midnight)."""

    tz: TimeZoneName = "America/Chicago"
    at: LocalTime = time(17, 0)


class FlatBy(_Frozen):
    """The firm's daily cutoff: no position may be held at or after `at` in `tz`.

    early_close_lead_minutes: on exchange early-close days the cutoff becomes the early close
    minus this many minutes (Tradeify: 1, i.e. 12:59 ET on a 13:00 ET close); None = no such rule.
    """

    at: Sourced[LocalTime]
    tz: TimeZoneName
    early_close_lead_minutes: Minutes | None = None


class NewsPolicy(_Frozen):
    """What the firm forbids in [event − pre_minutes, event + post_minutes].

    flat: no position and no working order; no_executions: positions may be held but nothing may
    fill (stops and targets included).
    """

    restriction: Literal["none", "flat", "no_executions"]
    pre_minutes: Minutes = 0
    post_minutes: Minutes = 0
    source: SourceKey
    checked: date
    note: str = ""

    @model_validator(mode="after")
    def _window(self) -> Self:
        if self.restriction != "none" and self.pre_minutes == 0 and self.post_minutes == 0:
            _report(
                [
                    (
                        "pre_minutes",
                        f"a {self.restriction!r} restriction needs a window (pre/post minutes)",
                    )
                ]
            )
        return self


class AutomationPolicy(_Frozen):
    """Whether the firm allows automated trading at all: propdesk's users run bots."""

    status: Literal["allowed", "prohibited", "unclear"]
    source: SourceKey
    checked: date
    note: str


class FirmProfile(_Frozen):
    """One firm program at one account size and phase, as configured for the risk engine."""

    id: Slug
    firm: Text
    program: Text
    phase: Slug
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] = "USD"
    account_size: Sourced[Money]
    day_boundary: DayBoundary = DayBoundary()
    max_loss: MaxLossRule
    daily_loss: DailyLossRule
    size: SizeRule
    flat_by: FlatBy | None = None
    news: NewsPolicy
    automation: AutomationPolicy
    consistency: Sourced[Fraction] | None = None
    # The name of the firm's schedule in resources/commissions.toml, charged on fills the broker
    # reports without a fee (Tradovate, Rithmic); None: the profile has none (the runtime alerts).
    commissions: Slug | None = None
    scaling: ScalingPlanRule | None = None
    hold_time: HoldTimeRule | None = None
    sources: dict[Annotated[str, AfterValidator(_table_key)], Text]
    notes: str = ""

    @property
    def start_balance(self) -> Decimal:
        """B0, the balance every floor is measured from."""
        return self.account_size.value

    @model_validator(mode="after")
    def _cross_checks(self) -> Self:
        problems: list[tuple[str, str]] = []
        known = ", ".join(sorted(self.sources)) or "nothing"
        for path, key in _source_uses(self):
            if key != USER_OVERRIDE and key not in self.sources:
                problems.append((path, f"unknown source key {key!r}; [sources] has {known}"))
        # Cheap sanity checks that catch a dropped or extra zero.
        for path, rule_kind, amount in (
            ("max_loss.amount", self.max_loss.kind, self.max_loss.amount),
            ("daily_loss.amount", self.daily_loss.kind, self.daily_loss.amount),
        ):
            if rule_kind != "none" and amount is not None and amount.value >= self.start_balance:
                problems.append(
                    (
                        f"{path}.value",
                        f"{amount.value} is not below the account size {self.start_balance}",
                    )
                )
        problems.extend(self._scaling_problems())
        _report(problems)
        return self

    def _scaling_problems(self) -> list[tuple[str, str]]:
        if self.scaling is not None and self.size.max_contracts is None:
            return [
                ("scaling", "a scaling plan needs size.max_contracts, the cap until a day ends")
            ]
        return []


def _source_uses(model: BaseModel, prefix: str = "") -> Iterator[tuple[str, str]]:
    """Every (path of a `source` field, key) in the profile, found by walking it: none is missed."""
    fields = type(model).model_fields
    if "source" in fields and "checked" in fields:
        yield f"{prefix}source", str(model.__dict__["source"])
    for name in fields:
        child = getattr(model, name)
        if isinstance(child, BaseModel):
            yield from _source_uses(child, f"{prefix}{name}.")


# --- parsing ------------------------------------------------------------------------------------


def _load_toml(text: str, name: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text, parse_float=_TomlFloat)
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError([_toml_problem(exc, name)]) from None


def _stem(name: str) -> str:
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    return base.removesuffix(".toml")


def parse_profile(text: str, name: str) -> FirmProfile:
    """Parse and validate one profile.

    `name` is the file name, used in messages and to check that `id` equals the file's stem.
    Raises ProfileError listing every problem found.
    """
    data = _load_toml(text, name)
    problems: list[Problem] = []
    stem = _stem(name)
    declared = data.get("id")
    if isinstance(declared, str) and declared != stem:
        problems.append(Problem(name, "id", f"{declared!r} must equal the file name stem {stem!r}"))
    profile: FirmProfile | None = None
    try:
        profile = FirmProfile.model_validate(data)
    except ValidationError as exc:
        problems.extend(_problems_from(exc, name, FirmProfile))
    if problems or profile is None:
        raise ProfileError(problems)
    return profile


# --- the set of profiles ------------------------------------------------------------------------

_NO_DEFAULT: Final = object()


class ProfileSet(Mapping[str, FirmProfile]):
    """Profiles by id, as loaded from resources/firms/ (or a user's directory)."""

    def __init__(self, profiles: Mapping[str, FirmProfile]) -> None:
        for key, profile in profiles.items():
            if key != profile.id:
                raise ValueError(f"profile stored under {key!r} has id {profile.id!r}")
        self._profiles: dict[str, FirmProfile] = dict(profiles)

    @classmethod
    def from_texts(cls, items: Iterable[tuple[str, str]]) -> Self:
        """Parse every (file name, TOML text); one ProfileError lists every file's problems."""
        profiles: dict[str, FirmProfile] = {}
        origin: dict[str, str] = {}
        problems: list[Problem] = []
        for name, text in items:
            try:
                profile = parse_profile(text, name)
            except ProfileError as exc:
                problems.extend(exc.problems)
                continue
            if profile.id in profiles:
                problems.append(
                    Problem(
                        name, "id", f"duplicate id {profile.id!r} (also in {origin[profile.id]})"
                    )
                )
                continue
            profiles[profile.id] = profile
            origin[profile.id] = name
        if problems:
            raise ProfileError(problems)
        return cls(profiles)

    def __getitem__(self, key: str) -> FirmProfile:
        try:
            return self._profiles[key]
        except KeyError:
            known = ", ".join(sorted(self._profiles)) or "none"
            raise KeyError(f"unknown firm profile {key!r}; known ids: {known}") from None

    @overload
    def get(self, key: str) -> FirmProfile: ...
    @overload
    def get[D](self, key: str, default: D) -> FirmProfile | D: ...
    def get(self, key: str, default: object = _NO_DEFAULT) -> object:
        """Like `self[key]`: an unknown id raises KeyError listing the known ids, unless a default
        is given (a missing profile is a configuration error, not something to answer with None).
        """
        if default is not _NO_DEFAULT and key not in self._profiles:
            return default
        return self[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._profiles)

    def __len__(self) -> int:
        return len(self._profiles)

    def __repr__(self) -> str:
        return f"ProfileSet({sorted(self._profiles)})"

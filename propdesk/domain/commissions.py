"""Commission schedules: what a firm charges per contract, for fills the broker reports without a fee.

Firms judge their limits on realized + open P&L net of fees (research/prop-firm-rules.md), but
Tradovate's and Rithmic's fills carry no fee: booked as they come, every round trip would leave
equity too high by its commission. So each firm profile names a schedule in
resources/commissions.toml, and the account engine charges it on exactly those fills.

Basis: the ROUND TURN per contract, all in (commission + exchange, clearing and NFA fees), as
firms quote it; a round turn is two fills (in and out), so each fill is charged half of it per
contract. Micros have lines of their own. A line may be limited to some platforms where a firm
charges differently on, say, Tradovate and Rithmic; a platform's own line wins over a general one.
Every amount carries its source and the date it was checked, as profile numbers do.

Pure: parses text it is given; the caller reads the file (propdesk.resources).
"""

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Annotated, Any, Literal, Self

from pydantic import AfterValidator, BeforeValidator, Field, ValidationError, model_validator

from propdesk.domain.firm_errors import Problem, ProfileError, _fail, _problems_from, _report
from propdesk.domain.firms import (
    FirmProfile,
    Slug,
    Sourced,
    Text,
    _Frozen,
    _load_toml,
    _table_key,
    _to_money,
)

__all__ = [
    "CommissionBook",
    "CommissionLine",
    "CommissionSchedule",
    "CommissionTable",
    "parse_commissions",
]

Platform = Literal["tradovate", "rithmic", "projectx"]

_ROOT = re.compile(r"[0-9A-Z]{1,6}")


def _root(value: str) -> str:
    if not _ROOT.fullmatch(value):
        _fail("slug", f"must be a contract root as in instruments.toml, e.g. 'ES' (got {value!r})")
    return value


Root = Annotated[str, AfterValidator(_root)]
Fee = Annotated[Decimal, BeforeValidator(_to_money), Field(ge=0)]


class CommissionLine(_Frozen):
    """One amount for some roots: the all-in round turn per contract."""

    roots: tuple[Root, ...] = Field(min_length=1)
    round_turn: Sourced[Fee]
    platforms: tuple[Platform, ...] | None = None  # None: on every platform


class CommissionSchedule(_Frozen):
    """One firm's (or program's) commissions, line by line."""

    firm: Text
    note: str = ""
    # Checked below, not with min_length: a line that fails would also read as "no lines".
    lines: tuple[CommissionLine, ...]

    @model_validator(mode="after")
    def _one_amount_each(self) -> Self:
        seen: dict[tuple[str, str | None], int] = {}
        problems: list[tuple[str, str]] = []
        if not self.lines:
            problems.append(("lines", "a schedule needs at least one [[lines]] table"))
        for index, line in enumerate(self.lines):
            for root in line.roots:
                for platform in line.platforms or (None,):
                    earlier = seen.get((root, platform))
                    if earlier is None:
                        seen[(root, platform)] = index
                        continue
                    where = f" on {platform}" if platform else ""
                    problems.append(
                        (
                            f"lines.{index}.roots",
                            f"{root}{where} already has an amount in lines.{earlier}",
                        )
                    )
        _report(problems)
        return self


class CommissionBook(_Frozen):
    """Every named schedule, and the [sources] their amounts cite."""

    schedules: dict[Slug, CommissionSchedule]
    sources: dict[Annotated[str, AfterValidator(_table_key)], Text]

    @model_validator(mode="after")
    def _sources_known(self) -> Self:
        known = ", ".join(sorted(self.sources)) or "nothing"
        problems = [
            (
                f"schedules.{name}.lines.{index}.round_turn.source",
                f"unknown source key {line.round_turn.source!r}; [sources] has {known}",
            )
            for name, schedule in self.schedules.items()
            for index, line in enumerate(schedule.lines)
            if line.round_turn.source not in self.sources
        ]
        _report(problems)
        return self

    def table(self, name: str | None, platform: str | None = None) -> "CommissionTable":
        """The schedule `name` as one account on `platform` pays it (None: no schedule at all).

        An unknown name (a trader's override) gives a table with no amounts, whose alerts say so:
        the shipped profiles' names are checked when they load.
        """
        if name is None:
            return CommissionTable(None, platform)
        schedule = self.schedules.get(name)
        if schedule is None:
            return CommissionTable(name, platform, known=False)
        general: dict[str, Decimal] = {}
        own: dict[str, Decimal] = {}
        for line in schedule.lines:
            if line.platforms is None:
                general.update(dict.fromkeys(line.roots, line.round_turn.value))
            elif platform in line.platforms:
                own.update(dict.fromkeys(line.roots, line.round_turn.value))
        return CommissionTable(name, platform, general | own)

    def unknown_references(self, profiles: Iterable[FirmProfile]) -> list[Problem]:
        """A problem for each profile naming a schedule this book does not have."""
        known = ", ".join(sorted(self.schedules)) or "none"
        return [
            Problem(
                f"{profile.id}.toml",
                "commissions",
                f"no schedule {profile.commissions!r} in commissions.toml (it has {known})",
            )
            for profile in profiles
            if profile.commissions is not None and profile.commissions not in self.schedules
        ]


@dataclass(frozen=True, slots=True)
class CommissionTable:
    """One account's commissions, resolved for its platform: the round turn per contract by root.

    `schedule` None: the account's profile names no schedule, so no root has an amount; `known`
    False: it names one commissions.toml does not have.
    """

    schedule: str | None
    platform: str | None = None
    round_turns: Mapping[str, Decimal] = field(default_factory=dict)
    known: bool = True

    def fee(self, root: str, qty: int) -> Decimal | None:
        """The fee for one fill of `qty` contracts (half a round turn each); None if unknown."""
        round_turn = self.round_turns.get(root)
        return None if round_turn is None else round_turn * qty / 2

    def missing(self, root: str) -> str:
        """What the trader is told the first time a `root` fill has no fee and no amount here."""
        if self.schedule is None:
            why = "this account's firm profile names no commission schedule"
        elif not self.known:
            why = f"there is no commission schedule {self.schedule!r} in resources/commissions.toml"
        else:
            why = f"the commission schedule {self.schedule!r} has no amount for {root}"
        return (
            f"commissions: the broker reported no fee for a {root} fill and {why}, so {root} fees "
            "are not counted and equity reads higher than the firm's own figure. Add the firm's "
            f"{root} round turn to resources/commissions.toml."
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "schedule": self.schedule,
            "platform": self.platform,
            "round_turns": {root: str(amount) for root, amount in sorted(self.round_turns.items())},
            "known": self.known,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        return cls(
            data["schedule"],
            data["platform"],
            {root: Decimal(amount) for root, amount in data["round_turns"].items()},
            bool(data.get("known", True)),
        )


def parse_commissions(text: str, name: str = "commissions.toml") -> CommissionBook:
    """Parse and validate the schedules; raises ProfileError listing every problem."""
    data = _load_toml(text, name)
    try:
        return CommissionBook.model_validate(data)
    except ValidationError as exc:
        raise ProfileError(_problems_from(exc, name, CommissionBook)) from None

"""Firm-profile problems: what went wrong, in which file, at which field, said plainly.

Every failure to read a profile (a TOML syntax error, a pydantic validation error, a bad override)
ends as a ProfileError whose lines read "<file name>: <field path>: <what is wrong>". This module
turns pydantic's errors and tomllib's messages into those lines; it knows nothing of the schema
itself (firms.py), which hands in the model the field paths start from.

The underscored helpers are shared with firms.py and firm_overrides.py only; they are not API.
"""

import difflib
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, time
from decimal import Decimal
from typing import Any, Final, NoReturn, get_args

from pydantic import BaseModel, ValidationError
from pydantic_core import PydanticCustomError

__all__ = ["Problem", "ProfileError"]

# Error type for the cross-field checks of the models: its context carries (relative path, message)
# pairs so every problem is reported at its own field rather than at the table that noticed it.
_RULE_ERROR: Final = "profile_rule"


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with one profile: which file, which field, what."""

    file: str
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.path}: {self.message}"


class ProfileError(ValueError):
    """A profile (or a set of them, or an override) is invalid; the message lists every problem.

    Each line reads "<file name>: <field path>: <what is wrong>".
    """

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        super().__init__("\n".join(str(problem) for problem in self.problems))


# --- raising, inside validators -----------------------------------------------------------------


def _fail(kind: str, message: str, **context: object) -> NoReturn:
    # Formatted here, not by pydantic's template engine, so braces in a bad value can't break it.
    raise PydanticCustomError(kind, "{message}", {"message": message, **context})


def _report(problems: list[tuple[str, str]]) -> None:
    """Raise one validation error that still names each field (see _RULE_ERROR)."""
    if problems:
        summary = "; ".join(f"{path}: {message}" for path, message in problems)
        _fail(_RULE_ERROR, summary, problems=tuple(problems))


# --- reading the schema -------------------------------------------------------------------------


def _model_class(annotation: object) -> type[BaseModel] | None:
    """The model a field holds (through `| None` and Annotated), or None for a plain value."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _model_class(arg)
        if found is not None:
            return found
    return None


def _model_at(root: type[BaseModel], loc: tuple[str, ...]) -> type[BaseModel] | None:
    model: type[BaseModel] | None = root
    for part in loc:
        if model is None or part not in model.model_fields:
            return None
        model = _model_class(model.model_fields[part].annotation)
    return model


# --- wording ------------------------------------------------------------------------------------


def _suggest(word: str, choices: Iterable[str]) -> str:
    options = sorted(choices)
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    if close:
        return f"did you mean {close[0]!r}?"
    return f"allowed: {', '.join(options)}"


def _show(value: object) -> str:
    if isinstance(value, Decimal | time | date):
        return str(value)
    return repr(value)


# Error types raised through _fail, whose message already says what was wrong with the value.
_OWN_MESSAGES: Final = frozenset(
    {
        "money_float",
        "money_parse",
        "money_type",
        "fraction_parse",
        "fraction_type",
        "whole_number",
        "time_aware",
        "timezone",
        "slug",
        "source_key",
    }
)


def _describe(error: Mapping[str, Any], loc: tuple[str, ...], root: type[BaseModel]) -> str:
    kind = error["type"]
    if kind == "missing":
        return "required but missing"
    if kind == "extra_forbidden":
        parent = _model_at(root, loc[:-1])
        hint = f"; {_suggest(loc[-1], parent.model_fields)}" if parent is not None else ""
        return f"unknown key{hint}"
    message = str(error["msg"])
    if kind in _OWN_MESSAGES or isinstance(error.get("input"), dict | list):
        return message
    return f"{message} (got {_show(error.get('input'))})"


# --- translating --------------------------------------------------------------------------------


def _problems_from(error: ValidationError, file: str, root: type[BaseModel]) -> list[Problem]:
    """One Problem per field `error` names; `root` is the model that was validated."""
    problems: list[Problem] = []
    for item in error.errors(include_url=False):
        loc = tuple(str(part) for part in item["loc"])
        if item["type"] == _RULE_ERROR:
            for relative, message in item["ctx"]["problems"]:
                problems.append(Problem(file, ".".join((*loc, relative)), message))
        else:
            problems.append(Problem(file, ".".join(loc) or "(profile)", _describe(item, loc, root)))
    return problems


_TOML_POSITION = re.compile(r"\s*\((at line (\d+), column (\d+)|at end of document)\)$")


def _toml_problem(error: tomllib.TOMLDecodeError, file: str) -> Problem:
    """tomllib's message, with its "(at line L, column C)" tail moved to the field position."""
    message = str(error)
    match = _TOML_POSITION.search(message)
    if match is None:
        where = "TOML syntax"
    elif match.group(2) is not None:
        where = f"line {match.group(2)}, column {match.group(3)}"
    else:
        where = "end of file"
    reason = message[: match.start()] if match else message
    return Problem(file, where, f"TOML syntax error: {reason}")

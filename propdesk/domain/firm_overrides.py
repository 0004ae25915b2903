"""Per-account overrides of a firm profile: a trader's own numbers, labelled as such.

Any value of a profile can be replaced for one account by its dotted path. An overridden sourced
number becomes source="user override" with the override's date, and its note keeps what it replaced,
so nobody mistakes a trader's setting for the firm's rule. The result is validated like a profile.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any, Final, get_origin

from pydantic import BaseModel, ValidationError

from propdesk.domain.firm_errors import (
    Problem,
    ProfileError,
    _model_class,
    _problems_from,
    _show,
    _suggest,
)
from propdesk.domain.firms import USER_OVERRIDE, FirmProfile, Sourced

__all__ = ["apply_overrides"]


class _PathError(Exception):
    pass


def _plain(value: object) -> object:
    """A private deep copy of an override value, so the caller's mappings are never mutated."""
    if isinstance(value, BaseModel):
        return value.model_dump()
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def _has_provenance(model: type[BaseModel] | None) -> bool:
    return model is not None and {"source", "checked"} <= model.model_fields.keys()


def _is_table(annotation: object) -> bool:
    """True for a free-form key → value table such as [sources]."""
    return get_origin(annotation) is dict


def _brief(value: object, limit: int = 60) -> str:
    shown = _show(value)
    return shown if len(shown) <= limit else f"{shown[: limit - 1]}…"


_PROVENANCE_FIELDS: Final = frozenset({"source", "checked", "note"})


@dataclass(slots=True)
class _Relabel:
    """A sourced object one or more of whose values the trader replaced."""

    table: dict[str, Any]
    changes: list[str]
    explicit: bool  # the overrides set its source/checked themselves: leave those alone


def apply_overrides(
    profile: FirmProfile, overrides: Mapping[str, object], *, checked: date
) -> FirmProfile:
    """A copy of `profile` with values replaced by dotted path, re-validated.

    {"max_loss.amount": "2500", "flat_by.at": "15:00", "daily_loss.kind": "none"}: a bare value
    for a sourced field (or for a field of the news/automation policies) keeps the shape and
    becomes source="user override", checked=`checked`, its note recording what it replaced; a
    mapping replaces the whole object as given; None clears an optional one; setting a rule's
    kind to "none" clears its amount. Each override is logged in `notes`. Unknown paths and bad values raise ProfileError naming the path; `profile`
    itself is unchanged.
    """
    name = f"{profile.id} (account overrides)"
    data = profile.model_dump()
    explicit_paths = set(overrides)
    relabels: dict[str, _Relabel] = {}
    problems: list[Problem] = []
    log: list[str] = []
    # Whole tables first, so {"flat_by": {...}, "flat_by.at": "15:00"} refines rather than undoes.
    for path in sorted(overrides, key=lambda p: p.count(".")):
        try:
            old = _assign(data, path, _plain(overrides[path]), checked, explicit_paths, relabels)
        except _PathError as exc:
            problems.append(Problem(name, path, str(exc)))
            continue
        log.append(f"{path} = {_brief(overrides[path])} (was {_brief(old)})")
    if problems:
        raise ProfileError(problems)
    for rule in ("max_loss", "daily_loss"):
        # "Turn the limit off" means no amount either, unless the trader set one on purpose
        # (then validation says that the two disagree).
        table = data[rule]
        touched = any(path == rule or path.startswith(f"{rule}.amount") for path in overrides)
        if isinstance(table, dict) and table.get("kind") == "none" and not touched:
            old = table.get("amount")
            if isinstance(old, dict):
                table["amount"] = None
                log.append(f"{rule}.amount cleared (was {_brief(old.get('value'))})")
    for relabel in relabels.values():
        if relabel.explicit:
            continue
        table = relabel.table
        was = f"was {'; '.join(relabel.changes)}"
        if table.get("source") is not None:
            was += f"; from {table['source']}, checked {table['checked']}"
        if table.get("note"):
            was += f"; firm note: {table['note']}"
        table.update(source=USER_OVERRIDE, checked=checked, note=f"user override ({was})")
    entry = f"Account overrides {checked.isoformat()}: {'; '.join(log)}."
    data["notes"] = f"{data['notes']}\n{entry}" if data["notes"] else entry
    try:
        return FirmProfile.model_validate(data)
    except ValidationError as exc:
        raise ProfileError(_problems_from(exc, name, FirmProfile)) from None


def _assign(
    data: dict[str, Any],
    path: str,
    value: object,
    checked: date,
    explicit_paths: set[str],
    relabels: dict[str, _Relabel],
) -> object:
    """Set one dotted path in the dumped profile; return the value it replaced."""
    parts = path.split(".")
    if not path or not all(parts):
        raise _PathError("not a dotted field path such as 'max_loss.amount'")
    if parts[0] == "id":
        raise _PathError("the profile id cannot be overridden; copy the profile file instead")
    table: dict[str, Any] = data
    model: type[BaseModel] | None = FirmProfile
    for depth, part in enumerate(parts):
        here = ".".join(parts[: depth + 1])
        last = depth == len(parts) - 1
        if model is None:
            # Inside a free-form table ([sources]): any key, but nothing below it.
            if not last:
                raise _PathError(f"{here} is a value, not a table")
            old = table.get(part)
            table[part] = value
            return old
        if part not in model.model_fields:
            where = ".".join(parts[:depth]) or "the profile"
            raise _PathError(
                f"unknown field {part!r} in {where}; {_suggest(part, model.model_fields)}"
            )
        annotation = model.model_fields[part].annotation
        child_model = _model_class(annotation)
        owner = ".".join(parts[:depth])
        if _has_provenance(model) and part not in _PROVENANCE_FIELDS:
            # A value inside a sourced object (sourced.value, news.pre_minutes): relabel the object.
            relabel = relabels.get(owner)
            if relabel is None:
                relabel = relabels[owner] = _Relabel(
                    table,
                    [],
                    explicit=bool({f"{owner}.source", f"{owner}.checked"} & explicit_paths),
                )
            shown = _show(table.get(part))
            relabel.changes.append(shown if part == "value" else f"{part} {shown}")
        if last:
            old = table.get(part)
            if (
                child_model is not None
                and issubclass(child_model, Sourced)
                and value is not None
                and not isinstance(value, dict)
            ):
                note = "user override"
                if isinstance(old, dict):
                    was = f"{_show(old['value'])}; from {old['source']}, checked {old['checked']}"
                    note += f" (was {was})"
                value = {"value": value, "source": USER_OVERRIDE, "checked": checked, "note": note}
            table[part] = value
            return old.get("value") if isinstance(old, dict) and "value" in old else old
        if child_model is None and not _is_table(annotation):
            raise _PathError(f"{here} is a value, not a table")
        child = table.get(part)
        if child is None:
            # An absent optional table (FTMO has no flat_by): start one; validation names the gaps.
            child = table[part] = {}
        if not isinstance(child, dict):
            raise _PathError(f"{here} was overridden with a plain value, not a table")
        table = child
        model = child_model
    raise AssertionError("unreachable")  # pragma: no cover

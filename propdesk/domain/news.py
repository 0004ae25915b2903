"""News windows: a simple event list turned into restricted time windows per instrument."""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from propdesk.domain.instruments import Instrument

_ROOTS: dict[str, frozenset[str]] = {}


def roots_of(instrument: Instrument) -> frozenset[str]:
    """The roots a news window's scope matches for this instrument: its own, and for a micro its
    full-size root too — a CL window covers MCL, an ES window MES (the stricter reading)."""
    found = _ROOTS.get(instrument.root)
    if found is None:
        full = instrument.full_size_root
        found = frozenset((instrument.root,) if full is None else (instrument.root, full))
        _ROOTS[instrument.root] = found
    return found


def in_scope(instrument: Instrument, roots: frozenset[str] | None) -> bool:
    """Does a flatten or lock scoped to `roots` (None: the whole account) cover this instrument?"""
    return roots is None or not roots.isdisjoint(roots_of(instrument))


class Restriction(StrEnum):
    FLAT = "flat"  # be flat with no working orders (Take Profit Trader)
    NO_EXECUTIONS = "no_executions"  # may hold, but nothing may fill, SL/TP included (FTMO, Alpha)


@dataclass(frozen=True, slots=True)
class NewsEvent:
    at: datetime
    title: str
    roots: frozenset[str] | None = None  # None: every instrument
    pre: timedelta | None = None  # None: the firm's window
    post: timedelta | None = None
    restriction: Restriction | None = None


@dataclass(frozen=True, slots=True)
class NewsWindow:
    start: datetime
    end: datetime
    title: str
    restriction: Restriction
    roots: frozenset[str] | None

    def applies_to(self, roots: Iterable[str]) -> bool:
        return self.roots is None or not self.roots.isdisjoint(roots)

    def scope_text(self) -> str:
        return "all instruments" if self.roots is None else ", ".join(sorted(self.roots))


def build_windows(
    events: Iterable[NewsEvent],
    *,
    restriction: Restriction | None,
    pre: timedelta,
    post: timedelta,
) -> tuple[NewsWindow, ...]:
    """Windows [at − pre, at + post] sorted by start; events with no restriction at all are dropped."""
    windows = []
    for event in events:
        kind = event.restriction or restriction
        if kind is None:
            continue
        start = event.at - (event.pre if event.pre is not None else pre)
        end = event.at + (event.post if event.post is not None else post)
        windows.append(NewsWindow(start, end, event.title, kind, event.roots))
    return tuple(sorted(windows, key=lambda w: (w.start, w.end)))


class NewsListError(ValueError):
    pass


def parse_news(text: str, name: str = "news.toml") -> list[NewsEvent]:
    """Read `[[event]] at = 2026-12-09T14:00:00-05:00, title = "FOMC", roots = ["ES"], pre_minutes = 2 ...`."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise NewsListError(f"{name}: {exc}") from None
    events: list[NewsEvent] = []
    unknown_top = set(data) - {"event"}
    if unknown_top:
        raise NewsListError(
            f"{name}: unknown key(s) {sorted(unknown_top)}; expected [[event]] tables"
        )
    allowed = {"at", "title", "roots", "pre_minutes", "post_minutes", "restriction"}
    for index, raw in enumerate(data.get("event", []), start=1):
        where = f"{name}: event {index}"
        extra = set(raw) - allowed
        if extra:
            raise NewsListError(f"{where}: unknown key(s) {sorted(extra)}")
        at = raw.get("at")
        if not isinstance(at, datetime) or at.tzinfo is None:
            raise NewsListError(f"{where}: 'at' must be a date-time with a UTC offset")
        title = raw.get("title")
        if not isinstance(title, str) or not title:
            raise NewsListError(f"{where}: 'title' must be a non-empty string")
        roots = raw.get("roots")
        if roots is not None and (
            not isinstance(roots, list) or not all(isinstance(r, str) and r for r in roots)
        ):
            raise NewsListError(f"{where}: 'roots' must be a list of instrument roots")
        kind = raw.get("restriction")
        if kind is not None and kind not in {r.value for r in Restriction}:
            raise NewsListError(f"{where}: 'restriction' must be 'flat' or 'no_executions'")
        minutes: dict[str, timedelta | None] = {}
        for key in ("pre_minutes", "post_minutes"):
            value = raw.get(key)
            if value is not None and (
                not isinstance(value, int) or isinstance(value, bool) or value < 0
            ):
                raise NewsListError(f"{where}: '{key}' must be a whole number of minutes ≥ 0")
            minutes[key] = None if value is None else timedelta(minutes=value)
        events.append(
            NewsEvent(
                at=at,
                title=title,
                roots=None if roots is None else frozenset(r.upper() for r in roots),
                pre=minutes["pre_minutes"],
                post=minutes["post_minutes"],
                restriction=None if kind is None else Restriction(kind),
            )
        )
    return events

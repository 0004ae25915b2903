"""Shared fixtures: the shipped instruments, profiles and calendar (no Qt here: the core runs without it)."""

from __future__ import annotations

import pytest

from propdesk.domain.calendar import TradingCalendar
from propdesk.domain.firms import ProfileSet
from propdesk.domain.instruments import InstrumentBook
from propdesk.resources import load_instruments, load_profiles


@pytest.fixture(scope="session")
def instruments() -> InstrumentBook:
    return load_instruments()


@pytest.fixture(scope="session")
def profiles() -> ProfileSet:
    return load_profiles()


@pytest.fixture(scope="session")
def calendar() -> TradingCalendar:
    return TradingCalendar()

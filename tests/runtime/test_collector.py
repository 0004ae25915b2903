"""The collector pause: off while anything holds it, back on only if the pause turned it off."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from propdesk.runtime.collector import MAX_PAUSE, CollectorPause


@pytest.fixture(autouse=True)
def collector_restored() -> Iterator[None]:
    enabled = gc.isenabled()
    yield
    if enabled:
        gc.enable()
    else:
        gc.disable()


def test_nested_holds_turn_the_collector_back_on_after_the_last() -> None:
    gc.enable()
    pause = CollectorPause()
    pause.hold()
    pause.hold()
    assert not gc.isenabled()
    pause.release()
    assert not gc.isenabled(), "one holder is still in flight"
    pause.release()
    assert gc.isenabled()
    assert pause.holders == 0


def test_a_collector_someone_else_turned_off_stays_off() -> None:
    gc.disable()
    pause = CollectorPause()
    with pause.held():
        assert not gc.isenabled()
    assert not gc.isenabled()


def test_released_on_an_error_too() -> None:
    gc.enable()
    pause = CollectorPause()
    with pytest.raises(ValueError, match="boom"), pause.held():
        raise ValueError("boom")
    assert gc.isenabled()


def test_more_releases_than_holds_is_a_bug_not_a_silent_count() -> None:
    pause = CollectorPause()
    with pytest.raises(RuntimeError, match="more often than held"):
        pause.release()


def test_flattens_that_keep_overlapping_still_let_a_young_collection_run(monkeypatch) -> None:
    gc.enable()
    now = [0.0]
    pause = CollectorPause(clock=lambda: now[0])
    collected: list[int] = []
    monkeypatch.setattr(gc, "collect", lambda generation=2: collected.append(generation) or 0)
    pause.hold()
    now[0] = MAX_PAUSE / 2
    pause.hold()  # a second flatten soon after: no collection yet
    pause.release()
    assert collected == []
    now[0] = MAX_PAUSE + 1
    pause.hold()  # still paused, for longer than MAX_PAUSE: the young generations first
    assert collected == [1]
    assert not gc.isenabled(), "and the pause goes on"
    now[0] = MAX_PAUSE + 2
    pause.hold()
    assert collected == [1], "not again until another MAX_PAUSE has passed"
    for _ in range(3):
        pause.release()
    assert gc.isenabled()

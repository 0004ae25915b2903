"""The console's loop runs ready callbacks the way asyncio's loop does, with Qt's events in between."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest
from PySide6.QtCore import QEventLoop, QTimer
from ui_helpers import until

from propdesk.ui.loop import ConsoleLoop


def console_loop() -> ConsoleLoop:
    loop = asyncio.get_running_loop()
    assert isinstance(loop, ConsoleLoop), "the console's tests run on the console's loop"
    return loop


async def test_callbacks_run_in_order_and_those_they_add_run_before_qts_turn() -> None:
    loop = console_loop()
    ran: list[str] = []
    done = asyncio.Event()

    def first() -> None:
        ran.append("first")
        QTimer.singleShot(0, lambda: (ran.append("qt"), done.set()))
        # Added while the batch drains: the next batch, at once, as asyncio's next turn would
        # run it (a Qt turn between batches cost 40-100 µs cold, three of them in every flatten).
        loop.call_soon(ran.append, "added")
        loop.call_later(0, ran.append, "due timer")  # due at once: joins the next batch too

    loop.call_soon(first)
    loop.call_soon(ran.append, "second")
    await asyncio.wait_for(done.wait(), 5)
    assert ran == ["first", "second", "added", "due timer", "qt"]


async def test_continuous_work_gives_qt_a_turn_within_the_budget() -> None:
    loop = console_loop()
    steps: list[float] = []
    qt_ran_after: list[int] = []
    done = asyncio.Event()
    step_seconds = 0.001

    def step() -> None:
        # Busy, not asleep: a callback that computes for 1 ms and queues the next, 60 times.
        started = time.perf_counter()
        while time.perf_counter() - started < step_seconds:
            pass
        steps.append(started)
        if len(steps) < 60:
            loop.call_soon(step)
        else:
            done.set()

    QTimer.singleShot(0, lambda: None)  # Qt's pending turn is taken before the chain begins
    loop.call_soon(step)
    await asyncio.sleep(0)
    QTimer.singleShot(0, lambda: qt_ran_after.append(len(steps)))
    await asyncio.wait_for(done.wait(), 5)
    assert qt_ran_after, "Qt got no turn during 60 ms of asyncio work"
    # The budget is 10 ms: Qt's event ran after about 10 steps, not after the 60 of the chain.
    assert qt_ran_after[0] <= 10 + 5, f"Qt waited for {qt_ran_after[0]} steps of 1 ms"


async def test_a_socket_ready_during_continuous_work_is_read_between_batches() -> None:
    """As asyncio polls between batches: a broker's message does not wait for the budget."""
    loop = console_loop()
    steps: list[float] = []
    read_after: list[int] = []
    done = asyncio.Event()
    ours, theirs = socket.socketpair()
    ours.setblocking(False)

    def on_readable() -> None:
        read_after.append(len(steps))
        ours.recv(16)
        loop.remove_reader(ours.fileno())

    def step() -> None:
        started = time.perf_counter()
        while time.perf_counter() - started < 0.001:
            pass
        steps.append(started)
        if len(steps) == 2:
            theirs.send(b"fill")
        if len(steps) < 40:
            loop.call_soon(step)
        else:
            done.set()

    loop.add_reader(ours.fileno(), on_readable)
    try:
        loop.call_soon(step)
        await asyncio.wait_for(done.wait(), 5)
    finally:
        loop.remove_reader(ours.fileno())
        ours.close()
        theirs.close()
    assert read_after, "the socket was not read during 40 ms of asyncio work"
    # Sent during step 2: read within the next couple of batches, not after the 10 ms budget.
    assert read_after[0] <= 2 + 2, f"read after {read_after[0]} steps of 1 ms"


async def test_a_cancelled_callback_does_not_run() -> None:
    loop = console_loop()
    ran: list[str] = []
    done = asyncio.Event()
    handle = loop.call_soon(ran.append, "cancelled")
    loop.call_soon(done.set)
    handle.cancel()
    await asyncio.wait_for(done.wait(), 5)
    assert ran == []


async def test_a_failing_callback_is_reported_and_the_next_still_runs() -> None:
    loop = console_loop()
    seen: list[str] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: seen.append(repr(context["exception"])))
    done = asyncio.Event()
    try:
        loop.call_soon(lambda: 1 / 0)
        loop.call_soon(done.set)
        await asyncio.wait_for(done.wait(), 5)
    finally:
        loop.set_exception_handler(previous)
    assert seen == ["ZeroDivisionError('division by zero')"]


async def test_a_nested_qt_loop_that_drains_the_queue_leaves_nothing_to_run_twice() -> None:
    """A modal dialog's nested loop runs the queue from inside a callback of the outer batch."""
    loop = console_loop()
    ran: list[str] = []

    def modal() -> None:
        nested = QEventLoop()
        loop.call_soon(nested.quit)  # arms the loop's timer: the nested loop drains the queue
        nested.exec()
        ran.append("modal closed")  # and the outer batch finds its queue empty

    loop.call_soon(modal)
    loop.call_soon(ran.append, "after")  # in the outer batch, run by the nested loop instead
    await until(lambda: len(ran) == 2, what="the modal to close")  # polls on a timer, not the queue
    assert ran == ["after", "modal closed"]


async def test_debug_mode_rejects_what_asyncio_rejects() -> None:
    loop = console_loop()
    loop.set_debug(True)
    try:
        with pytest.raises(TypeError, match="coroutines cannot be used"):
            loop.call_soon(test_debug_mode_rejects_what_asyncio_rejects)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="must be callable"):
            loop.call_soon(42)  # type: ignore[arg-type]
    finally:
        loop.set_debug(False)


def test_closing_drops_what_was_queued(qapp) -> None:
    loop = ConsoleLoop(qapp)
    ran: list[str] = []
    loop.call_soon(ran.append, "never")
    loop.close()
    QEventLoop().processEvents()
    assert ran == []
    assert loop.is_closed()


async def test_timers_fire_in_time_order_and_not_before_they_are_due() -> None:
    loop = console_loop()
    fired: list[tuple[str, float]] = []
    done = asyncio.Event()
    start = loop.time()
    loop.call_later(0.06, lambda: (fired.append(("last", loop.time())), done.set()))
    loop.call_later(0.02, lambda: fired.append(("first", loop.time())))
    loop.call_at(start + 0.04, lambda: fired.append(("middle", loop.time())))
    loop.call_at(start - 1.0, lambda: fired.append(("past", loop.time())))  # due at once
    await asyncio.wait_for(done.wait(), 5)
    assert [name for name, _ in fired] == ["past", "first", "middle", "last"]
    due = {"first": 0.02, "middle": 0.04, "last": 0.06}
    for name, at in fired[1:]:
        assert at - start >= due[name], f"{name} fired {at - start:.4f} s after the start"


async def test_cancelled_timers_never_fire_and_the_heap_is_compacted() -> None:
    loop = console_loop()
    fired: list[int] = []
    done = asyncio.Event()
    far = [loop.call_later(60 + n, fired.append, n) for n in range(300)]
    near = [loop.call_later(0.01 * (n % 5), fired.append, 1000 + n) for n in range(20)]
    loop.call_later(0.08, done.set)
    for timer in far:
        timer.cancel()  # over half of the heap: rebuilt without them
    near[3].cancel()
    await asyncio.wait_for(done.wait(), 5)
    assert sorted(fired) == [1000 + n for n in range(20) if n != 3]
    kept = sum(timer.cancelled() for timer in loop._timers)
    assert kept <= 100, f"{kept} cancelled timers kept: the heap must be rebuilt, as asyncio's is"


async def test_a_timeout_still_times_out() -> None:
    never = asyncio.get_running_loop().create_future()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(never, 0.05)
    assert never.cancelled()


def test_closing_drops_the_timers_too(qapp) -> None:
    loop = ConsoleLoop(qapp)
    ran: list[str] = []
    timer = loop.call_later(0, ran.append, "never")
    loop.close()
    QEventLoop().processEvents()
    assert ran == []
    assert not timer.cancelled(), "dropped with the loop, not cancelled by anyone"


async def test_work_from_a_thread_comes_back_through_the_loop() -> None:
    """`asyncio.to_thread` (the journal's checkpoint uses it): qasync's executor and its
    thread-safe call_soon hand the result back to this loop."""
    assert await asyncio.wait_for(asyncio.to_thread(sum, range(10)), 5) == 45

"""The console's process: QApplication, the qasync loop, the lifetime, and the one exception hook.

Runtime services run on the asyncio loop inside Qt (qasync). Shutdown is an `asyncio.Event`, never
`app.quit()` while the loop runs (research/qt-stack.md: that tears the loop down under the coroutine).
For the same reason Qt's own "quit when the last window closes" is off: closing the window asks (when
positions are open or accounts unlocked) and then sets the stop event; with a tray it would hide instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, TextIO

os.environ.setdefault("QT_API", "pyside6")  # qasync: pick PySide6 whatever else is installed

from PySide6.QtCore import (
    QMessageLogContext,
    QObject,
    QSize,
    Qt,
    QtMsgType,
    Signal,
    qInstallMessageHandler,
)
from PySide6.QtWidgets import QApplication, QMessageBox, QSystemTrayIcon

from propdesk.config.model import AlertSettings, Config
from propdesk.domain.guard import GuardState
from propdesk.runtime.control import AlreadyRunning
from propdesk.runtime.engine import Runtime
from propdesk.runtime.notices import Level
from propdesk.ui import theme
from propdesk.ui.alerts import ConsoleAlerts, console_channels
from propdesk.ui.bridge import Frame
from propdesk.ui.loop import ConsoleLoop
from propdesk.ui.main_window import MainWindow
from propdesk.ui.settings_flow import SettingsFlow, SettingsSource
from propdesk.ui.tray import ConsoleTray

log = logging.getLogger(__name__)

SMOKE_WAIT = 10.0  # real seconds the smoke run waits for every account's first numbers
SMOKE_SIZE = QSize(1366, 768)  # the smaller of the two screens the console must fit
# Qt messages a smoke run tolerates (offscreen and Xvfb have no tray host).
QT_NOISE = ("QPlatformNativeInterface::systemTrayWindowChanged",)


class Workspace(Protocol):
    """What the console runs: a runtime and the services around it (the demo, or the settings')."""

    runtime: Runtime
    label: str
    is_demo: bool
    alert_settings: AlertSettings | None  # None: the default channels (no phone)

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def close(self) -> None: ...

    def alerts_at_open(self) -> list[str]: ...


class WorkspaceSource(SettingsSource, Protocol):
    """Where the settings live and how the next workspace is made once they are saved."""

    def configured(self, config: Config) -> Workspace: ...

    def demo(self) -> Workspace: ...


@dataclass(frozen=True, slots=True)
class Options:
    smoke: bool = False
    run_for: float | None = None  # real seconds; None: until the user quits
    until_states: frozenset[GuardState] = frozenset()  # smoke: render once all of these are shown
    size: QSize | None = None
    screenshot: Path | None = None


def create_app(argv: list[str] | None = None) -> QApplication:
    """The one QApplication, themed. Qt's quit-on-last-window-closed is off (see the module doc)."""
    app = QApplication.instance()
    if app is None:
        app = QApplication(argv if argv is not None else sys.argv[:1])
    assert isinstance(app, QApplication)
    app.setApplicationName("propdesk")
    app.setApplicationDisplayName("propdesk")
    app.setQuitOnLastWindowClosed(False)
    theme.apply(app)
    return app


class ErrorHook(QObject):
    """Uncaught errors from Qt slots, threads and asyncio tasks: logged, counted, shown. Never silent."""

    reported = Signal(
        str, str
    )  # (summary, details): queued onto the GUI thread when raised elsewhere

    def __init__(self, *, show: bool, err: TextIO) -> None:
        super().__init__()
        self.errors: list[str] = []
        self._show_dialogs = show
        self._err = err
        self._dialogs: list[QMessageBox] = []
        self._saved: tuple[Any, Any] | None = None
        self.reported.connect(self._show)

    def install(self) -> None:
        self._saved = (sys.excepthook, threading.excepthook)
        sys.excepthook = self.excepthook
        threading.excepthook = self.thread_hook

    def uninstall(self) -> None:
        if self._saved is not None:
            sys.excepthook, threading.excepthook = self._saved
            self._saved = None
        for box in self._dialogs:
            box.close()
        self._dialogs.clear()

    def excepthook(
        self,
        kind: type[BaseException],
        error: BaseException,
        tb: TracebackType | None,
    ) -> None:
        if issubclass(kind, KeyboardInterrupt):
            sys.__excepthook__(kind, error, tb)
            return
        details = "".join(traceback.format_exception(kind, error, tb))
        self._report(f"{kind.__name__}: {error}", details)

    def thread_hook(self, args: threading.ExceptHookArgs) -> None:
        if args.exc_value is None:
            return
        self.excepthook(args.exc_type, args.exc_value, args.exc_traceback)

    def loop_handler(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        error = context.get("exception")
        message = str(context.get("message", "asyncio error"))
        if isinstance(error, BaseException):
            details = "".join(traceback.format_exception(error))
            self._report(f"{message}: {type(error).__name__}: {error}", details)
        else:
            self._report(message, repr(context))

    def _report(self, summary: str, details: str) -> None:
        log.error("unexpected error: %s\n%s", summary, details)
        self.errors.append(summary)
        with contextlib.suppress(Exception):
            self._err.write(f"propdesk: unexpected error: {summary}\n{details}")
            self._err.flush()
        self.reported.emit(summary, details)

    def _show(self, summary: str, details: str) -> None:
        if not self._show_dialogs or QApplication.instance() is None:
            return
        box = QMessageBox(
            QMessageBox.Icon.Critical,
            "propdesk: unexpected error",
            f"{summary}\n\nThe risk services keep running; the details are in the log.",
        )
        box.setDetailedText(details)
        box.setModal(False)
        box.show()
        self._dialogs.append(box)


def show_box(icon: QMessageBox.Icon, title: str, text: str) -> QMessageBox:
    """A message box that blocks nothing: never `exec()` (a nested event loop under qasync)."""
    box = QMessageBox(icon, title, text)
    box.setModal(False)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.show()
    _open_boxes.add(box)
    box.finished.connect(lambda _r: _open_boxes.discard(box))
    return box


_open_boxes: set[QMessageBox] = set()  # shown, not yet closed: kept from the garbage collector


def startup_error(title: str, text: str) -> None:
    """Say why the console cannot start where the trader looks: a window (stderr has it too)."""
    app = create_app()
    if app.platformName() in ("offscreen", "minimal"):
        return
    box = QMessageBox(QMessageBox.Icon.Critical, title, text)
    box.exec()


def run(
    workspace: Workspace,
    options: Options,
    *,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
    workspaces: WorkspaceSource | None = None,
) -> int:
    """Run the console on `workspace` until the user quits (or the smoke frame is rendered).

    With `workspaces`, the window offers the settings; saving them moves the console to the new
    workspace (leaving the demo, or re-reading the accounts).
    """
    if options.smoke:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    qt_warnings: list[str] = []
    previous_handler = None
    if options.smoke:
        # Like qutebrowser's smoke test: a Qt warning (a missing font, plugin, library) fails it.
        def on_qt_message(kind: QtMsgType, _context: QMessageLogContext, message: str) -> None:
            if kind in (QtMsgType.QtDebugMsg, QtMsgType.QtInfoMsg):
                return
            if not any(noise in message for noise in QT_NOISE):
                qt_warnings.append(message)
                err.write(f"qt: {message}\n")

        previous_handler = qInstallMessageHandler(on_qt_message)
    app = create_app()
    offscreen = app.platformName() in ("offscreen", "minimal")
    hook = ErrorHook(show=not offscreen, err=err)
    hook.install()
    try:
        code = asyncio.run(
            _main(app, workspace, options, hook, out, err, workspaces),
            loop_factory=lambda: ConsoleLoop(app),
        )
    finally:
        hook.uninstall()
        if options.smoke:
            qInstallMessageHandler(previous_handler)
    if options.smoke and (hook.errors or qt_warnings):
        err.write(
            f"propdesk --smoke: {len(hook.errors)} unexpected error(s), "
            f"{len(qt_warnings)} Qt warning(s)\n"
        )
        return 1
    return code


async def _main(
    app: QApplication,
    workspace: Workspace,
    options: Options,
    hook: ErrorHook,
    out: TextIO,
    err: TextIO,
    workspaces: WorkspaceSource | None,
) -> int:
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(hook.loop_handler)
    stop = asyncio.Event()
    app.aboutToQuit.connect(stop.set)  # the OS or the session asks the application to quit
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
    try:
        current = workspace
        while True:
            ended = await _console(app, current, options, stop, out, err, workspaces)
            if isinstance(ended, int):
                return ended
            # The settings were saved and the user chose to apply them: the old workspace is
            # fully stopped (journal closed, socket released) before the next one is built.
            assert workspaces is not None
            try:
                current = workspaces.configured(ended)
            except Exception as exc:
                log.exception("the new settings could not be started")
                err.write(f"propdesk: the new settings could not be started: {exc}\n")
                # Not modal: the demo's window comes up beside it and its FLATTEN ALL stays live.
                show_box(
                    QMessageBox.Icon.Critical,
                    "propdesk: settings not applied",
                    f"The new settings could not be started:\n{exc}\n\n"
                    "The console goes back to the demo; no account of yours is watched.",
                )
                current = workspaces.demo()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.remove_signal_handler(sig)
        with contextlib.suppress(RuntimeError, TypeError):
            app.aboutToQuit.disconnect(stop.set)


async def _console(
    app: QApplication,
    workspace: Workspace,
    options: Options,
    stop: asyncio.Event,
    out: TextIO,
    err: TextIO,
    workspaces: WorkspaceSource | None = None,
) -> int | Config:
    """Run one workspace's window; returns the exit code, or the settings to run next."""
    try:
        await workspace.start()
    except AlreadyRunning as exc:
        err.write(f"propdesk: {exc}\n")
        if app.platformName() not in ("offscreen", "minimal"):
            box = show_box(QMessageBox.Icon.Critical, "propdesk is already running", str(exc))
            closed = asyncio.get_running_loop().create_future()
            box.finished.connect(lambda _r: closed.done() or closed.set_result(None))
            await closed
        return 1
    window: MainWindow | None = None
    tray: ConsoleTray | None = None
    alerts: ConsoleAlerts | None = None
    try:
        window = MainWindow(
            workspace.runtime,
            label=workspace.label,
            has_tray=QSystemTrayIcon.isSystemTrayAvailable(),  # none offscreen nor on bare Xvfb
            demo=workspace.is_demo,
            settings=workspaces is not None,
        )
        window.quit_requested.connect(stop.set)
        if window.has_tray:
            tray = ConsoleTray.for_window(window)  # its Quit asks, as closing does, then `stop`
            tray.show()
        audible = app.platformName() not in ("offscreen", "minimal")
        alerts = ConsoleAlerts(
            window, console_channels(workspace.alert_settings, audible=audible), tray=tray
        )
        await alerts.start()
        flow = (
            SettingsFlow(window, demo=workspace.is_demo, source=workspaces)
            if workspaces is not None
            else None
        )
        _place(window, app, options.size or (SMOKE_SIZE if options.smoke else None))
        window.show()
        window.start()
        for line in workspace.alerts_at_open():
            window.banner.show_text(Level.CRITICAL, line)
        if options.smoke:
            return await _smoke(window, workspace.runtime, options, out, err)
        waits = [asyncio.ensure_future(stop.wait())]
        if flow is not None:
            waits.append(asyncio.ensure_future(flow.apply.wait()))
        try:
            await asyncio.wait(waits, timeout=options.run_for, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiting in waits:
                waiting.cancel()
            await asyncio.gather(*waits, return_exceptions=True)
        if flow is not None and flow.chosen is not None and not stop.is_set():
            return flow.chosen
        return 0
    finally:
        # Drawing stops first; flattens the window started finish; then the services stop.
        if window is not None:
            window.stop()
            await window.settle()
        await workspace.stop()
        if alerts is not None:
            await alerts.stop()
        if tray is not None:
            tray.close()
        if window is not None:
            window.close_for_good()
        for line in workspace.close():
            err.write(f"{line}\n")


def _place(window: MainWindow, app: QApplication, size: QSize | None) -> None:
    if size is not None:
        window.setMinimumSize(min(size.width(), 1000), min(size.height(), 640))
        window.resize(size)
        return
    screen = app.primaryScreen()
    if screen is None:
        window.resize(1600, 960)
        return
    area = screen.availableGeometry()
    window.resize(min(1600, area.width()), min(1000, area.height()))


async def _until(predicate: Callable[[], bool], timeout: float) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() >= deadline:
            return False
        await asyncio.sleep(0.05)
    return True


async def _frame_showing(
    window: MainWindow, runtime: Runtime, wanted: frozenset[GuardState], timeout: float | None
) -> Frame | None:
    """A drawn frame whose accounts show every wanted state at once (README screenshots).

    The states are checked on the frame itself, after the layout settled, so the picture shows
    what was asked for, not what held 50 ms earlier."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + (timeout or SMOKE_WAIT)
    while loop.time() < deadline:
        if wanted <= {a.risk.status.state for a in runtime.accounts.values()}:
            window.bridge.tick()
            await asyncio.sleep(0.05)  # let layouts settle after the texts changed
            frame = window.bridge.tick()
            if wanted <= {view.state for view in frame.views.values()}:
                return frame
        await asyncio.sleep(0.02)
    return None


async def _smoke(
    window: MainWindow, runtime: Runtime, options: Options, out: TextIO, err: TextIO
) -> int:
    """Run until every account has numbers (and `run_for` passed), render one frame, report it."""
    if not await _until(
        lambda: all(a.risk.view().ts is not None for a in runtime.accounts.values()), SMOKE_WAIT
    ):
        err.write("propdesk --smoke: the accounts got no market data in time\n")
        return 1
    if options.until_states:
        frame = await _frame_showing(window, runtime, options.until_states, options.run_for)
        if frame is None:
            names = ", ".join(sorted(s.name for s in options.until_states))
            err.write(f"propdesk --smoke: the accounts never showed {names} together in time\n")
            return 1
    else:
        if options.run_for:
            await asyncio.sleep(options.run_for)
        frame = window.bridge.tick()
        await asyncio.sleep(0.05)  # let layouts settle after the last texts changed
    image = window.grab()
    if image.isNull() or image.width() < 100 or image.height() < 100:
        err.write("propdesk --smoke: the window rendered nothing\n")
        return 1
    if options.screenshot is not None and not image.save(str(options.screenshot)):
        err.write(f"propdesk --smoke: could not write {options.screenshot}\n")
        return 1
    states = ", ".join(
        f"{key} {view.state.name}" for key, view in frame.views.items() if view is not None
    )
    locked = sum(1 for v in frame.views.values() if v.state is GuardState.LOCKED)
    out.write(
        f"propdesk --smoke: rendered {image.width()}x{image.height()} "
        f"({QApplication.instance().platformName()}), {len(frame.views)} accounts ({states}), "
        f"{locked} locked" + (f", saved {options.screenshot}" if options.screenshot else "") + "\n"
    )
    out.flush()
    return 0

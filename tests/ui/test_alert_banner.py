"""The alert banner never moves the layout; repeats coalesce; the day's alerts are in a panel.

Issue 13: the banner (0–4 lines) pushed the cards and the chart down by 35–70 px as alerts came and
went, and a click missed because of it; its history was a tooltip of 12 lines with a counter that
reset. The window here is built on the demo's runtime without starting it: nothing but the alerts
given here changes what is drawn.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QPoint, QRect, Qt
from PySide6.QtWidgets import QApplication, QDialog, QWidget

from propdesk.app import build_demo_workspace
from propdesk.runtime.notices import Alert, Level
from propdesk.ui.alert_history import ALERT, COUNT, LEVEL_CHOICES, AlertHistoryPanel
from propdesk.ui.banner import IDLE_TEXT
from propdesk.ui.main_window import MainWindow

pytestmark = pytest.mark.timeout(60)

TS = "sim:TS-50K"
APEX = "sim:APEX-50K"
NOW = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)  # 09:00 CT, a Tuesday
LONG = (
    "daily loss limit reached: equity 47,612.25 ≤ day floor 47,650.00 — the firm ends the "
    "account on this breach; cancelling every order, closing every position, verifying flat, "
    "then locking until a confirmed unlock. " * 3
)


@contextlib.asynccontextmanager
async def still_window(tmp_path: Path, qtbot: Any) -> AsyncIterator[MainWindow]:
    """The demo's window, its runtime started (accounts, cards) but deaf to it: no frames, no
    notices. Only the alerts a test gives the banner change anything."""
    workspace = build_demo_workspace(
        speed=1.0, seed=7, journal=tmp_path / "journal.sqlite", control_path=None
    )
    await workspace.start()
    window = MainWindow(workspace.runtime, label=workspace.label)
    window.bridge.stop()
    qtbot.addWidget(window)
    try:
        assert set(window.cards) >= {TS, APEX}
        yield window
    finally:
        await workspace.stop()
        window.close_for_good()
        workspace.close()


def _placed(widget: QWidget, window: QWidget) -> QRect:
    """Where `widget` is inside the window."""
    return QRect(widget.mapTo(window, QPoint(0, 0)), widget.size())


def _layout(window: MainWindow) -> dict[str, Any]:
    QApplication.processEvents()
    places = {
        "cards": _placed(window.card_grid, window),
        "scroll": _placed(window.scroll, window),
        "chart": _placed(window.chart, window),
        "banner": _placed(window.banner, window),
    }
    for key, card in window.cards.items():
        places[key] = _placed(card, window)
        places[f"{key} FLATTEN"] = _placed(card.flatten_button, window)
    return places


def _alert(
    level: Level, text: str, account: str | None = TS, at: float = 0.0, base: datetime = NOW
) -> Alert:
    return Alert(base + timedelta(seconds=at), level, text, account)


@pytest.mark.parametrize("size", [(1920, 1080), (1366, 768)])
async def test_alerts_never_move_the_cards_or_the_chart(tmp_path, qtbot, size) -> None:
    async with still_window(tmp_path, qtbot) as window:
        window.resize(*size)
        window.show()
        qtbot.waitExposed(window)
        idle = _layout(window)
        assert window.banner.isVisible(), "the strip is always there, idle too"
        assert window.banner.label.text() == IDLE_TEXT

        alerts = [
            _alert(Level.INFO, "connection restored", None, 1),
            _alert(Level.WARNING, "warning: day loss 500.00 = 50% of the 1000.00 limit", TS, 2),
            _alert(Level.WARNING, "reduce-only: day loss 650.00 = 65% of the limit", APEX, 3),
            _alert(Level.CRITICAL, LONG, APEX, 4),
        ]
        for alert in alerts:
            window.banner.show_alert(alert)
            assert _layout(window) == idle, f"moved by: {alert.text[:40]}"
        assert window.banner.shown is not None
        assert window.banner.shown.level is Level.CRITICAL
        assert window.banner.label.toolTip().endswith(LONG), "the full text is in the tooltip"

        window.banner.show_text(
            Level.WARNING, "Flattening every account: cancel, close, verify flat…"
        )
        window.banner.clear()
        assert _layout(window) == idle
        assert window.banner.label.text() == "No current alert"


async def test_a_long_alert_is_one_elided_line(tmp_path, qtbot) -> None:
    async with still_window(tmp_path, qtbot) as window:
        window.resize(1366, 768)
        window.show()
        qtbot.waitExposed(window)
        height = window.banner.height()
        window.banner.show_alert(_alert(Level.CRITICAL, LONG))
        QApplication.processEvents()
        assert window.banner.height() == height
        label = window.banner.label
        assert label.height() < 2 * label.fontMetrics().height(), "one line"
        assert window.banner.width() <= window.width(), "no wider than the window"


async def test_repeats_show_once_with_a_count(tmp_path, qtbot) -> None:
    async with still_window(tmp_path, qtbot) as window:
        banner = window.banner
        for i in range(5):
            # A warning's figures move with every mark: still the same warning.
            banner.show_alert(
                _alert(Level.WARNING, f"warning: day loss {500 + i}.25 = 50%", TS, 10 * i)
            )
        assert banner.count.text() == "×5"
        assert "day loss 504.25" in banner.label.text(), "the newest figures are shown"
        assert len(banner.log.entries) == 1
        assert banner.history_button.text() == "History (1)"
        # A critical alert of a new kind is never folded into anything and shows at once.
        banner.show_alert(_alert(Level.CRITICAL, "NOT FLAT: 1 position(s) left", TS, 45))
        assert banner.shown is not None
        assert banner.shown.level is Level.CRITICAL
        assert banner.count.text() == ""
        banner.show_alert(_alert(Level.CRITICAL, "NOT FLAT: 2 position(s) left", TS, 46))
        assert len(banner.log.entries) == 3, "a critical repeats only word for word"
        # Past the window (60 s after the last one) the same warning is a new line.
        banner.show_alert(_alert(Level.WARNING, "warning: day loss 530.00 = 53%", TS, 40 + 61))
        assert len(banner.log.entries) == 4
        assert banner.history_button.text() == "History (4)"


async def test_the_history_counter_keeps_the_day_and_rolls_at_17_ct(tmp_path, qtbot) -> None:
    async with still_window(tmp_path, qtbot) as window:
        banner = window.banner
        for i in range(20):
            banner.show_alert(_alert(Level.WARNING, f"alert number {chr(65 + i)}", TS, i))
        banner.clear()
        assert banner.history_button.text() == "History (20)", "dismissing keeps the day's alerts"
        assert len(list(banner.recent)) == 20, "not only the latest 12"
        before_roll = NOW.replace(hour=22, minute=59)  # 16:59 CT
        banner.show_alert(Alert(before_roll, Level.INFO, "still today", None))
        assert banner.history_button.text() == "History (21)"
        banner.show_alert(Alert(before_roll + timedelta(minutes=2), Level.INFO, "tomorrow", None))
        assert banner.history_button.text() == "History (1)"


@pytest.mark.qt_log_ignore("This plugin does not support raise")  # offscreen: no window manager
async def test_the_history_panel_is_non_modal_and_filters(tmp_path, qtbot) -> None:
    async with still_window(tmp_path, qtbot) as window:
        banner = window.banner
        now = window.runtime.clock.now()  # the banner rolls its day on the runtime's clock
        banner.show_alert(_alert(Level.WARNING, "warning: day loss 500.00 = 50%", TS, 1, now))
        banner.show_alert(_alert(Level.WARNING, "warning: day loss 510.00 = 51%", TS, 2, now))
        banner.show_alert(_alert(Level.CRITICAL, "NOT FLAT: still 1 position", APEX, 3, now))
        banner.show_alert(_alert(Level.INFO, "journal writable again", None, 4, now))
        window.resize(1366, 768)
        window.show()
        qtbot.mouseClick(banner.history_button, Qt.MouseButton.LeftButton)
        panel = banner.history
        assert isinstance(panel, AlertHistoryPanel)
        assert isinstance(panel, QDialog)
        assert panel.isVisible()
        assert not panel.isModal()
        assert panel.windowModality() is Qt.WindowModality.NonModal
        assert QApplication.activeModalWidget() is None

        model = panel.model
        assert model.rowCount() == 3, "the two warnings are one line"
        texts = [model.rows[r].text for r in range(model.rowCount())]
        assert texts[0] == "journal writable again", "newest first"
        warning_row = texts.index("warning: day loss 510.00 = 51%")
        assert model.index(warning_row, COUNT).data() == "×2"

        panel.level_filter.setCurrentIndex(
            [label for label, _ in LEVEL_CHOICES].index("Critical only")
        )
        assert [e.text for e in model.rows] == ["NOT FLAT: still 1 position"]
        panel.level_filter.setCurrentIndex(0)
        panel.account_filter.setCurrentIndex(panel.account_filter.findData(TS))
        assert {e.account for e in model.rows} == {TS}
        panel.account_filter.setCurrentIndex(0)
        panel.text_filter.setText("JOURNAL")
        assert [model.index(0, ALERT).data()] == ["journal writable again"]
        panel.text_filter.clear()

        # The window stays usable: a new alert reaches the open panel on the next frame tick.
        banner.show_alert(_alert(Level.WARNING, "a fresh one", TS, 5, now))
        banner.expire()
        assert model.rows[0].text == "a fresh one"
        assert "exchange time (CT)" in panel.summary.text()
        panel.close()


async def test_the_windows_own_answer_replaces_a_warning_never_a_critical(tmp_path, qtbot) -> None:
    async with still_window(tmp_path, qtbot) as window:
        banner = window.banner
        now = window.runtime.clock.now()  # the window's own messages are timed by this clock
        banner.show_alert(
            _alert(Level.WARNING, "flat; locked until a confirmed unlock", TS, 1, now)
        )
        banner.show_text(Level.INFO, "Flatten of every account: 3 of 3 verified flat and locked.")
        assert "verified flat" in banner.label.text()
        banner.show_alert(_alert(Level.CRITICAL, "NOT FLAT: still 1 position", APEX, 2, now))
        banner.show_text(Level.INFO, "Topstep 50K unlocked: now ACTIVE.")
        assert "NOT FLAT" in banner.label.text(), "a critical stays until dismissed"
        assert banner.history_button.text() == "History (4)", "the rest is in the history"

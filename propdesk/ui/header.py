"""The header: broker links, the exchange and local clocks, the countdown to the next flat-by cutoff."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from propdesk.brokers.base import LinkState
from propdesk.domain.schedule import CalendarSchedule
from propdesk.runtime.engine import Runtime
from propdesk.ui import text, theme
from propdesk.ui.bridge import Frame

_LINK_COLOURS = {
    LinkState.CONNECTED: ("#1f8f4e", "#ffffff"),
    LinkState.DISCONNECTED: (theme.DANGER, "#ffffff"),
    LinkState.SILENT: (theme.DANGER, "#ffffff"),
    LinkState.FORCED_LOGOUT: (theme.DANGER, "#ffffff"),
    LinkState.TOKEN_REVOKED: (theme.DANGER, "#ffffff"),
}
_CAPTION = f'<span style="font-size: {theme.BASE_PT}pt; color: {theme.TEXT_DIM};">'
_RECHECK = timedelta(
    seconds=1
)  # the calendar is asked about cutoffs at most this often (real time)


@dataclass(frozen=True, slots=True)
class NextCutoff:
    """The soonest flat-by cutoff over all accounts (the user's buffer already taken off)."""

    at: datetime
    firm_time: datetime | None
    buffer: timedelta
    account: str
    name: str


def next_cutoff(runtime: Runtime, now: datetime) -> NextCutoff | None:
    """Ask each account's schedule (its firm's flat-by rule and the user's buffer) for its next cutoff."""
    best: NextCutoff | None = None
    for key, account in runtime.accounts.items():
        schedule = account.risk.guard.schedule
        if not isinstance(schedule, CalendarSchedule):
            continue
        status = schedule.status(now)
        if status.next_cutoff is None:
            continue
        if best is not None and best.at <= status.next_cutoff:
            continue
        window = schedule.cutoff_window(now)
        firm = window[2] if window is not None and window[0] == status.next_cutoff else None
        best = NextCutoff(
            status.next_cutoff,
            firm,
            account.setup.protocol.cutoff_buffer,
            key,
            account.setup.name or key,
        )
    return best


class Header(QFrame):
    def __init__(self, runtime: Runtime, label: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("header")
        self._runtime = runtime

        row = QHBoxLayout(self)
        row.setContentsMargins(16, 8, 16, 8)
        row.setSpacing(20)

        # Who and what: the product, the workspace, one pill per broker link.
        brand = QVBoxLayout()
        brand.setSpacing(4)
        names = QHBoxLayout()
        names.setSpacing(10)
        title = QLabel("propdesk")
        title.setFont(theme.font(theme.TITLE_PT + 2, bold=True))
        self.workspace = QLabel(label)
        self.workspace.setProperty("role", "dim")
        self.workspace.setFont(theme.font(theme.SMALL_PT, bold=True))
        self.workspace.setToolTip("The built-in simulator: no real account is connected.")
        names.addWidget(title)
        names.addWidget(self.workspace, 0, Qt.AlignmentFlag.AlignBottom)
        names.addStretch(1)
        brand.addLayout(names)
        links = QHBoxLayout()
        links.setSpacing(6)
        self.link_labels: dict[str, QLabel] = {}
        for name in runtime.brokers:
            pill = QLabel(name)
            pill.setObjectName("link")
            pill.setFont(theme.font(theme.BASE_PT, bold=True))
            self.link_labels[name] = pill
            links.addWidget(pill)
        links.addStretch(1)
        brand.addLayout(links)
        row.addLayout(brand, 1)

        # The exchange clock, big; the date, the local clock and the clock speed under it.
        clock = QVBoxLayout()
        clock.setSpacing(0)
        self.exchange_clock = QLabel("--:--:-- CT")
        self.exchange_clock.setFont(theme.font(theme.CLOCK_PT, bold=True, mono=True))
        self.exchange_clock.setToolTip("Exchange time (America/Chicago)")
        self.local_clock = QLabel("")
        self.local_clock.setProperty("role", "dim")
        self.local_clock.setFont(theme.font(theme.SMALL_PT))
        clock.addWidget(self.exchange_clock, 0, Qt.AlignmentFlag.AlignHCenter)
        clock.addWidget(self.local_clock, 0, Qt.AlignmentFlag.AlignHCenter)
        row.addLayout(clock)

        # The countdown to the next flat-by cutoff, big; which account and the buffer under it.
        cutoff = QVBoxLayout()
        cutoff.setSpacing(0)
        self.countdown = QLabel("")
        self.countdown.setTextFormat(Qt.TextFormat.RichText)
        self.countdown.setFont(theme.font(theme.CLOCK_PT, bold=True, mono=True))
        self.cutoff_detail = QLabel("")
        self.cutoff_detail.setProperty("role", "dim")
        self.cutoff_detail.setFont(theme.font(theme.SMALL_PT))
        cutoff.addWidget(self.countdown, 0, Qt.AlignmentFlag.AlignHCenter)
        cutoff.addWidget(self.cutoff_detail, 0, Qt.AlignmentFlag.AlignHCenter)
        row.addLayout(cutoff)
        self._countdown_colour = ""

        row.addStretch(1)
        self._row = row

    def add_right(self, widget: QWidget) -> None:
        """The always-visible FLATTEN ALL button lives at the header's right end."""
        self._row.addWidget(widget, 0, Qt.AlignmentFlag.AlignVCenter)

    # ------------------------------------------------------------------------------------------
    def refresh(self, frame: Frame) -> None:
        now = frame.now
        self._set(self.exchange_clock, text.ct_time(now, seconds=True))
        local = now.astimezone()
        speed = getattr(self._runtime.clock, "speed", 1.0)
        simulated = f" · simulated ×{speed:g}" if speed != 1 else ""
        self._set(
            self.local_clock,
            f"{now.astimezone(text.CT):%a %d %b} · local {local:%H:%M:%S}{simulated}",
        )
        for name, pill in self.link_labels.items():
            supervisor = self._runtime.supervisors.get(name)
            state = supervisor.state if supervisor is not None else LinkState.DISCONNECTED
            word = "connected" if state is LinkState.CONNECTED else state.value.replace("_", " ")
            label = f"● {name}: {word}"
            if pill.text() != label:
                pill.setText(label)
                background, foreground = _LINK_COLOURS[state]
                pill.setStyleSheet(f"background: {background}; color: {foreground};")
                detail = supervisor.detail if supervisor is not None else "not started"
                pill.setToolTip(detail or word)
        self._refresh_cutoff(now)

    def _refresh_cutoff(self, now: datetime) -> None:
        # Asked every frame: the schedules cache their windows (measured ~0.03 ms for 3 accounts).
        cutoff = next_cutoff(self._runtime, now)
        if cutoff is None:
            self._set(self.countdown, f"{_CAPTION}cutoff </span>{text.DASH}")
            self._set(self.cutoff_detail, "no flat-by cutoff ahead")
            return
        left = cutoff.at - now
        self._set(self.countdown, f"{_CAPTION}cutoff in </span>{text.span(left)}")
        minutes = int(cutoff.buffer.total_seconds() // 60)
        firm = (
            f" (firm {text.ct_time(cutoff.firm_time)} − {minutes} min)"
            if cutoff.firm_time is not None
            else ""
        )
        self._set(self.cutoff_detail, f"{cutoff.name} · {text.ct_time(cutoff.at)}{firm}")
        self.cutoff_detail.setToolTip(
            f"{cutoff.name} must be flat by {text.ct_time(cutoff.at)}: the firm's flat-by "
            f"{'' if cutoff.firm_time is None else text.ct_time(cutoff.firm_time)} minus your "
            f"{minutes}-minute buffer."
        )
        colour = theme.BAD if left <= timedelta(minutes=10) else theme.TEXT
        if colour != self._countdown_colour:
            self._countdown_colour = colour
            self.countdown.setStyleSheet(f"color: {colour};")

    @staticmethod
    def _set(label: QLabel, value: str) -> None:
        if label.text() != value:
            label.setText(value)

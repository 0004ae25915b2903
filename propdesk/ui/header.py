"""The header: broker links, the exchange and local clocks, the countdowns to the next flat-by cutoff
and to the next news window."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from propdesk.brokers.base import LinkState
from propdesk.domain.news import NewsWindow, Restriction
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
CLOSE = timedelta(minutes=10)  # a countdown turns red this close to its moment
_RESTRICTION_WORDS = {Restriction.FLAT: "flat", Restriction.NO_EXECUTIONS: "no executions"}


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
        groups = account.risk.groups  # what it holds or has working: the earliest cutoff
        status = schedule.status(now, groups)
        if status.next_cutoff is None:
            continue
        if best is not None and best.at <= status.next_cutoff:
            continue
        window = schedule.cutoff_window(now, groups)
        firm = window[2] if window is not None and window[0] == status.next_cutoff else None
        best = NextCutoff(
            status.next_cutoff,
            firm,
            account.setup.protocol.cutoff_buffer,
            key,
            account.setup.name or key,
        )
    return best


@dataclass(frozen=True, slots=True)
class NextNews:
    """The news window that is open now, else the next to open, over all accounts."""

    window: NewsWindow
    accounts: tuple[str, ...]  # the names of the accounts it restricts

    def is_open(self, now: datetime) -> bool:
        return self.window.start <= now < self.window.end

    def detail(self) -> str:
        """Two lines: what and the restriction, then when: "Fed speaker (no executions)", "13:58–14:02 CT"."""
        w = self.window
        times = f"{text.ct_time(w.start).removesuffix(' CT')}–{text.ct_time(w.end)}"
        return f"{w.title} ({_RESTRICTION_WORDS[w.restriction]})\n{times}"


class NewsClock:
    """Finds the next news window; asks the accounts again only when the answer can have changed.

    Windows are fixed when the accounts are built, so the answer holds until the window it names
    opens or ends, an account joins, or the clock goes back. A year of news over 20 accounts is then
    scanned a few times a day, not ten times a second.
    """

    __slots__ = ("_accounts", "_answer", "_asked", "_runtime", "_valid_until")

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._answer: NextNews | None = None
        self._asked: datetime | None = None
        self._valid_until: datetime | None = None
        self._accounts = -1

    def next(self, now: datetime) -> NextNews | None:
        asked, until = self._asked, self._valid_until
        accounts = len(self._runtime.accounts)
        if (
            asked is not None
            and asked <= now
            and (until is None or now < until)
            and accounts == self._accounts
        ):
            return self._answer
        answer = next_news(self._runtime, now)
        self._asked = now
        self._accounts = accounts
        self._answer = answer
        if answer is None:
            self._valid_until = None
        else:
            w = answer.window
            self._valid_until = w.end if w.start <= now else w.start
        return answer


def next_news(runtime: Runtime, now: datetime) -> NextNews | None:
    """The open news window (the first to have opened), else the soonest to open, with its accounts."""
    best: NewsWindow | None = None
    for account in runtime.accounts.values():
        for window in account.risk.news_windows:  # sorted by start
            if window.end <= now:
                continue
            if best is None or (window.start, window.end) < (best.start, best.end):
                best = window
            break  # this account's later windows open no sooner
    if best is None:
        return None
    same = (best.start, best.end, best.title, best.restriction)
    names = tuple(
        account.setup.name or key
        for key, account in runtime.accounts.items()
        if any((w.start, w.end, w.title, w.restriction) == same for w in account.risk.news_windows)
    )
    return NextNews(best, names)


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
        if label.startswith("DEMO"):
            self.workspace.setToolTip("The built-in simulator: no real account is connected.")
        elif label == "LIVE":
            # Real money: the word stands out, not dimmed.
            self.workspace.setProperty("role", "")
            self.workspace.setStyleSheet(f"color: {theme.BAD};")
            self.workspace.setToolTip("A live connection is configured: real accounts.")
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
        # Shown only while records cannot reach the journal: a state, not a passing banner. On a
        # line of its own, so the header keeps its width at 1366 pixels.
        self.journal_label = QLabel("● journal: NOT WRITABLE")
        self.journal_label.setObjectName("link")
        self.journal_label.setFont(theme.font(theme.BASE_PT, bold=True))
        self.journal_label.setStyleSheet(f"background: {theme.BAD}; color: white;")
        self.journal_label.hide()
        brand.addWidget(self.journal_label, 0, Qt.AlignmentFlag.AlignLeft)
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
        self.local_clock.setAlignment(Qt.AlignmentFlag.AlignHCenter)
        clock.addWidget(self.exchange_clock, 0, Qt.AlignmentFlag.AlignHCenter)
        clock.addWidget(self.local_clock, 0, Qt.AlignmentFlag.AlignHCenter)
        row.addLayout(clock)

        # The countdowns, one row each: the next flat-by cutoff and the next news window, big; which
        # account, what and when beside each on two short lines (one long line would push FLATTEN ALL
        # off a 1366-wide header).
        countdowns = QGridLayout()
        countdowns.setHorizontalSpacing(10)
        countdowns.setVerticalSpacing(0)
        self.countdown, self.cutoff_detail = self._countdown_row(countdowns, 0)
        self.news_countdown, self.news_detail = self._countdown_row(countdowns, 1)
        row.addLayout(countdowns)
        self._countdown_colour = ""
        self._news_colour = ""
        self._news = NewsClock(runtime)

        row.addStretch(1)
        self._row = row

    @staticmethod
    def _countdown_row(grid: QGridLayout, row: int) -> tuple[QLabel, QLabel]:
        big = QLabel("")
        big.setTextFormat(Qt.TextFormat.RichText)
        big.setFont(theme.font(theme.CLOCK_PT, bold=True, mono=True))
        big.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        detail = QLabel("")
        detail.setProperty("role", "dim")
        detail.setFont(theme.font(theme.SMALL_PT))
        grid.addWidget(big, row, 0)
        grid.addWidget(detail, row, 1, Qt.AlignmentFlag.AlignVCenter)
        return big, detail

    def add_right(self, widget: QWidget) -> None:
        """The always-visible FLATTEN ALL button lives at the header's right end."""
        self._row.addWidget(widget, 0, Qt.AlignmentFlag.AlignVCenter)

    # ------------------------------------------------------------------------------------------
    def refresh(self, frame: Frame) -> None:
        now = frame.now
        self._set(self.exchange_clock, text.ct_time(now, seconds=True))
        local = now.astimezone()
        speed = getattr(self._runtime.clock, "speed", 1.0)
        simulated = f"\nsimulated ×{speed:g}" if speed != 1 else ""
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
        self._refresh_journal()
        self._refresh_cutoff(now)
        self._refresh_news(now)

    def _refresh_journal(self) -> None:
        journal = self._runtime.journal
        health = journal.health
        self.journal_label.setVisible(not health.writable)
        if not health.writable:
            tip = (
                f"Records cannot reach {journal.path}: {health.reason}. propdesk keeps acting "
                f"(flatten, cancel, lock); {journal.pending} record(s) wait in memory and are "
                "written when the file can be written again."
            )
            if self.journal_label.toolTip() != tip:
                self.journal_label.setToolTip(tip)

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
            f" (firm {text.ct_time(cutoff.firm_time).removesuffix(' CT')} − {minutes} min)"
            if cutoff.firm_time is not None
            else ""
        )
        self._set(self.cutoff_detail, f"{cutoff.name}\n{text.ct_time(cutoff.at)}{firm}")
        self.cutoff_detail.setToolTip(
            f"{cutoff.name} must be flat by {text.ct_time(cutoff.at)}: the firm's flat-by "
            f"{'' if cutoff.firm_time is None else text.ct_time(cutoff.firm_time)} minus your "
            f"{minutes}-minute buffer."
        )
        colour = theme.BAD if left <= CLOSE else theme.TEXT
        if colour != self._countdown_colour:
            self._countdown_colour = colour
            self.countdown.setStyleSheet(f"color: {colour};")

    def _refresh_news(self, now: datetime) -> None:
        news = self._news.next(now)
        if news is None:
            self._set(self.news_countdown, f"{_CAPTION}news </span>{text.DASH}")
            self._set(self.news_detail, "no news window ahead")
            self.news_detail.setToolTip("")
            self._news_colour_to(theme.TEXT)
            return
        window = news.window
        if news.is_open(now):
            self._set(
                self.news_countdown, f"{_CAPTION}news ends in </span>{text.span(window.end - now)}"
            )
            left = timedelta(0)
        else:
            left = window.start - now
            self._set(self.news_countdown, f"{_CAPTION}news in </span>{text.span(left)}")
        self._set(self.news_detail, news.detail())
        self.news_detail.setToolTip(
            f"{window.title}: {_RESTRICTION_WORDS[window.restriction]} from "
            f"{text.ct_time(window.start)} to {text.ct_time(window.end)} "
            f"({window.scope_text()}).\nAccounts: {', '.join(news.accounts)}."
        )
        self._news_colour_to(theme.BAD if left <= CLOSE else theme.TEXT)

    def _news_colour_to(self, colour: str) -> None:
        if colour != self._news_colour:
            self._news_colour = colour
            self.news_countdown.setStyleSheet(f"color: {colour};")

    @staticmethod
    def _set(label: QLabel, value: str) -> None:
        if label.text() != value:
            label.setText(value)

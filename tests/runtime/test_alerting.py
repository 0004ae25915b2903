"""Alerts: which notices become alert messages, the rate limit, and the phone channel over loopback HTTP."""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from fakes.http_recorder import HttpRecorder

from propdesk.app import build_demo_workspace
from propdesk.brokers.base import LinkState
from propdesk.config.model import AlertSettings
from propdesk.domain.events import Fill, Side
from propdesk.domain.guard import Action, ActionType, GuardState
from propdesk.domain.instruments import Contract
from propdesk.runtime.alerting import (
    AlertChannels,
    AlertMessage,
    AlertPolicy,
    PhoneChannel,
    ntfy_request,
)
from propdesk.runtime.control import FlattenScope
from propdesk.runtime.engine import Runtime
from propdesk.runtime.notices import (
    ActionTaken,
    Alert,
    FillBooked,
    FlattenFinished,
    Level,
    LinkChanged,
    Notice,
    StateChanged,
    Topic,
)

CT = ZoneInfo("America/Chicago")
TS = datetime(2026, 11, 24, 9, 30, tzinfo=CT)
ACCOUNT = "sim:TS-50K"
EQUITY, DAY_PNL = Decimal(48_700), Decimal(-1_300)  # the account at the notice
NAMES = {ACCOUNT: "Topstep 50K", "sim:APEX-50K": "Apex 50K"}
BROKERS = {"sim": [ACCOUNT, "sim:APEX-50K"]}


@dataclass
class FakeTime:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


def policy(clock: FakeTime | None = None, quiet: float = 60.0) -> AlertPolicy:
    return AlertPolicy(NAMES, brokers=BROKERS, quiet_seconds=quiet, monotonic=clock or FakeTime())


def link(state: LinkState, detail: str = "") -> LinkChanged:
    return LinkChanged(TS, "sim", state, detail)


def changed(old: GuardState, new: GuardState, reason: str = "daily loss 52% used") -> StateChanged:
    return StateChanged(TS, ACCOUNT, old, new, reason, EQUITY, DAY_PNL)


def flatten(rule: str, reason: str = "daily loss limit reached", account: str = ACCOUNT) -> Notice:
    return ActionTaken(TS, account, Action(ActionType.FLATTEN, reason, rule))


def finished(flat: bool, detail: str = "verified flat", account: str = ACCOUNT) -> FlattenFinished:
    return FlattenFinished(TS, account, flat, detail, 2)


# -- the policy: one notice at a time ------------------------------------------------------------
@pytest.mark.parametrize("state", [LinkState.DISCONNECTED, LinkState.SILENT])
def test_a_lost_link_is_critical_and_names_the_accounts_it_leaves_unwatched(state) -> None:
    message = policy()(link(state, "no frame for 9.1 s"))
    assert message is not None
    assert message.level is Level.CRITICAL
    assert message.title == "sim: connection lost"
    assert "no frame for 9.1 s" in message.body
    assert "Topstep 50K, Apex 50K" in message.body
    assert message.account is None
    assert not message.urgent
    assert not message.in_window  # the runtime's own Alert already reaches the banner


@pytest.mark.parametrize(
    ("state", "what"),
    [(LinkState.FORCED_LOGOUT, "forced logout"), (LinkState.TOKEN_REVOKED, "token revoked")],
)
def test_a_refused_session_is_critical_and_never_rate_limited(state, what) -> None:
    alerts = policy()
    first = alerts(link(state, "logged in elsewhere"))
    second = alerts(link(state, "logged in elsewhere"))
    assert first is not None
    assert second is not None
    assert first.level is Level.CRITICAL
    assert first.title == f"sim: {what}"
    assert "will not log in again by itself" in first.body
    assert first.urgent


def test_a_restored_link_is_an_all_clear_for_the_loss() -> None:
    alerts = policy()
    lost = alerts(link(LinkState.DISCONNECTED, "the event stream ended"))
    back = alerts(link(LinkState.CONNECTED, "reconnected after 3.2 s"))
    assert lost is not None
    assert back is not None
    assert back.level is Level.INFO
    assert back.title == "sim: connection restored"
    assert back.body == "reconnected after 3.2 s"
    assert back.resolves == (lost.key,)


@pytest.mark.parametrize(
    ("old", "new", "title"),
    [
        (GuardState.ACTIVE, GuardState.WARNING, "Topstep 50K: WARNING"),
        (GuardState.WARNING, GuardState.REDUCE_ONLY, "Topstep 50K: REDUCE ONLY"),
        (GuardState.ACTIVE, GuardState.REDUCE_ONLY, "Topstep 50K: REDUCE ONLY"),
    ],
)
def test_rising_to_warning_or_reduce_only_is_a_warning(old, new, title) -> None:
    message = policy()(changed(old, new, "daily loss 52% used: equity $49,480.00"))
    assert message is not None
    assert message.level is Level.WARNING
    assert message.title == title
    assert message.body == "daily loss 52% used: equity $49,480.00"
    assert message.account == ACCOUNT
    assert not message.in_window  # the guard's ALERT action reaches the banner as an Alert


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (GuardState.ACTIVE, GuardState.FLATTENING),
        (GuardState.WARNING, GuardState.FLATTENING),
        (GuardState.FLATTENING, GuardState.LOCKED),
        (GuardState.ACTIVE, GuardState.LOCKED),
    ],
)
def test_flattening_and_locked_are_announced_by_the_flatten_not_the_state(old, new) -> None:
    assert policy()(changed(old, new)) is None


def test_easing_is_quiet_information_that_clears_the_states_left() -> None:
    alerts = policy()
    warning = alerts(changed(GuardState.ACTIVE, GuardState.WARNING))
    reduce = alerts(changed(GuardState.WARNING, GuardState.REDUCE_ONLY))
    eased = alerts(changed(GuardState.REDUCE_ONLY, GuardState.ACTIVE, "back within all levels"))
    assert warning is not None
    assert reduce is not None
    assert eased is not None
    assert eased.level is Level.INFO
    assert eased.title == "Topstep 50K: eased to ACTIVE"
    assert set(eased.resolves) == {warning.key, reduce.key}
    to_warning = policy()(changed(GuardState.REDUCE_ONLY, GuardState.WARNING))
    assert to_warning is not None
    assert to_warning.resolves == (reduce.key,)


def test_an_unlock_says_the_strategy_may_trade_again() -> None:
    message = policy()(
        changed(GuardState.LOCKED, GuardState.ACTIVE, "lock (daily_loss) expired at 17:00 CT")
    )
    assert message is not None
    assert message.level is Level.INFO
    assert message.title == "Topstep 50K: unlocked, now ACTIVE"
    assert message.resolves == (f"flatten:{ACCOUNT}",)


@pytest.mark.parametrize("rule", ["daily_loss", "max_loss", "cutoff", "connection", "news"])
def test_every_automatic_flatten_is_critical_urgent_and_shown_in_the_window(rule) -> None:
    alerts = policy()
    first = alerts(flatten(rule, "daily loss limit reached: equity $49,000.00"))
    again = alerts(flatten(rule, "daily loss limit reached: equity $49,000.00"))
    assert first is not None, "a flatten alert is never suppressed"
    assert again is not None, "a flatten alert is never suppressed"
    assert first.level is Level.CRITICAL
    assert first.title == "Topstep 50K: automatic flatten"
    assert first.body.startswith("daily loss limit reached: equity $49,000.00.")
    assert first.urgent
    # The runtime raises no Alert when a flatten starts: the banner shows this one.
    assert first.in_window
    assert first.as_alert().text.startswith("Topstep 50K: automatic flatten — daily loss")


def test_a_news_flatten_names_the_instruments_it_closes() -> None:
    notice = ActionTaken(
        TS, ACCOUNT, Action(ActionType.FLATTEN, "CPI at 07:30", "news", frozenset({"NQ", "ES"}))
    )
    message = policy()(notice)
    assert message is not None
    assert message.title == "Topstep 50K: automatic flatten (ES, NQ only)"


def test_the_traders_own_flatten_raises_no_alert_unless_it_fails() -> None:
    alerts = policy()
    assert alerts(flatten("manual", "FLATTEN ALL from the console")) is None
    assert alerts(finished(True)) is None
    assert alerts(flatten("manual", "FLATTEN ALL from the console")) is None
    failed = alerts(finished(False, "not flat after 10 attempts: still 1 position(s)"))
    assert failed is not None
    assert failed.level is Level.CRITICAL
    assert failed.title == "Topstep 50K: NOT FLAT"
    assert failed.urgent


def test_an_automatic_flatten_verified_flat_is_reported_and_clears_the_alarm() -> None:
    alerts = policy()
    started = alerts(flatten("daily_loss"))
    done = alerts(finished(True))
    assert started is not None
    assert done is not None
    assert done.title == "Topstep 50K: flat (verified)"
    assert done.level is Level.INFO
    assert done.urgent
    assert done.resolves == (started.key,)
    # The same flatten joined twice gives two FlattenFinished: the second is not news.
    assert alerts(finished(True)) is None


def test_the_guards_flatten_on_top_of_the_traders_counts_as_automatic() -> None:
    alerts = policy()
    assert alerts(flatten("manual")) is None
    assert alerts(flatten("connection", "connection was down 14 s")) is not None
    done = alerts(finished(True))
    assert done is not None
    assert done.title == "Topstep 50K: flat (verified)"


def test_a_lock_closing_what_a_strategy_opened_is_said_once_per_quiet_time() -> None:
    clock = FakeTime()
    alerts = policy(clock, quiet=60.0)
    reason = "locked (daily_loss): a new position appeared; closing it"
    first = alerts(flatten("daily_loss", reason))
    assert first is not None
    assert first.level is Level.WARNING
    assert first.title == "Topstep 50K: strategy still trading a locked account"
    assert first.body.startswith(reason)
    assert first.in_window
    assert not first.urgent
    assert alerts(finished(True)) is None, "closing it worked: nothing more to say"
    clock.now += 1
    assert alerts(flatten("manual", "locked (manual): a new position appeared; closing it")) is None
    failed = alerts(finished(False, "still 1 position(s)"))
    assert failed is not None, "a close that failed is never quiet"
    assert failed.title == "Topstep 50K: NOT FLAT"
    clock.now += 60
    assert alerts(flatten("daily_loss", reason)) is not None


def test_a_firm_floor_crossed_while_locked_is_critical_and_never_held_back() -> None:
    clock = FakeTime()
    alerts = policy(clock, quiet=60.0)
    text = "LOCKED, yet equity 47990.00 fell through the firm's max-loss floor 48000.00: …"
    notice = Alert(TS, Level.CRITICAL, text, ACCOUNT, Topic.FIRM_FLOOR)
    first = alerts(notice)
    assert first is not None
    assert first.level is Level.CRITICAL
    assert first.title == "Topstep 50K: firm floor crossed while LOCKED"
    assert first.body == text
    assert first.urgent, "the account is probably lost: no rate limit may hold this back"
    assert alerts(notice) is not None


def test_not_flat_is_announced_once_not_again_for_the_runtimes_echo() -> None:
    alerts = policy()
    detail = "not flat after 10 attempts: still 1 position(s) and 0 working order(s)"
    alerts(flatten("daily_loss"))
    not_flat = alerts(finished(False, detail))
    assert not_flat is not None
    assert not_flat.level is Level.CRITICAL
    assert detail in not_flat.body
    assert alerts(Alert(TS, Level.CRITICAL, f"NOT FLAT: {detail}", ACCOUNT)) is None


def test_an_accounts_other_critical_alerts_go_out_and_the_rest_stay_in_the_window() -> None:
    alerts = policy()
    mismatch = alerts(
        Alert(TS, Level.CRITICAL, "positions differ: propdesk's ledger flat", ACCOUNT)
    )
    assert mismatch is not None
    assert mismatch.level is Level.CRITICAL
    assert mismatch.body == "positions differ: propdesk's ledger flat"
    assert not mismatch.in_window
    # Warnings are the guard's (announced as state changes); account-less ones are the links'.
    assert alerts(Alert(TS, Level.WARNING, "daily loss 52% used", ACCOUNT)) is None
    assert alerts(Alert(TS, Level.CRITICAL, "sim: connection disconnected — x")) is None
    assert alerts(Alert(TS, Level.INFO, "sim: reconnected")) is None


@pytest.mark.parametrize(
    ("topic", "title"),
    [
        (Topic.JOURNAL, "propdesk: journal"),
        (Topic.TASK, "propdesk: internal error"),
        (Topic.CLOCK, "propdesk: clock"),
        (Topic.RESTORE, "propdesk: restart"),
    ],
)
def test_propdesks_own_trouble_goes_to_every_channel_every_time(topic: Topic, title: str) -> None:
    alerts = policy()
    text = "journal not writable: running without durability — the disk is full"
    for _ in range(2):  # a second fault is news too: never rate-limited
        message = alerts(Alert(TS, Level.CRITICAL, text, topic=topic))
        assert message is not None
        assert (message.level, message.title, message.body) == (Level.CRITICAL, title, text)
        assert message.urgent
    cleared = alerts(Alert(TS, Level.INFO, "journal writable again", topic=topic))
    assert cleared is not None
    assert cleared.level is Level.INFO
    assert cleared.resolves == (f"{topic.value}:down",)


@pytest.mark.parametrize(
    "action", [ActionType.ALERT, ActionType.REDUCE_ONLY, ActionType.LOCK, ActionType.UNLOCK]
)
def test_the_guards_other_actions_are_not_alerts_of_their_own(action) -> None:
    assert policy()(ActionTaken(TS, ACCOUNT, Action(action, "reason", "daily_loss"))) is None


def test_fills_are_not_alerts(instruments) -> None:
    contract = Contract(instruments.instrument("ES"), "Z", 2026)
    fill = Fill(TS, contract, Side.BUY, 1, Decimal("6000.00"), fill_id="f1")
    assert policy()(FillBooked(TS, ACCOUNT, fill, EQUITY, DAY_PNL)) is None


# -- the rate limit -----------------------------------------------------------------------------
def test_an_identical_alert_is_not_repeated_within_the_quiet_time() -> None:
    clock = FakeTime()
    alerts = policy(clock, quiet=60.0)
    warning = changed(GuardState.ACTIVE, GuardState.WARNING)
    assert alerts(warning) is not None
    clock.now += 30
    assert alerts(warning) is None
    other = StateChanged(
        TS, "sim:APEX-50K", GuardState.ACTIVE, GuardState.WARNING, "x", EQUITY, DAY_PNL
    )
    assert alerts(other) is not None, "another account's alert is another alert"
    clock.now += 31
    assert alerts(warning) is not None, "after the quiet time it goes out again"


def test_a_flapping_link_alerts_once_per_quiet_time() -> None:
    clock = FakeTime()
    alerts = policy(clock, quiet=60.0)
    sent: list[AlertMessage] = []
    for _ in range(5):
        for state in (LinkState.DISCONNECTED, LinkState.CONNECTED):
            message = alerts(link(state))
            if message is not None:
                sent.append(message)
        clock.now += 5
    assert [m.title for m in sent] == ["sim: connection lost", "sim: connection restored"]


def test_flatten_and_forced_logout_alerts_are_never_rate_limited() -> None:
    clock = FakeTime()
    alerts = policy(clock, quiet=3600.0)
    urgent = [
        flatten("daily_loss"),
        finished(True),
        flatten("daily_loss"),
        finished(False, "still 1 position(s)"),
        flatten("cutoff"),
        finished(False, "still 1 position(s)"),
        link(LinkState.FORCED_LOGOUT),
        link(LinkState.FORCED_LOGOUT),
        link(LinkState.TOKEN_REVOKED),
    ]
    out = [alerts(n) for n in urgent]
    assert all(m is not None for m in out), out


# -- the channels' settings ---------------------------------------------------------------------
def test_the_channels_default_to_desktop_and_sound_without_a_phone() -> None:
    channels = AlertChannels()
    assert channels.desktop
    assert channels.sound
    assert not channels.phone
    assert PhoneChannel.from_channels(channels) is None
    phone = PhoneChannel.from_channels(
        AlertChannels(phone_url="https://ntfy.sh/desk-7f3a", phone_min_level=Level.CRITICAL)
    )
    assert phone is not None
    assert phone.url == "https://ntfy.sh/desk-7f3a"
    assert phone.min_level is Level.CRITICAL


def test_the_channels_come_from_the_settings_plain_values() -> None:
    off = AlertChannels.from_settings(AlertSettings())
    assert off == AlertChannels(desktop=True, sound=True, phone_url=None)
    on = AlertChannels.from_settings(
        AlertSettings(
            desktop=False, sound=False, phone_url=" https://ntfy.sh/x ", phone_min_level="critical"
        )
    )
    assert on == AlertChannels(False, False, "https://ntfy.sh/x", Level.CRITICAL)
    with pytest.raises(ValueError, match="phone alert URL"):
        AlertChannels.from_settings(AlertSettings(phone_url="ntfy.sh/x"))


@pytest.mark.parametrize("url", ["ntfy.sh/topic", "ftp://ntfy.sh/topic", "https:///topic", ""])
def test_a_phone_url_must_be_http_or_https_with_a_host(url) -> None:
    with pytest.raises(ValueError, match="phone alert URL"):
        AlertChannels(phone_url=url)


def test_the_ntfy_request_carries_title_priority_and_tags() -> None:
    message = AlertMessage(
        TS, Level.CRITICAL, "Topstep 50K: NOT FLAT", "still 1 position(s)", ACCOUNT, "k"
    )
    body, headers = ntfy_request(message)
    assert body == b"still 1 position(s)"
    assert headers["Title"] == "Topstep 50K: NOT FLAT"
    assert headers["Priority"] == "urgent"
    assert headers["Tags"] == "rotating_light,propdesk"
    warning = ntfy_request(
        AlertMessage(TS, Level.WARNING, "Compte №1: WARNING", "perte 52 %", ACCOUNT, "k")
    )[1]
    assert warning["Priority"] == "high"
    # Headers are ASCII: the rest goes RFC 2047-encoded, which ntfy decodes.
    assert warning["Title"].isascii()
    encoded = warning["Title"].removeprefix("=?UTF-8?B?").removesuffix("?=")
    assert base64.b64decode(encoded).decode() == "Compte №1: WARNING"


# -- the phone channel, against a loopback HTTP server ------------------------------------------
async def until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, f"timed out waiting for {predicate}"
        await asyncio.sleep(0.01)


def message(level: Level = Level.WARNING, key: str = "k", **kwargs: object) -> AlertMessage:
    fields: dict[str, object] = {
        "ts": TS,
        "level": level,
        "title": f"Topstep 50K: {level.name}",
        "body": "daily loss 52% used",
        "account": ACCOUNT,
        "key": key,
    } | kwargs
    return AlertMessage(**fields)  # type: ignore[arg-type]


@contextlib.asynccontextmanager
async def phone_for(server: HttpRecorder, **kwargs: object):
    phone = PhoneChannel(server.url, **kwargs)  # type: ignore[arg-type]
    await phone.start()
    try:
        yield phone
    finally:
        await phone.stop(grace=0.5)


async def test_the_phone_posts_the_message_in_ntfy_format() -> None:
    async with HttpRecorder() as server, phone_for(server) as phone:
        assert phone.send(message(Level.CRITICAL, title="Topstep 50K: automatic flatten"))
        await until(lambda: phone.sent == 1)
    (request,) = server.requests
    assert request.method == "POST"
    assert request.path == "/propdesk-alerts"
    assert request.body == b"daily loss 52% used"
    assert request.headers["title"] == "Topstep 50K: automatic flatten"
    assert request.headers["priority"] == "urgent"
    assert request.headers["tags"] == "rotating_light,propdesk"


async def test_the_phone_takes_its_level_and_up_and_the_all_clears_of_what_it_carried() -> None:
    async with HttpRecorder() as server, phone_for(server, min_level=Level.WARNING) as phone:
        assert not phone.send(message(Level.INFO, key="unlock:x"))
        assert not phone.send(message(Level.INFO, key="up", resolves=("never-sent",)))
        assert phone.send(message(Level.CRITICAL, key="link:sim:down"))
        assert phone.send(message(Level.INFO, key="link:sim:up", resolves=("link:sim:down",)))
        # The alarm is cleared: a second all-clear for it is not the phone's business.
        assert not phone.send(message(Level.INFO, key="link:sim:up", resolves=("link:sim:down",)))
        await until(lambda: phone.sent == 2)
    assert [r.headers["priority"] for r in server.requests] == ["urgent", "default"]


async def test_a_failing_phone_is_logged_and_reported_once_never_raised(caplog) -> None:
    reported: list[Alert] = []
    async with (
        HttpRecorder(status=500) as server,
        phone_for(server, report=reported.append) as phone,
    ):
        for i in range(3):
            assert phone.send(message(key=f"k{i}"))
        await until(lambda: phone.failed == 3)
        assert len(reported) == 1, "reported once, not once per message"
        (alert,) = reported
        assert alert.level is Level.WARNING
        assert "Phone alerts are failing (HTTP 500 from 127.0.0.1)" in alert.text
        assert "phone alert" in caplog.text
        assert "HTTP 500" in caplog.text

        server.status = 200  # the phone works again: a later failure is reported again
        phone.send(message(key="ok"))
        await until(lambda: phone.sent == 1)
        server.status = 503
        phone.send(message(key="again"))
        await until(lambda: phone.failed == 4)
        assert len(reported) == 2
        assert "HTTP 503" in reported[-1].text


async def test_an_unreachable_phone_is_reported_not_raised() -> None:
    async with HttpRecorder() as server:
        url = server.url  # a port that was just free: nothing listens once the server is gone
    reported: list[Alert] = []
    phone = PhoneChannel(url, report=reported.append, timeout=2.0)
    await phone.start()
    try:
        phone.send(message())
        await until(lambda: phone.failed == 1)
    finally:
        await phone.stop(grace=0.1)
    assert len(reported) == 1
    assert "Phone alerts are failing" in reported[0].text


async def test_send_never_waits_on_a_phone_that_does_not_answer() -> None:
    async with HttpRecorder(hang=True) as server:
        reported: list[Alert] = []
        phone = PhoneChannel(server.url, report=reported.append, timeout=0.3, capacity=3)
        await phone.start()
        loop = asyncio.get_running_loop()
        started = loop.time()
        routine = [message(key=f"w{i}") for i in range(4)]
        urgent = message(Level.CRITICAL, key="flatten:x", urgent=True)
        for m in [*routine[:2], urgent, *routine[2:]]:
            phone.send(m)
        assert loop.time() - started < 0.05, "send() returned at once"
        # Bounded: the oldest routine message made room; the flatten alert was kept.
        assert phone.pending == 3
        assert phone.dropped == 2
        await until(lambda: phone.failed >= 1)
        assert reported
        assert "no answer in time" in reported[0].text
        started = loop.time()
        await phone.stop(grace=0.2)
        assert loop.time() - started < 1.0, "stop() gives up after its grace"
        assert not phone.running
        assert not phone.send(message(key="late")), "a stopped channel sends nothing"
    bodies = {r.body for r in server.requests}
    assert bodies <= {m.body.encode() for m in [*routine, urgent]}


# -- on the real runtime ------------------------------------------------------------------------
def _held(runtime: Runtime) -> tuple[str, object, int] | None:
    for key, account in runtime.accounts.items():
        for position in account.risk.ledger.positions.values():
            if position.net:
                return key, position.contract, position.net
    return None


async def test_the_demo_gives_an_automatic_flatten_alert_and_none_for_the_traders(tmp_path: Path):
    workspace = build_demo_workspace(
        speed=60.0, seed=7, journal=tmp_path / "journal.sqlite", control_path=None
    )
    runtime = workspace.runtime
    alerts = AlertPolicy.for_runtime(runtime)
    sent: list[AlertMessage] = []
    notices: list[Notice] = []

    def listen(notice: Notice) -> None:
        notices.append(notice)
        out = alerts(notice)
        if out is not None:
            sent.append(out)

    runtime.notices.register(listen)
    await workspace.start()
    try:
        await until(lambda: _held(runtime) is not None, timeout=10.0)
        await workspace.demo.strategy.stop()
        held = _held(runtime)
        assert held is not None
        key, contract, net = held
        # A crash against the position, far through every floor: the guard flattens by itself.
        quote = workspace.demo.exchange.quote(contract)
        assert quote is not None
        tick = contract.instrument.tick_size
        crash = quote.mark.bid - 400 * tick if net > 0 else quote.mark.bid + 400 * tick
        workspace.demo.exchange.move_price(contract, crash)
        await until(
            lambda: any(m.title.endswith("flat (verified)") and m.account == key for m in sent),
            timeout=10.0,
        )
        automatic = [m for m in sent if m.account == key and "automatic flatten" in m.title]
        assert automatic, sent
        assert automatic[0].level is Level.CRITICAL
        assert automatic[0].in_window
        assert runtime.accounts[key].risk.status.state is GuardState.LOCKED

        before = len(sent)
        results = await runtime.kill(FlattenScope(all=True), "FLATTEN ALL from the console")
        assert all(r.flat for r in results)
        await until(
            lambda: sum(isinstance(n, FlattenFinished) for n in notices) >= 1 + len(results)
        )
        news = sent[before:]
        assert not [m for m in news if "flatten" in m.title or "flat" in m.title], news
    finally:
        runtime.notices.unregister(listen)
        await workspace.stop()
        workspace.close()


async def test_the_demo_strategy_is_stopped_after_its_lock_closes_a_position_again(
    tmp_path: Path,
):
    """The lock closes what the strategy reopens, says so once, and the demo's bot is stopped."""
    workspace = build_demo_workspace(
        speed=60.0, seed=7, journal=tmp_path / "journal.sqlite", control_path=None
    )
    runtime = workspace.runtime
    strategy = workspace.demo.strategy
    alerts = AlertPolicy.for_runtime(runtime)
    sent: list[AlertMessage] = []
    closes: list[ActionTaken] = []
    told: list[Alert] = []
    kill_reason = "FLATTEN ALL from the console"

    def listen(notice: Notice) -> None:
        if (
            isinstance(notice, ActionTaken)
            and notice.action.type is ActionType.FLATTEN
            and notice.action.reason != kill_reason
        ):
            closes.append(notice)
        if isinstance(notice, Alert) and "told to stop trading" in notice.text:
            told.append(notice)
        out = alerts(notice)
        if out is not None:
            sent.append(out)

    runtime.notices.register(listen)
    await workspace.start()
    everyone = {a.ref for a in runtime.accounts.values()}
    try:
        results = await runtime.kill(FlattenScope(all=True), kill_reason)
        assert all(r.flat for r in results)
        # The demo strategy trades on into its locks until the first re-flatten of each account.
        await until(lambda: strategy.stopped == everyone and len(told) == 3, timeout=20.0)
        seen = len(closes)
        # Ten of the strategy's looks at each account later, nothing more has been reopened
        # (one order already in flight at the stop may still fill: one more close at most).
        await workspace.clock.sleep(10 * strategy.interval)
    finally:
        runtime.notices.unregister(listen)
        await workspace.stop()
        workspace.close()
    per_account = {key: sum(c.account == key for c in closes) for key in runtime.accounts}
    assert all(1 <= n <= 2 for n in per_account.values()), per_account
    assert len(closes) - seen <= len(everyone)
    assert all(c.action.reason.startswith("locked (") for c in closes)
    assert "1 re-flatten" in closes[0].action.reason
    titles = [m.title for m in sent]
    assert not [t for t in titles if "automatic flatten" in t or "flat (verified)" in t], titles
    enforced = [m for m in sent if m.title.endswith("strategy still trading a locked account")]
    assert enforced, titles
    assert len({m.account for m in enforced}) == len(enforced), "one per account per quiet time"
    assert {m.account for m in enforced} <= {c.account for c in closes}
    assert {t.account for t in told} == set(runtime.accounts)

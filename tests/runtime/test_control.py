"""Local control: the socket's privacy, the line protocol, concurrency, and the client from a thread and
from a separate process. Every wait is an await with a timeout; nothing sleeps to let time pass."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import socket
import stat
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from propdesk.domain.risk_state import GuardState
from propdesk.runtime import control, control_client, control_server
from propdesk.runtime.control import (
    MAX_LINE,
    AlreadyRunning,
    ControlError,
    ControlRefused,
    ControlTimeout,
    ControlUnavailable,
    FlattenScope,
    UnknownScope,
    default_socket_path,
)
from propdesk.runtime.control_client import call, request
from propdesk.runtime.control_server import MAX_CONNECTIONS, ControlServer
from propdesk.runtime.control_text import format_flatten, format_status

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="Unix socket transport")

WAIT = 5.0  # seconds: the ceiling on any single await; a pass takes milliseconds

STATUS = {
    "accounts": [
        {
            "account": "sim:demo-1",
            "profile": "topstep-combine-50k",
            "state": "LOCKED",
            "reason": "daily stop: 75% of 1000.00 used",
            "equity": "49850.00",
            "day_pnl": "-150.00",
            "floor": "49000.00",
            "positions": 0,
            "orders": 0,
        },
        {
            "account": "sim:demo-2",
            "profile": "topstep-combine-50k",
            "state": "ACTIVE",
            "reason": "",
            "equity": "51200.50",
            "day_pnl": "25.50",
            "floor": "49200.00",
            "positions": 2,
            "orders": 1,
        },
    ],
    "brokers": [{"name": "sim", "link": "connected"}],
}


class FakeHandler:
    """Records calls; flatten can be held on a gate; status can be made to wait for N callers."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.flatten_gate: asyncio.Event | None = None
        self.flatten_started = asyncio.Event()
        self.flatten_done = asyncio.Event()
        self.status_barrier: int | None = None
        self._status_waiting = 0
        self._status_release = asyncio.Event()
        self.fail_with: Exception | None = None
        self.flatten_fails_with: Exception | None = None
        self.status_result: dict[str, Any] = STATUS

    async def status(self) -> dict[str, Any]:
        self.calls.append(("status", None))
        if self.fail_with is not None:
            raise self.fail_with
        if self.status_barrier is not None:
            # Every caller waits until all of them are inside at once: a server that handled
            # clients one by one would never get there, and the test would time out.
            self._status_waiting += 1
            if self._status_waiting == self.status_barrier:
                self._status_release.set()
            await self._status_release.wait()
        return self.status_result

    async def flatten(self, scope: FlattenScope) -> dict[str, Any]:
        self.calls.append(("flatten", scope))
        if self.flatten_fails_with is not None:
            raise self.flatten_fails_with
        self.flatten_started.set()
        if self.flatten_gate is not None:
            await self.flatten_gate.wait()
        self.flatten_done.set()
        return {"results": [{"account": "sim:demo-1", "flat": True, "detail": "verified flat"}]}

    async def unlock(self, account: str) -> dict[str, Any]:
        self.calls.append(("unlock", account))
        return {"account": account, "state": "ACTIVE"}


@pytest.fixture
def sock_dir() -> Iterator[Path]:
    # Not tmp_path: pytest's long per-test paths can pass the ~107-byte AF_UNIX limit.
    directory = Path(tempfile.mkdtemp(prefix="pdctl-"))
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def sock_path(sock_dir: Path) -> Path:
    return sock_dir / "run" / "control.sock"


@pytest.fixture
def handler() -> FakeHandler:
    return FakeHandler()


@pytest.fixture
async def server(handler: FakeHandler, sock_path: Path) -> AsyncIterator[ControlServer]:
    srv = ControlServer(handler, sock_path)
    await asyncio.wait_for(srv.start(), WAIT)
    yield srv
    await asyncio.wait_for(srv.close(), WAIT)


class Conn:
    """A raw protocol connection, to drive several requests over one socket."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, path: Path) -> Conn:
        reader, writer = await asyncio.wait_for(asyncio.open_unix_connection(path), WAIT)
        return cls(reader, writer)

    async def send(self, payload: dict[str, Any] | bytes) -> None:
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode() + b"\n"
        self.writer.write(data)
        await asyncio.wait_for(self.writer.drain(), WAIT)

    async def recv(self) -> dict[str, Any]:
        line = await asyncio.wait_for(self.reader.readline(), WAIT)
        assert line.endswith(b"\n"), f"connection closed instead of a reply: {line!r}"
        return json.loads(line)

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError):
            await self.writer.wait_closed()

    async def rest(self) -> bytes:
        """Everything the server still sends until it closes the connection (fails after WAIT)."""
        try:
            return await asyncio.wait_for(self.reader.read(), WAIT)
        except ConnectionResetError:
            return b""  # Linux resets when the server closes with our unread bytes queued


class Listener:
    """A bare Unix socket server standing in for whatever might sit at the control path: it records
    what each connection sends until it hangs up, and never answers."""

    def __init__(self) -> None:
        self.received: asyncio.Queue[bytes] = asyncio.Queue()  # one item per connection, at its end
        self._server: asyncio.Server | None = None

    async def start(self, path: Path) -> Listener:
        self._server = await asyncio.start_unix_server(self._record, path)
        return self

    async def _record(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.received.put_nowait(await reader.read())
        writer.close()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await asyncio.wait_for(self._server.wait_closed(), WAIT)


async def until(condition: Any, what: str) -> None:
    """Wait (at most WAIT) for a server-side condition no client can observe without changing it."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT
    while not condition():
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.005)


# --- privacy of the socket ----------------------------------------------------------------------


async def test_socket_is_0600_in_a_0700_directory(server: ControlServer, sock_path: Path) -> None:
    info = os.lstat(sock_path)
    assert stat.S_ISSOCK(info.st_mode)
    assert stat.S_IMODE(info.st_mode) == 0o600
    assert info.st_uid == os.geteuid()
    assert stat.S_IMODE(os.stat(sock_path.parent).st_mode) == 0o700


async def test_mode_is_0600_even_under_a_permissive_umask(
    handler: FakeHandler, sock_path: Path
) -> None:
    old = os.umask(0)
    try:
        srv = ControlServer(handler, sock_path)
        await asyncio.wait_for(srv.start(), WAIT)
    finally:
        os.umask(old)
    try:
        assert stat.S_IMODE(os.lstat(sock_path).st_mode) == 0o600
        assert stat.S_IMODE(os.stat(sock_path.parent).st_mode) == 0o700
    finally:
        await srv.close()


async def test_refuses_a_directory_other_users_can_write(
    handler: FakeHandler, sock_dir: Path
) -> None:
    open_dir = sock_dir / "open"
    open_dir.mkdir()
    open_dir.chmod(0o777)
    with pytest.raises(ControlError, match="writable by other users"):
        await ControlServer(handler, open_dir / "c.sock").start()
    assert not (open_dir / "c.sock").exists()


def test_peer_uid_is_ours_on_a_real_socket() -> None:
    if not hasattr(socket, "SO_PEERCRED") and sys.platform != "darwin":
        pytest.skip("no peer credentials on this platform")
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with a, b:
        assert control.peer_uid(a) == os.geteuid()


async def test_a_different_peer_uid_is_refused(
    server: ControlServer, handler: FakeHandler, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A raw connection: request() would refuse first, on its own check of the server's uid.
    monkeypatch.setattr(control_server, "peer_uid", lambda sock: os.geteuid() + 1)
    conn = await Conn.open(server.path)
    try:
        await conn.send({"id": 1, "cmd": "status"})
        reply = await conn.recv()
        assert reply["ok"] is False
        assert reply["error"].startswith("permission denied: uid")
        assert await conn.rest() == b""
    finally:
        await conn.close()
    assert handler.calls == []


# --- the client talks only to this user's propdesk ----------------------------------------------


async def test_the_client_refuses_a_file_that_is_not_a_socket(sock_dir: Path) -> None:
    path = sock_dir / "c.sock"
    path.write_text("not a socket")
    with pytest.raises(ControlError, match=r"is not a socket.*nothing was sent"):
        await request({"cmd": "flatten", "scope": "all"}, path=path, timeout=WAIT)
    assert path.read_text() == "not a socket"


async def test_the_client_refuses_a_socket_in_a_directory_others_can_write(sock_dir: Path) -> None:
    open_dir = sock_dir / "open"
    open_dir.mkdir()
    open_dir.chmod(0o777)  # not sticky: anyone could have replaced the socket file
    listener = await Listener().start(open_dir / "c.sock")
    try:
        with pytest.raises(ControlError, match=r"writable by other users.*nothing was sent"):
            await request(
                {"cmd": "flatten", "scope": "all"}, path=open_dir / "c.sock", timeout=WAIT
            )
    finally:
        await listener.close()
    assert listener.received.empty()


async def test_the_client_accepts_a_sticky_shared_directory(
    handler: FakeHandler, sock_dir: Path
) -> None:
    # Like /tmp: others may add files but not replace ours, so the server serves there too.
    shared = sock_dir / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    srv = ControlServer(handler, shared / "c.sock")
    await asyncio.wait_for(srv.start(), WAIT)
    try:
        assert await request({"cmd": "status"}, path=srv.path, timeout=WAIT) == STATUS
    finally:
        await srv.close()


async def test_the_client_refuses_a_socket_another_uid_owns(
    sock_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A socket file of another user's cannot be made without root; being another uid can be faked.
    listener = await Listener().start(sock_dir / "c.sock")
    owner = os.lstat(sock_dir / "c.sock").st_uid
    monkeypatch.setattr(os, "geteuid", lambda: owner + 1)
    try:
        with pytest.raises(
            ControlError, match=rf"belongs to uid {owner}, not to you.*nothing was sent"
        ):
            await request(
                {"cmd": "flatten", "scope": "all"}, path=sock_dir / "c.sock", timeout=WAIT
            )
    finally:
        await listener.close()
    assert listener.received.empty()


async def test_the_client_refuses_a_server_of_another_uid_and_sends_nothing(
    sock_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    listener = await Listener().start(sock_dir / "c.sock")
    other = os.geteuid() + 1
    monkeypatch.setattr(control_client, "peer_uid", lambda sock: other)
    try:
        with pytest.raises(ControlError, match=rf"served by uid {other}.*nothing was sent"):
            await request(
                {"cmd": "flatten", "scope": "all"}, path=sock_dir / "c.sock", timeout=WAIT
            )
        assert await asyncio.wait_for(listener.received.get(), WAIT) == b""
    finally:
        await listener.close()


def test_overlong_path_is_a_clear_error(handler: FakeHandler, sock_dir: Path) -> None:
    long_path = sock_dir / ("x" * 120) / "control.sock"
    with pytest.raises(ControlError, match="AF_UNIX limit"):
        asyncio.run(ControlServer(handler, long_path).start())
    with pytest.raises(ControlError, match="AF_UNIX limit"):
        call({"cmd": "ping"}, path=long_path)


# --- where the socket lives ---------------------------------------------------------------------


def test_env_overrides_the_path(monkeypatch: pytest.MonkeyPatch, sock_path: Path) -> None:
    monkeypatch.setenv("PROPDESK_CONTROL", str(sock_path))
    assert default_socket_path() == sock_path


def test_default_path_is_in_a_private_runtime_dir(
    monkeypatch: pytest.MonkeyPatch, sock_dir: Path
) -> None:
    monkeypatch.delenv("PROPDESK_CONTROL", raising=False)
    runtime = sock_dir / "runtime" / "propdesk"
    runtime.parent.mkdir()
    runtime.mkdir(mode=0o755)  # an older, looser directory is tightened
    monkeypatch.setattr(control, "_runtime_dir", lambda: runtime)
    assert default_socket_path() == runtime / "control.sock"
    assert stat.S_IMODE(os.stat(runtime).st_mode) == 0o700


def test_default_path_falls_back_to_the_state_dir(
    monkeypatch: pytest.MonkeyPatch, sock_dir: Path
) -> None:
    monkeypatch.delenv("PROPDESK_CONTROL", raising=False)

    def no_runtime_dir() -> Path:
        raise PermissionError("runtime directory is owned by another user")

    monkeypatch.setattr(control, "_runtime_dir", no_runtime_dir)
    monkeypatch.setattr(control, "_state_dir", lambda: sock_dir / "state" / "propdesk")
    path = default_socket_path()
    assert path == sock_dir / "state" / "propdesk" / "control.sock"
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700


def test_windows_names_the_missing_named_pipe(
    monkeypatch: pytest.MonkeyPatch, handler: FakeHandler, sock_path: Path
) -> None:
    monkeypatch.setattr(sys, "platform", "win32")
    with pytest.raises(NotImplementedError, match="named pipe"):
        default_socket_path()
    with pytest.raises(NotImplementedError, match="named pipe"):
        asyncio.run(ControlServer(handler, sock_path).start())
    with pytest.raises(NotImplementedError, match="named pipe"):
        call({"cmd": "ping"}, path=sock_path)


# --- round trips --------------------------------------------------------------------------------


async def test_status_round_trip(server: ControlServer, handler: FakeHandler) -> None:
    assert await request({"cmd": "status"}, path=server.path, timeout=WAIT) == STATUS
    assert handler.calls == [("status", None)]


async def test_ping_answers_without_the_handler(
    server: ControlServer, handler: FakeHandler
) -> None:
    result = await request({"cmd": "ping"}, path=server.path, timeout=WAIT)
    assert result["pong"] is True
    assert result["pid"] == os.getpid()
    assert handler.calls == []


@pytest.mark.parametrize(
    ("wire", "scope"),
    [
        ("all", FlattenScope(all=True)),
        (
            {"accounts": ["sim:demo-1", "sim:demo-2"]},
            FlattenScope(accounts=("sim:demo-1", "sim:demo-2")),
        ),
        ({"cluster": "nq-scalpers"}, FlattenScope(cluster="nq-scalpers")),
    ],
)
async def test_flatten_round_trip(
    server: ControlServer, handler: FakeHandler, wire: Any, scope: FlattenScope
) -> None:
    result = await request({"cmd": "flatten", "scope": wire}, path=server.path, timeout=WAIT)
    assert result == {
        "results": [{"account": "sim:demo-1", "flat": True, "detail": "verified flat"}]
    }
    assert handler.calls == [("flatten", scope)]
    assert scope.to_json() == wire


@pytest.mark.parametrize(
    "wire",
    [None, "everything", {}, {"accounts": []}, {"accounts": [""]}, {"all": True, "cluster": "x"}],
)
async def test_a_bad_flatten_scope_is_refused_not_widened(
    server: ControlServer, handler: FakeHandler, wire: Any
) -> None:
    cmd: dict[str, Any] = {"cmd": "flatten"}
    if wire is not None:
        cmd["scope"] = wire
    with pytest.raises(ControlRefused, match="scope"):
        await request(cmd, path=server.path, timeout=WAIT)
    assert handler.calls == []


async def test_unlock_round_trip(server: ControlServer, handler: FakeHandler) -> None:
    cmd = {"cmd": "unlock", "account": "sim:demo-1", "confirm": "sim:demo-1"}
    result = await request(cmd, path=server.path, timeout=WAIT)
    assert result == {"account": "sim:demo-1", "state": "ACTIVE"}
    assert handler.calls == [("unlock", "sim:demo-1")]


@pytest.mark.parametrize("confirm", [None, "", "sim:demo-2", "SIM:DEMO-1", "all"])
async def test_unlock_without_a_matching_confirm_is_refused(
    server: ControlServer, handler: FakeHandler, confirm: str | None
) -> None:
    cmd: dict[str, Any] = {"cmd": "unlock", "account": "sim:demo-1"}
    if confirm is not None:
        cmd["confirm"] = confirm
    with pytest.raises(ControlRefused, match="confirm"):
        await request(cmd, path=server.path, timeout=WAIT)
    assert handler.calls == []


async def test_handler_values_are_made_json(server: ControlServer, handler: FakeHandler) -> None:
    handler.status_result = {"accounts": [{"state": GuardState.LOCKED, "equity": Decimal("0.10")}]}
    result = await request({"cmd": "status"}, path=server.path, timeout=WAIT)
    # IntEnum by name (json alone would write 4); money as an exact string, never a float.
    assert result == {"accounts": [{"state": "LOCKED", "equity": "0.10"}]}


async def test_a_raising_handler_answers_an_error_and_the_server_carries_on(
    server: ControlServer, handler: FakeHandler
) -> None:
    handler.fail_with = RuntimeError("journal is read-only")
    with pytest.raises(ControlRefused, match="journal is read-only"):
        await request({"cmd": "status"}, path=server.path, timeout=WAIT)
    handler.fail_with = None
    assert await request({"cmd": "status"}, path=server.path, timeout=WAIT) == STATUS


async def test_replies_echo_the_request_id(server: ControlServer) -> None:
    conn = await Conn.open(server.path)
    try:
        await conn.send({"id": "abc", "cmd": "ping"})
        assert (await conn.recv())["id"] == "abc"
        await conn.send({"cmd": "ping"})
        assert (await conn.recv())["id"] is None
    finally:
        await conn.close()


# --- robustness ---------------------------------------------------------------------------------


async def test_bad_requests_get_errors_and_the_connection_keeps_answering(
    server: ControlServer,
) -> None:
    conn = await Conn.open(server.path)
    try:
        await conn.send(b"{not json\n")
        reply = await conn.recv()
        assert reply["ok"] is False
        assert reply["error"].startswith("bad JSON")

        await conn.send(b"[1, 2]\n")
        assert "JSON object" in (await conn.recv())["error"]

        await conn.send({"id": 7, "cmd": "reboot"})
        assert await conn.recv() == {
            "id": 7,
            "ok": False,
            "error": "unknown command 'reboot' (expected one of: status, flatten, unlock, ping)",
        }

        await conn.send({"id": 8, "cmd": "status"})
        assert await conn.recv() == {"id": 8, "ok": True, "result": STATUS}
    finally:
        await conn.close()


async def test_an_oversized_line_gets_an_error_then_the_connection_closes(
    server: ControlServer,
) -> None:
    conn = await Conn.open(server.path)
    try:
        conn.writer.write(b'{"cmd": "ping", "pad": "' + b"x" * (MAX_LINE + 10) + b'"}\n')
        with contextlib.suppress(ConnectionError):
            await asyncio.wait_for(conn.writer.drain(), WAIT)
        reply = await conn.recv()
        assert reply["ok"] is False
        assert "over 65536 bytes" in reply["error"]
        try:
            rest = await asyncio.wait_for(conn.reader.read(), WAIT)
        except ConnectionResetError:
            rest = b""  # Linux resets when the server closes with our unread bytes queued
        assert rest == b""
    finally:
        await conn.close()
    # The server itself is fine.
    assert (await request({"cmd": "ping"}, path=server.path, timeout=WAIT))["pong"] is True


async def test_a_half_closed_client_still_gets_its_reply(server: ControlServer) -> None:
    # `nc -N` / `socat` send the request, then shut their sending side.
    conn = await Conn.open(server.path)
    try:
        await conn.send({"id": 1, "cmd": "status"})
        conn.writer.write_eof()
        assert await conn.recv() == {"id": 1, "ok": True, "result": STATUS}
    finally:
        await conn.close()


async def test_concurrent_clients(server: ControlServer, handler: FakeHandler) -> None:
    clients = 8
    handler.status_barrier = clients
    results = await asyncio.wait_for(
        asyncio.gather(
            *(request({"cmd": "status"}, path=server.path, timeout=WAIT) for _ in range(clients))
        ),
        WAIT,
    )
    assert results == [STATUS] * clients
    assert len(handler.calls) == clients


async def test_a_slow_flatten_does_not_block_status_on_the_same_connection(
    server: ControlServer, handler: FakeHandler
) -> None:
    handler.flatten_gate = asyncio.Event()
    conn = await Conn.open(server.path)
    try:
        await conn.send({"id": 1, "cmd": "flatten", "scope": "all"})
        await asyncio.wait_for(handler.flatten_started.wait(), WAIT)
        await conn.send({"id": 2, "cmd": "status"})
        first = await conn.recv()
        assert first == {"id": 2, "ok": True, "result": STATUS}
        assert not handler.flatten_done.is_set()
        handler.flatten_gate.set()
        second = await conn.recv()
        assert second["id"] == 1
        assert second["ok"] is True
    finally:
        await conn.close()


async def test_a_slow_flatten_does_not_block_another_client(
    server: ControlServer, handler: FakeHandler
) -> None:
    handler.flatten_gate = asyncio.Event()
    flatten = asyncio.create_task(
        request({"cmd": "flatten", "scope": "all"}, path=server.path, timeout=WAIT)
    )
    await asyncio.wait_for(handler.flatten_started.wait(), WAIT)
    assert await request({"cmd": "status"}, path=server.path, timeout=WAIT) == STATUS
    assert not flatten.done()
    handler.flatten_gate.set()
    assert (await asyncio.wait_for(flatten, WAIT))["results"][0]["flat"] is True


async def test_a_flatten_outlives_the_client_that_asked(
    server: ControlServer, handler: FakeHandler
) -> None:
    # Ctrl-C in the terminal must not cancel a flatten already under way.
    handler.flatten_gate = asyncio.Event()
    conn = await Conn.open(server.path)
    await conn.send({"id": 1, "cmd": "flatten", "scope": "all"})
    await asyncio.wait_for(handler.flatten_started.wait(), WAIT)
    await conn.close()
    handler.flatten_gate.set()
    await asyncio.wait_for(handler.flatten_done.wait(), WAIT)


async def test_timeout_is_not_unavailable(server: ControlServer, handler: FakeHandler) -> None:
    handler.flatten_gate = asyncio.Event()  # never set: the flatten hangs
    with pytest.raises(ControlTimeout, match="may still be running") as caught:
        await request({"cmd": "flatten", "scope": "all"}, path=server.path, timeout=0.2)
    assert isinstance(caught.value, TimeoutError)
    assert not isinstance(caught.value, ControlUnavailable)
    assert "flatten at your broker now" in str(caught.value)
    handler.flatten_gate.set()


# --- the connection cap and the idle timeout ----------------------------------------------------


async def test_one_connection_over_the_cap_is_told_why_and_closed(
    server: ControlServer, handler: FakeHandler, caplog: pytest.LogCaptureFixture
) -> None:
    handler.flatten_gate = asyncio.Event()
    conns = [await Conn.open(server.path) for _ in range(MAX_CONNECTIONS)]
    try:
        # A flatten under way on the first, a round trip on every other: all are being served.
        await conns[0].send({"id": 1, "cmd": "flatten", "scope": "all"})
        await asyncio.wait_for(handler.flatten_started.wait(), WAIT)
        for conn in conns[1:]:
            await conn.send({"id": 2, "cmd": "ping"})
            assert (await conn.recv())["ok"] is True

        with caplog.at_level("WARNING", logger="propdesk.runtime.control_server"):
            extra = await Conn.open(server.path)
            try:
                reply = await extra.recv()
                assert await extra.rest() == b""
            finally:
                await extra.close()
            with pytest.raises(ControlRefused, match="too many connections to propdesk"):
                await request({"cmd": "status"}, path=server.path, timeout=WAIT)
        assert reply == {
            "id": None,
            "ok": False,
            "error": f"too many connections to propdesk ({MAX_CONNECTIONS} already open); "
            "close some and try again",
        }
        assert "refused a connection" in caplog.text

        # The first sixteen are untouched: the flatten finishes and answers, the others still talk.
        handler.flatten_gate.set()
        assert (await conns[0].recv())["id"] == 1
        for conn in conns[1:]:
            await conn.send({"id": 3, "cmd": "ping"})
            assert (await conn.recv())["id"] == 3
        assert [c for c in handler.calls if c[0] == "status"] == []

        # A freed slot is served again.
        await conns.pop().close()
        await until(lambda: server.open_connections < MAX_CONNECTIONS, "the slot to free")
        assert (await request({"cmd": "ping"}, path=server.path, timeout=WAIT))["pong"] is True
    finally:
        for conn in conns:
            await conn.close()


# Short enough to keep the tests quick, long enough that a busy machine does not idle out a client
# between its connect and its first request.
@pytest.fixture
async def quick_server(handler: FakeHandler, sock_path: Path) -> AsyncIterator[ControlServer]:
    srv = ControlServer(handler, sock_path, idle_timeout=0.5)
    await asyncio.wait_for(srv.start(), WAIT)
    yield srv
    await asyncio.wait_for(srv.close(), WAIT)


async def test_a_client_that_sends_nothing_is_closed(quick_server: ControlServer) -> None:
    conn = await Conn.open(quick_server.path)
    try:
        reply = await conn.recv()
        assert reply == {
            "id": None,
            "ok": False,
            "error": "no request for 0.5 s; closing the connection",
        }
        assert await conn.rest() == b""
    finally:
        await conn.close()


async def test_the_idle_clock_starts_again_after_each_reply(quick_server: ControlServer) -> None:
    conn = await Conn.open(quick_server.path)
    try:
        await conn.send({"id": 1, "cmd": "ping"})
        assert (await conn.recv())["ok"] is True
        assert "no request for 0.5 s" in (await conn.recv())["error"]
        assert await conn.rest() == b""
    finally:
        await conn.close()


async def test_a_client_waiting_for_a_slow_flatten_is_not_idle(
    quick_server: ControlServer, handler: FakeHandler
) -> None:
    handler.flatten_gate = asyncio.Event()
    waiting = await Conn.open(quick_server.path)
    try:
        await waiting.send({"id": 1, "cmd": "flatten", "scope": "all"})
        await asyncio.wait_for(handler.flatten_started.wait(), WAIT)
        # A second client opened after the flatten began is closed for idling: by then the first
        # has waited longer than the idle timeout, yet it is still connected.
        idler = await Conn.open(quick_server.path)
        try:
            assert "no request for 0.5 s" in (await idler.recv())["error"]
            assert await idler.rest() == b""
        finally:
            await idler.close()
        assert not handler.flatten_done.is_set()
        handler.flatten_gate.set()
        reply = await waiting.recv()
        assert reply["id"] == 1
        assert reply["result"]["results"][0]["flat"] is True
        # Answered, it is idle from now on.
        assert "no request for 0.5 s" in (await waiting.recv())["error"]
        assert await waiting.rest() == b""
    finally:
        await waiting.close()


async def test_a_client_that_leaves_its_reply_unread_is_dropped(
    quick_server: ControlServer, handler: FakeHandler, caplog: pytest.LogCaptureFixture
) -> None:
    # Larger than the socket buffers and the transport's high-water mark: the write must wait.
    handler.status_result = {"blob": "x" * (8 * 1024 * 1024)}
    conn = await Conn.open(quick_server.path)
    try:
        with caplog.at_level("WARNING", logger="propdesk.runtime.control_server"):
            await until(lambda: quick_server.open_connections == 1, "the server to take it")
            await conn.send({"id": 1, "cmd": "status"})
            await until(lambda: quick_server.open_connections == 0, "the connection to be dropped")
        assert "left a reply unread" in caplog.text
        assert len(await conn.rest()) < len(handler.status_result["blob"])
    finally:
        await conn.close()
    assert (await request({"cmd": "ping"}, path=quick_server.path, timeout=WAIT))["pong"] is True


def test_the_idle_timeout_must_be_positive(handler: FakeHandler, sock_path: Path) -> None:
    with pytest.raises(ValueError, match="idle_timeout"):
        ControlServer(handler, sock_path, idle_timeout=0)


# --- unknown accounts and clusters --------------------------------------------------------------


def test_unknown_scope_messages() -> None:
    known = ["sim:TS-50K", "sim:APEX-50K"]
    assert str(UnknownScope.accounts(["sim:NOPE"], known)) == (
        "no account sim:NOPE (known: sim:TS-50K, sim:APEX-50K)"
    )
    assert (
        str(UnknownScope.accounts(["sim:A", "sim:B"], []))
        == "no accounts sim:A, sim:B (known: none)"
    )
    assert str(UnknownScope.cluster("x", ["trend", None, "mean-revert", "trend"])) == (
        "no cluster x (known: mean-revert, trend)"
    )
    assert isinstance(UnknownScope.accounts(["a"], known), KeyError)


async def test_an_unknown_account_is_answered_in_plain_words(
    server: ControlServer, handler: FakeHandler, caplog: pytest.LogCaptureFixture
) -> None:
    handler.flatten_fails_with = UnknownScope.accounts(["sim:NOPE"], ["sim:demo-1"])
    with (
        caplog.at_level("INFO", logger="propdesk.runtime.control_server"),
        pytest.raises(ControlRefused) as caught,
    ):
        await request(
            {"cmd": "flatten", "scope": {"accounts": ["sim:NOPE"]}}, path=server.path, timeout=WAIT
        )
    # The sentence itself: not "flatten failed: 'no account …'" and no traceback in the log.
    assert str(caught.value) == "no account sim:NOPE (known: sim:demo-1)"
    assert "Traceback" not in caplog.text
    assert not [r for r in caplog.records if r.exc_info]


# --- lifecycle ----------------------------------------------------------------------------------


async def test_a_second_server_on_the_same_path_is_already_running(
    server: ControlServer, sock_path: Path
) -> None:
    with pytest.raises(AlreadyRunning, match="already running"):
        await ControlServer(FakeHandler(), sock_path).start()
    # The first one still owns the path and answers.
    assert (await request({"cmd": "ping"}, path=sock_path, timeout=WAIT))["pong"] is True


async def test_a_foreign_listener_is_already_running(handler: FakeHandler, sock_dir: Path) -> None:
    # Something listening without holding propdesk's lock (an older propdesk, another program).
    path = sock_dir / "c.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    with listener:
        listener.bind(str(path))
        listener.listen(1)
        with pytest.raises(AlreadyRunning, match="already running"):
            await ControlServer(handler, path).start()
        assert stat.S_ISSOCK(os.lstat(path).st_mode)  # left alone


async def test_a_stale_socket_file_is_replaced(
    handler: FakeHandler, sock_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = sock_dir / "c.sock"
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(path))
    dead.close()  # the file stays behind, as after a crash
    with pytest.raises(ControlUnavailable, match="stale control socket"):
        await request({"cmd": "ping"}, path=path, timeout=WAIT)

    srv = ControlServer(handler, path)
    with caplog.at_level("INFO", logger="propdesk.runtime.control_server"):
        await asyncio.wait_for(srv.start(), WAIT)
    assert f"removing stale socket {path}" in caplog.text
    try:
        assert stat.S_IMODE(os.lstat(path).st_mode) == 0o600
        assert (await request({"cmd": "ping"}, path=path, timeout=WAIT))["pong"] is True
    finally:
        await srv.close()


async def test_a_regular_file_at_the_path_is_never_removed(
    handler: FakeHandler, sock_dir: Path
) -> None:
    path = sock_dir / "c.sock"
    path.write_text("not a socket")
    with pytest.raises(ControlError, match="not a socket"):
        await ControlServer(handler, path).start()
    assert path.read_text() == "not a socket"


async def test_unavailable_when_nothing_listens(sock_dir: Path) -> None:
    path = sock_dir / "c.sock"
    with pytest.raises(ControlUnavailable, match=r"propdesk is not running \(no control socket at"):
        await request({"cmd": "status"}, path=path, timeout=WAIT)


async def test_close_removes_the_file_and_then_nobody_answers(
    handler: FakeHandler, sock_path: Path
) -> None:
    srv = ControlServer(handler, sock_path)
    await asyncio.wait_for(srv.start(), WAIT)
    assert sock_path.exists()
    await asyncio.wait_for(srv.close(), WAIT)
    assert not sock_path.exists()
    with pytest.raises(ControlUnavailable):
        await request({"cmd": "ping"}, path=sock_path, timeout=WAIT)
    await srv.close()  # idempotent
    # The path is free again for the next run.
    again = ControlServer(handler, sock_path)
    await asyncio.wait_for(again.start(), WAIT)
    await again.close()


async def test_close_does_not_wait_for_a_hung_request(
    handler: FakeHandler, sock_path: Path
) -> None:
    handler.flatten_gate = asyncio.Event()  # never set
    srv = ControlServer(handler, sock_path)
    await asyncio.wait_for(srv.start(), WAIT)
    conn = await Conn.open(sock_path)
    await conn.send({"id": 1, "cmd": "flatten", "scope": "all"})
    await asyncio.wait_for(handler.flatten_started.wait(), WAIT)
    await asyncio.wait_for(srv.close(), WAIT)
    assert await asyncio.wait_for(conn.reader.read(), WAIT) == b""
    await conn.close()


# --- the synchronous client, off the server's loop ----------------------------------------------


async def test_sync_call_from_another_thread(server: ControlServer) -> None:
    result = await asyncio.wait_for(
        asyncio.to_thread(call, {"cmd": "status"}, path=server.path, timeout=WAIT), WAIT
    )
    assert result == STATUS


async def test_call_from_a_separate_process(server: ControlServer, handler: FakeHandler) -> None:
    # A real second process, finding the socket through PROPDESK_CONTROL as `propdesk flatten` would.
    script = (
        "import json\n"
        "from propdesk.runtime.control_client import call\n"
        "from propdesk.runtime.control_text import format_flatten\n"
        "result = call({'cmd': 'flatten', 'scope': {'accounts': ['sim:demo-1']}}, timeout=5)\n"
        "print(json.dumps(result))\n"
        "print(format_flatten(result))\n"
    )
    env = {**os.environ, "PROPDESK_CONTROL": str(server.path)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        script,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 2 * WAIT)
    assert proc.returncode == 0, err.decode()
    first, *table = out.decode().splitlines()
    assert json.loads(first)["results"][0] == {
        "account": "sim:demo-1",
        "flat": True,
        "detail": "verified flat",
    }
    assert "1 of 1 accounts flat" in table
    assert handler.calls == [("flatten", FlattenScope(accounts=("sim:demo-1",)))]


async def test_a_separate_process_sees_unavailable(sock_dir: Path) -> None:
    script = (
        "import sys\n"
        "from propdesk.runtime.control import ControlUnavailable\n"
        "from propdesk.runtime.control_client import call\n"
        "try:\n"
        "    call({'cmd': 'status'})\n"
        "except ControlUnavailable as exc:\n"
        "    print(exc)\n"
        "    sys.exit(3)\n"
    )
    env = {**os.environ, "PROPDESK_CONTROL": str(sock_dir / "c.sock")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", script, env=env, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 2 * WAIT)
    assert proc.returncode == 3
    assert out.decode().startswith("propdesk is not running (no control socket at ")


# --- terminal output ----------------------------------------------------------------------------


def test_format_status() -> None:
    text = format_status(STATUS)
    lines = text.splitlines()
    assert lines[0].split() == [
        "ACCOUNT",
        "STATE",
        "EQUITY",
        "DAY",
        "P&L",
        "FLOOR",
        "DISTANCE",
        "POS",
        "ORD",
        "REASON",
    ]
    demo1 = lines[1]
    for cell in ("sim:demo-1", "LOCKED", "49,850.00", "-150.00", "49,000.00", "850.00"):
        assert cell in demo1
    assert demo1.endswith("daily stop: 75% of 1000.00 used")
    demo2 = lines[2]
    for cell in ("sim:demo-2", "ACTIVE", "51,200.50", "+25.50", "49,200.00", "2,000.50"):
        assert cell in demo2
    # Numbers are right-aligned: the equity column ends at the same place on every row.
    assert demo1.index("49,850.00") + 9 == demo2.index("51,200.50") + 9
    assert lines[-1] == "brokers: sim connected"


def test_format_status_says_when_the_journal_cannot_be_written() -> None:
    healthy = {**STATUS, "journal": {"path": "/j", "writable": True, "reason": "", "pending": 0}}
    assert "journal" not in format_status(healthy)
    broken = {
        **STATUS,
        "journal": {"path": "/j", "writable": False, "reason": "the disk is full", "pending": 12},
    }
    assert format_status(broken).splitlines()[-1] == (
        "journal: NOT WRITABLE — the disk is full; 12 record(s) wait in memory for /j"
    )


def test_format_status_says_a_locked_account_is_still_being_traded() -> None:
    account = {**STATUS["accounts"][0], "reflattens": 3, "since_lock": "-749.50"}
    text = format_status({**STATUS, "accounts": [account]})
    assert (
        "sim:demo-1: strategy still trading a locked account: 3 re-flattens, -749.50 since the lock"
    ) in text.splitlines()
    assert "re-flatten" not in format_status(STATUS)


def test_format_status_tolerates_missing_numbers() -> None:
    text = format_status({"accounts": [{"account": "sim:x", "state": "ACTIVE"}], "brokers": []})
    assert "sim:x" in text
    assert format_status({"accounts": []}) == "no accounts"


def test_format_flatten() -> None:
    text = format_flatten(
        {
            "results": [
                {"account": "sim:demo-1", "flat": True, "detail": "verified flat"},
                {"account": "sim:demo-2", "flat": False, "detail": "position 1 MNQ after 10 reads"},
            ]
        }
    )
    lines = text.splitlines()
    assert "FLAT" in lines[1]
    assert "sim:demo-1" in lines[1]
    assert "NOT FLAT" in lines[2]
    assert "position 1 MNQ" in lines[2]
    assert lines[-1] == "1 of 2 accounts flat"
    assert format_flatten({"results": []}) == "no accounts matched"

"""Local control: a running propdesk takes commands from the same machine, so a trader can flatten
from a terminal or a script while the GUI is frozen.

Transport: a Unix domain socket that only this user can open: mode 0600 in a 0700 directory
(platformdirs' user runtime dir, else the user state dir; `PROPDESK_CONTROL` overrides the path), and
every connection's peer uid is checked against ours where the kernel tells us (SO_PEERCRED on Linux,
LOCAL_PEERCRED on macOS/BSD). Windows would need a named pipe, which is not implemented: every entry
point raises NotImplementedError there.

Protocol: one JSON object per line each way (so `nc -U` or `socat` works by hand).

    {"id": 1, "cmd": "status"}
    {"id": 2, "cmd": "flatten", "scope": "all" | {"accounts": ["sim:demo-1"]} | {"cluster": "name"}}
    {"id": 3, "cmd": "unlock", "account": "sim:demo-1", "confirm": "sim:demo-1"}
    {"cmd": "ping"}
    → {"id": 1, "ok": true, "result": {...}}  or  {"id": 1, "ok": false, "error": "..."}

Every request runs as its own task and replies when done (replies can come out of order; match them by
id), so a slow flatten never holds up a status. A request that has reached the handler keeps running
if its client goes away: a flatten the trader asked for finishes even after Ctrl-C in the terminal.

Limits: at most MAX_CONNECTIONS clients at once (one more is told why and closed); a client that sends
nothing for the idle timeout while none of its requests runs is closed, and so is one that leaves its
replies unread that long. The client side talks only to a socket file owned by this user, in a
directory others cannot write, served by a process of this user (where the kernel says).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import logging
import os
import socket
import stat
import struct
import sys
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from enum import Enum
from pathlib import Path
from typing import Any, Protocol

import platformdirs

from propdesk import __version__

log = logging.getLogger(__name__)

ENV_PATH = "PROPDESK_CONTROL"
SOCKET_NAME = "control.sock"
# The longest request line accepted, newline excluded. Real requests are a few hundred bytes; the cap
# keeps one misbehaving client from making the server buffer without bound.
MAX_LINE = 64 * 1024
# Replies can be large (status of many accounts); the client's cap only guards against garbage.
_CLIENT_LIMIT = 16 * 1024 * 1024
# At most this many clients at once. `propdesk status` and friends hold one connection for one
# request; more than this at once is a runaway script, which must not use up the process's descriptors.
MAX_CONNECTIONS = 16
# A client that sends nothing for this long while none of its requests runs is closed, and so is one
# that leaves a reply unread this long: either way it would hold one of the connections above for good.
IDLE_TIMEOUT = 30.0
# How long start() waits for whatever listens on an existing socket file to accept a connection.
_PROBE_TIMEOUT = 2.0
_CLOSE_TIMEOUT = 5.0


class ControlError(RuntimeError):
    """Local control cannot do what was asked (bad path, unsafe directory, protocol breakage)."""


class AlreadyRunning(ControlError):
    """Another propdesk already serves the control socket at this path."""


class ControlUnavailable(ControlError):
    """Nothing listens on the control socket: propdesk is not running (or not on this path)."""


class ControlTimeout(ControlError, TimeoutError):
    """propdesk accepted the request but did not answer in time; the command may still be running."""


class ControlRefused(ControlError):
    """propdesk answered `ok: false`; the message is the server's error."""


class UnknownScope(KeyError):
    """A flatten or an unlock names an account or a cluster propdesk does not watch. A KeyError, as
    a lookup by account key always raised; its message is the sentence alone (KeyError's own str()
    would quote it)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown account"

    @classmethod
    def accounts(cls, unknown: Sequence[str], known: Iterable[str]) -> UnknownScope:
        noun = "account" if len(unknown) == 1 else "accounts"
        return cls(f"no {noun} {', '.join(unknown)} (known: {', '.join(known) or 'none'})")

    @classmethod
    def cluster(cls, name: str, known: Iterable[str | None]) -> UnknownScope:
        names = sorted({c for c in known if c})
        return cls(f"no cluster {name} (known: {', '.join(names) or 'none'})")


@dataclass(frozen=True, slots=True)
class FlattenScope:
    """What to flatten: everything, the listed accounts ("broker:account-id"), or one cluster."""

    all: bool = False
    accounts: tuple[str, ...] = ()
    cluster: str | None = None

    def __post_init__(self) -> None:
        chosen = sum((self.all, bool(self.accounts), self.cluster is not None))
        if chosen != 1:
            raise ValueError("a flatten scope is exactly one of: all, accounts, cluster")
        if any(not isinstance(a, str) or not a for a in self.accounts):
            raise ValueError("a flatten scope's accounts are non-empty strings like 'sim:demo-1'")
        if self.cluster is not None and (not isinstance(self.cluster, str) or not self.cluster):
            raise ValueError("a flatten scope's cluster is a non-empty name")

    @classmethod
    def from_json(cls, value: Any) -> FlattenScope:
        """Parse the wire form; raises ValueError with a message fit for the client."""
        if value == "all":
            return cls(all=True)
        if isinstance(value, dict) and len(value) == 1:
            if "accounts" in value:
                accounts = value["accounts"]
                if not isinstance(accounts, list) or not accounts:
                    raise ValueError("scope.accounts must be a non-empty list of account names")
                return cls(accounts=tuple(accounts))
            if "cluster" in value:
                return cls(cluster=value["cluster"])
        # No default scope: a typo must not turn into "flatten everything".
        raise ValueError(
            'scope must be "all", {"accounts": ["broker:id", ...]} or {"cluster": "name"}'
        )

    def to_json(self) -> str | dict[str, Any]:
        if self.all:
            return "all"
        if self.accounts:
            return {"accounts": list(self.accounts)}
        return {"cluster": self.cluster}

    def describe(self) -> str:
        if self.all:
            return "all accounts"
        if self.accounts:
            return "accounts " + ", ".join(self.accounts)
        return f"cluster {self.cluster}"


class ControlHandler(Protocol):
    """What the runtime implements. Results must be JSON-able; Decimal, datetime/date and Enum
    values (by name) are converted. Exceptions become error replies carrying their message."""

    async def status(self) -> dict[str, Any]: ...

    async def flatten(self, scope: FlattenScope) -> dict[str, Any]: ...

    async def unlock(self, account: str) -> dict[str, Any]: ...


# --- where --------------------------------------------------------------------------------------


def _require_unix() -> None:
    if sys.platform == "win32" or not hasattr(socket, "AF_UNIX"):
        raise NotImplementedError(
            "local control on Windows needs a named pipe (\\\\.\\pipe\\propdesk-<user>), which "
            "propdesk does not implement yet; `propdesk status` / `propdesk flatten` are "
            "unavailable on this platform"
        )


# sun_path holds 108 bytes on Linux and 104 on macOS/BSD, NUL included.
_SUN_PATH_MAX = 107 if sys.platform.startswith("linux") else 103


def _check_path_length(path: Path) -> None:
    size = len(os.fsencode(path))
    if size > _SUN_PATH_MAX:
        raise ControlError(
            f"control socket path is {size} bytes, over the {_SUN_PATH_MAX}-byte AF_UNIX limit: "
            f"{path}; set {ENV_PATH} to a shorter path"
        )


def _runtime_dir() -> Path:
    # platformdirs warns (once) when XDG_RUNTIME_DIR is missing and it falls back; the fallback is fine
    # for us and the warning would only clutter `propdesk status` output.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Path(platformdirs.user_runtime_dir("propdesk", appauthor=False, ensure_exists=True))


def _state_dir() -> Path:
    return Path(platformdirs.user_state_dir("propdesk", appauthor=False, ensure_exists=True))


def _make_private_dir(directory: Path) -> None:
    """Make sure `directory` is ours and 0700: this is propdesk's own directory, so tightening an
    older, looser one is right."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = os.lstat(directory)
    if not stat.S_ISDIR(info.st_mode):
        raise ControlError(f"{directory} is not a directory")
    if info.st_uid != os.geteuid():
        raise ControlError(f"{directory} belongs to uid {info.st_uid}, not to us")
    if stat.S_IMODE(info.st_mode) != 0o700:
        # mkdir's mode is filtered by the umask and an existing directory keeps its mode.
        os.chmod(directory, 0o700)


def default_socket_path() -> Path:
    """`$PROPDESK_CONTROL`, else `<user runtime dir>/propdesk/control.sock` (directory created 0700),
    else the same name in the user state dir when the runtime dir cannot be had."""
    _require_unix()
    if override := os.environ.get(ENV_PATH):
        return Path(os.path.abspath(Path(override).expanduser()))
    problems: list[str] = []
    for where in (_runtime_dir, _state_dir):
        try:
            directory = where()
            _make_private_dir(directory)
        except (OSError, ControlError) as exc:
            problems.append(str(exc))
            continue
        return directory / SOCKET_NAME
    raise ControlError(
        f"no private directory for the control socket ({'; '.join(problems)}); set {ENV_PATH}"
    )


def _check_socket_dir(directory: Path) -> None:
    """Create a missing directory 0700; refuse one where another user could swap the socket file."""
    if not directory.exists():
        _make_private_dir(directory)
        return
    _refuse_open_dir(directory)


def _refuse_open_dir(directory: Path) -> None:
    # A sticky directory (/tmp) is fine: others may add files there but not replace ours, and a
    # socket file they made first is theirs, which the owner checks catch.
    info = os.stat(directory)
    if not stat.S_ISDIR(info.st_mode):
        raise ControlError(f"{directory} is not a directory")
    open_to_others = info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    if open_to_others and not info.st_mode & stat.S_ISVTX:
        raise ControlError(
            f"{directory} is writable by other users (mode {stat.S_IMODE(info.st_mode):o}); "
            "the control socket must live in a private directory"
        )


# --- peer credentials ---------------------------------------------------------------------------

# macOS/FreeBSD: getsockopt(SOL_LOCAL, LOCAL_PEERCRED) fills a struct xucred, whose first two fields
# are `u_int cr_version; uid_t cr_uid` (the same data libc's getpeereid() reads).
_SOL_LOCAL = 0
_LOCAL_PEERCRED = getattr(socket, "LOCAL_PEERCRED", 0x001)
_XUCRED_SIZE = 76


def peer_uid(sock: Any) -> int | None:
    """The uid of the process at the other end of a connected Unix socket, or None where the platform
    does not say (then the socket's 0600 mode is the only gate)."""
    try:
        if hasattr(socket, "SO_PEERCRED"):
            # Linux: struct ucred {pid_t pid; uid_t uid; gid_t gid}, filled in by the kernel at connect().
            raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("iII"))
            _pid, uid, _gid = struct.unpack("iII", raw)
            return int(uid)
        if sys.platform == "darwin" or "bsd" in sys.platform:
            raw = sock.getsockopt(_SOL_LOCAL, _LOCAL_PEERCRED, _XUCRED_SIZE)
            version, uid = struct.unpack_from("II", raw)
            return int(uid) if version == 0 else None
    except (OSError, struct.error):
        log.debug("control: peer credentials unavailable", exc_info=True)
    return None


def _peer_pid(sock: Any) -> int | None:
    if not hasattr(socket, "SO_PEERCRED"):
        return None
    try:
        raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("iII"))
        return int(struct.unpack("iII", raw)[0])
    except (OSError, struct.error):
        return None


# --- wire helpers -------------------------------------------------------------------------------


class _RequestError(Exception):
    """A request the server refuses; the message goes back to the client as is."""


def _jsonable(value: Any) -> Any:
    # Enum before int: GuardState is an IntEnum and json would write it as a bare number.
    if isinstance(value, Enum):
        return value.name
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, Decimal):
        return str(value)  # exact: money never goes through float
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"object key {key!r} is not a string")
            out[key] = _jsonable(item)
        return out
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    raise TypeError(f"{type(value).__name__} is not JSON-able")


def _encode(message: Mapping[str, Any]) -> bytes:
    # allow_nan=False: NaN is not JSON, and a client's parser may reject the whole reply.
    text = json.dumps(message, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return text.encode() + b"\n"


def _error(request_id: Any, message: str) -> dict[str, Any]:
    return {"id": request_id, "ok": False, "error": message}


# --- server -------------------------------------------------------------------------------------


@dataclass(eq=False, slots=True)
class _Client:
    """One connection's state: its streams, who it is, and the requests of it still running."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    pid: int | None
    write_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    pending: set[asyncio.Task[None]] = field(default_factory=set)
    # The idle clock while the server waits for this client's next line; None between reads.
    reading: asyncio.Timeout | None = None


class ControlServer:
    def __init__(
        self, handler: ControlHandler, path: Path, *, idle_timeout: float = IDLE_TIMEOUT
    ) -> None:
        if idle_timeout <= 0:
            raise ValueError(f"idle_timeout must be > 0 seconds, got {idle_timeout}")
        self._handler = handler
        self._path = Path(os.path.abspath(Path(path).expanduser()))
        self._idle_timeout = idle_timeout
        self._uid = os.geteuid() if hasattr(os, "geteuid") else -1
        self._server: asyncio.Server | None = None
        self._inode: int | None = None
        self._lock_fd: int | None = None
        self._connections: dict[asyncio.Task[Any], asyncio.StreamWriter] = {}
        self._requests: set[asyncio.Task[None]] = set()

    @property
    def path(self) -> Path:
        return self._path

    @property
    def open_connections(self) -> int:
        """How many clients are connected right now."""
        return len(self._connections)

    async def start(self) -> None:
        _require_unix()
        if self._server is not None:
            raise ControlError("control server already started")
        _check_path_length(self._path)
        try:
            _check_socket_dir(self._path.parent)
            self._lock()
        except OSError as exc:
            raise ControlError(f"cannot serve control at {self._path}: {exc}") from exc
        try:
            await self._clear_stale()
            sock = self._bind()
            self._server = await asyncio.start_unix_server(self._serve, sock=sock, limit=MAX_LINE)
        except OSError as exc:
            self._unlock()
            raise ControlError(f"cannot serve control at {self._path}: {exc}") from exc
        except BaseException:
            self._unlock()
            raise
        log.info("control: listening on %s", self._path)

    async def close(self) -> None:
        """Stop listening, remove the socket file, drop the clients and cancel requests in flight."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        self._remove_socket_file()
        for task in list(self._requests):
            task.cancel()
        for writer in self._connections.values():
            writer.close()
        pending = [*self._requests, *self._connections]
        if pending:
            await asyncio.wait(pending, timeout=_CLOSE_TIMEOUT)
        # Python 3.12's wait_closed() waits for connection handlers, which are gone by now.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(server.wait_closed(), _CLOSE_TIMEOUT)
        self._unlock()
        log.info("control: closed %s", self._path)

    # The lock file makes "one propdesk per socket path" race-free: two copies launched at once
    # could both find a stale socket, and the second would unlink the first's live one. flock dies
    # with the process, so a crash never leaves it held. The file stays (removing it would reopen
    # the race); it is empty and lives next to the socket.
    def _lock(self) -> None:
        import fcntl  # Unix only, like everything past _require_unix()

        lock_path = self._path.with_name(self._path.name + ".lock")
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise AlreadyRunning(
                    f"propdesk is already running (it holds the control socket at {self._path})"
                ) from None
            raise
        self._lock_fd = fd

    def _unlock(self) -> None:
        fd, self._lock_fd = self._lock_fd, None
        if fd is not None:
            os.close(fd)  # closing the descriptor releases the flock

    async def _clear_stale(self) -> None:
        try:
            info = os.lstat(self._path)
        except FileNotFoundError:
            return
        if not stat.S_ISSOCK(info.st_mode):
            raise ControlError(f"{self._path} exists and is not a socket; refusing to replace it")
        # Something may still listen there (a propdesk from before the lock file, or another
        # program): a live listener means we must not take the path.
        try:
            _, writer = await asyncio.wait_for(
                asyncio.open_unix_connection(self._path), _PROBE_TIMEOUT
            )
        except (ConnectionRefusedError, FileNotFoundError):
            log.info("control: removing stale socket %s", self._path)
            self._path.unlink(missing_ok=True)
            return
        except TimeoutError:
            raise AlreadyRunning(
                f"propdesk is already running (a process holds {self._path} but does not answer)"
            ) from None
        except PermissionError:
            raise ControlError(f"{self._path} exists and belongs to another user") from None
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        raise AlreadyRunning(f"propdesk is already running (control socket at {self._path})")

    def _bind(self) -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind(os.fspath(self._path))
            # bind() applies the umask, so set the mode right away. Nobody can connect before
            # listen(), so there is no window in which a looser mode matters.
            os.chmod(self._path, 0o600)
            info = os.lstat(self._path)
            mode = stat.S_IMODE(info.st_mode)
            if not stat.S_ISSOCK(info.st_mode) or mode != 0o600 or info.st_uid != self._uid:
                raise ControlError(
                    f"control socket {self._path} is mode {mode:o} owned by uid {info.st_uid} "
                    "after chmod; refusing to listen"
                )
            self._inode = info.st_ino
            sock.listen(64)
            sock.setblocking(False)
        except BaseException:
            sock.close()
            with contextlib.suppress(OSError):
                self._remove_socket_file()
            raise
        return sock

    def _remove_socket_file(self) -> None:
        # Only our own socket: never a file someone else put at the path since.
        try:
            if self._inode is not None and os.lstat(self._path).st_ino == self._inode:
                self._path.unlink()
        except FileNotFoundError:
            pass
        self._inode = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        if self._server is None:
            # Accepted just before close(): close() cannot see this connection, so drop it here.
            writer.close()
            return
        client = _Client(reader, writer, _peer_pid(writer.get_extra_info("socket")))
        # Counted before this one joins; a refused connection is listed too while it is told why,
        # so close() drops it like any other.
        full = len(self._connections) >= MAX_CONNECTIONS
        self._connections[task] = writer
        try:
            if full:
                await self._refuse_over_cap(client)
            else:
                await self._converse(client)
        finally:
            self._connections.pop(task, None)
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def _refuse_over_cap(self, client: _Client) -> None:
        log.warning(
            "control: refused a connection from pid %s: %d clients are connected already",
            client.pid,
            MAX_CONNECTIONS,
        )
        message = (
            f"too many connections to propdesk ({MAX_CONNECTIONS} already open); "
            "close some and try again"
        )
        await self._send(client, _error(None, message))

    async def _converse(self, client: _Client) -> None:
        uid = peer_uid(client.writer.get_extra_info("socket"))
        if uid is not None and uid != self._uid:
            log.warning(
                "control: refused pid %s uid %s (we are uid %s)", client.pid, uid, self._uid
            )
            message = f"permission denied: uid {uid} may not control this propdesk"
            await self._send(client, _error(None, message))
            return
        while True:
            try:
                line = await self._next_line(client)
            except TimeoutError:
                log.info(
                    "control: closing the connection of pid %s: no request for %g s",
                    client.pid,
                    self._idle_timeout,
                )
                message = f"no request for {self._idle_timeout:g} s; closing the connection"
                await self._send(client, _error(None, message))
                break
            except ValueError:
                # The line overran MAX_LINE: the stream is now mid-line, so there is no telling
                # where the next request starts. Say why, then close.
                await self._send(client, _error(None, f"request line over {MAX_LINE} bytes"))
                break
            except ConnectionError:
                break
            if not line:
                break
            if not line.strip():
                continue  # an Enter typed into `nc -U` is not a request
            self._start_request(client, line)
        # The client may half-close after its last request (`nc -N`, `socat`): answer first.
        if client.pending:
            await asyncio.wait(client.pending)

    async def _next_line(self, client: _Client) -> bytes:
        """The client's next line; TimeoutError once it has been idle for the idle timeout.

        The idle clock runs only while none of this client's requests runs: waiting for a slow
        flatten's reply is not idling. `_request_done` starts it when the last one finishes."""
        loop = asyncio.get_running_loop()
        deadline = None if client.pending else loop.time() + self._idle_timeout
        try:
            async with asyncio.timeout_at(deadline) as client.reading:
                return await client.reader.readline()
        finally:
            client.reading = None

    def _start_request(self, client: _Client, line: bytes) -> None:
        request = asyncio.create_task(self._answer(client, line))
        client.pending.add(request)
        self._requests.add(request)
        request.add_done_callback(self._requests.discard)
        request.add_done_callback(lambda task: self._request_done(client, task))

    def _request_done(self, client: _Client, task: asyncio.Task[None]) -> None:
        client.pending.discard(task)
        idle = client.reading
        # when() is None only for a clock that was not running, so it cannot be expiring.
        if not client.pending and idle is not None and idle.when() is None:
            idle.reschedule(asyncio.get_running_loop().time() + self._idle_timeout)

    async def _send(self, client: _Client, reply: Mapping[str, Any]) -> None:
        try:
            data = _encode(reply)
        except (TypeError, ValueError) as exc:
            data = _encode(_error(reply.get("id"), f"reply is not JSON: {exc}"))
        writer = client.writer
        async with client.write_lock:
            if writer.is_closing():
                return  # the client left; a request that ran on without it simply goes unanswered
            writer.write(data)
            try:
                async with asyncio.timeout(self._idle_timeout):
                    await writer.drain()
            except ConnectionError:
                pass
            except TimeoutError:
                # A client that does not read would hold its connection, and this task, for good.
                log.warning(
                    "control: dropping pid %s: it left a reply unread for %g s",
                    client.pid,
                    self._idle_timeout,
                )
                writer.transport.abort()

    async def _answer(self, client: _Client, line: bytes) -> None:
        reply = await self._dispatch(line, client.pid)
        await self._send(client, reply)

    async def _dispatch(self, line: bytes, pid: int | None) -> dict[str, Any]:
        try:
            request = json.loads(line)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            return _error(None, f"bad JSON: {exc}")
        if not isinstance(request, dict):
            return _error(None, "a request is a JSON object with a 'cmd'")
        request_id = request.get("id")
        if isinstance(request_id, bool) or not isinstance(request_id, int | str | None):
            return _error(None, "id must be an integer or a string")
        cmd = request.get("cmd")
        try:
            result = await self._run(cmd, request, pid)
            return {"id": request_id, "ok": True, "result": _jsonable(result)}
        except _RequestError as exc:
            return _error(request_id, str(exc))
        except UnknownScope as exc:
            log.info("control: %s refused: %s", cmd, exc)
            return _error(request_id, str(exc))
        except Exception as exc:
            # The handler's failure is the client's answer; the server carries on.
            log.exception("control: %s failed", cmd)
            return _error(request_id, f"{cmd} failed: {exc or type(exc).__name__}")

    async def _run(self, cmd: Any, request: dict[str, Any], pid: int | None) -> Any:
        if cmd == "ping":
            return {"pong": True, "pid": os.getpid(), "version": __version__}
        if cmd == "status":
            result = await self._handler.status()
        elif cmd == "flatten":
            try:
                scope = FlattenScope.from_json(request.get("scope"))
            except (ValueError, TypeError) as exc:
                raise _RequestError(str(exc)) from None
            log.info("control: flatten %s requested by pid %s", scope.describe(), pid)
            result = await self._handler.flatten(scope)
        elif cmd == "unlock":
            account = request.get("account")
            if not isinstance(account, str) or not account:
                raise _RequestError("unlock needs 'account', e.g. \"sim:demo-1\"")
            # An unlock states its scope twice so a replayed or mistyped command cannot lift a lock.
            if request.get("confirm") != account:
                raise _RequestError(
                    f"unlock refused: 'confirm' must repeat the account exactly ({account!r})"
                )
            log.info("control: unlock %s requested by pid %s", account, pid)
            result = await self._handler.unlock(account)
        else:
            raise _RequestError(
                f"unknown command {cmd!r} (expected one of: status, flatten, unlock, ping)"
            )
        if not isinstance(result, Mapping):
            raise TypeError(f"handler returned {type(result).__name__}, not a JSON object")
        return result


# --- client -------------------------------------------------------------------------------------


async def request(
    cmd: dict[str, Any], *, path: Path | None = None, timeout: float = 30.0
) -> dict[str, Any]:
    """Send one command to the running propdesk and return its `result`.

    Raises ControlUnavailable when nothing listens, ControlTimeout (also a TimeoutError) when no
    reply comes within `timeout` seconds, ControlRefused when propdesk answers with an error, and
    ControlError, having sent nothing, when the socket is not this user's propdesk's.
    """
    _require_unix()
    target = Path(path) if path is not None else default_socket_path()
    _check_path_length(target)
    _check_socket_is_ours(target)
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await _connect(target)
            try:
                _check_peer_is_us(writer, target)
                raw = await _exchange(reader, writer, {"id": 1, **cmd})
            finally:
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()
    except TimeoutError:
        raise ControlTimeout(
            f"no reply from propdesk within {timeout:g} s ({target}); "
            "the command may still be running"
        ) from None
    return _result_of(raw)


def _check_socket_is_ours(path: Path) -> None:
    """Refuse, before connecting, a path that is not a socket of this user's in a private directory:
    commands (a flatten, an unlock) must reach this user's propdesk and nothing else."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        raise ControlUnavailable(f"propdesk is not running (no control socket at {path})") from None
    except OSError as exc:
        raise ControlError(f"cannot look at the control socket {path}: {exc.strerror}") from None
    if not stat.S_ISSOCK(info.st_mode):
        hint = f" (is {ENV_PATH} right?)" if os.environ.get(ENV_PATH) else ""
        raise ControlError(
            f"{path} is not a socket, so not propdesk's control socket; nothing was sent{hint}"
        )
    uid = os.geteuid()
    if info.st_uid != uid:
        raise ControlError(
            f"the control socket {path} belongs to uid {info.st_uid}, not to you (uid {uid}); "
            "nothing was sent"
        )
    try:
        _refuse_open_dir(path.parent)
    except ControlError as exc:
        raise ControlError(f"{exc}; nothing was sent") from None


def _check_peer_is_us(writer: asyncio.StreamWriter, path: Path) -> None:
    # The file checks above leave a moment in which the path could be swapped; the kernel's word on
    # who accepted the connection does not.
    uid = peer_uid(writer.get_extra_info("socket"))
    ours = os.geteuid()
    if uid is not None and uid != ours:
        raise ControlError(
            f"the control socket {path} is served by uid {uid}, not by you (uid {ours}); "
            "nothing was sent"
        )


async def _connect(target: Path) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    try:
        return await asyncio.open_unix_connection(target, limit=_CLIENT_LIMIT)
    except FileNotFoundError:
        raise ControlUnavailable(
            f"propdesk is not running (no control socket at {target})"
        ) from None
    except ConnectionRefusedError:
        raise ControlUnavailable(
            f"propdesk is not running (stale control socket at {target})"
        ) from None
    except PermissionError:
        raise ControlError(
            f"permission denied opening {target} (another user's propdesk?)"
        ) from None


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, message: dict[str, Any]
) -> bytes:
    """Send one request line and read one reply line (b"" when the server hangs up first)."""
    try:
        writer.write(_encode(message))
        await writer.drain()
        return await reader.readline()
    except ValueError:
        raise ControlError(f"reply over {_CLIENT_LIMIT} bytes") from None
    except ConnectionError:
        return b""


def _result_of(raw: bytes) -> dict[str, Any]:
    if not raw:
        raise ControlError("propdesk closed the connection without a reply")
    try:
        reply = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ControlError(f"unreadable reply from propdesk: {exc}") from None
    if not isinstance(reply, dict) or "ok" not in reply:
        raise ControlError(f"unexpected reply from propdesk: {raw[:200]!r}")
    if not reply["ok"]:
        raise ControlRefused(str(reply.get("error", "unknown error")))
    result = reply.get("result")
    if not isinstance(result, dict):
        raise ControlError(f"unexpected result from propdesk: {result!r}")
    return result


def call(cmd: dict[str, Any], *, path: Path | None = None, timeout: float = 30.0) -> dict[str, Any]:
    """`request()` for synchronous callers (the CLI); runs its own event loop, so it cannot be
    called from inside a running one (use `await request(...)` there)."""
    return asyncio.run(request(cmd, path=path, timeout=timeout))


# --- terminal output ----------------------------------------------------------------------------


def _decimal(text: Any) -> Decimal | None:
    if text is None or isinstance(text, bool):
        return None
    try:
        value = Decimal(str(text))
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def _money(text: Any, *, signed: bool = False) -> str:
    value = _decimal(text)
    if value is None:
        return "-" if text in (None, "") else str(text)
    return format(value, "+," if signed else ",")


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]], right: set[int]) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = []
    for row in [header, *rows]:
        cells = [
            cell.rjust(widths[i]) if i in right else cell.ljust(widths[i])
            for i, cell in enumerate(row)
        ]
        lines.append("  ".join(cells).rstrip())
    return lines


def format_status(result: dict[str, Any]) -> str:
    """A terminal table of a status result: one row per account, then the broker links."""
    accounts = result.get("accounts") or []
    lines: list[str] = []
    if accounts:
        header = (
            "ACCOUNT",
            "STATE",
            "EQUITY",
            "DAY P&L",
            "FLOOR",
            "DISTANCE",
            "POS",
            "ORD",
            "REASON",
        )
        rows = []
        for acc in accounts:
            equity, floor = _decimal(acc.get("equity")), _decimal(acc.get("floor"))
            distance = "-"
            if equity is not None and floor is not None:
                distance = format(equity - floor, ",")
            rows.append(
                (
                    str(acc.get("account", "?")),
                    str(acc.get("state", "?")),
                    _money(acc.get("equity")),
                    _money(acc.get("day_pnl"), signed=True),
                    _money(acc.get("floor")),
                    distance,
                    str(acc.get("positions", "-")),
                    str(acc.get("orders", "-")),
                    str(acc.get("reason") or ""),
                )
            )
        lines += _table(header, rows, right={2, 3, 4, 5, 6, 7})
    else:
        lines.append("no accounts")
    brokers = result.get("brokers") or []
    if brokers:
        links = ", ".join(f"{b.get('name', '?')} {b.get('link', '?')}" for b in brokers)
        lines += ["", f"brokers: {links}"]
    journal = result.get("journal")
    if isinstance(journal, dict) and journal.get("writable") is False:
        lines.append(
            f"journal: NOT WRITABLE — {journal.get('reason') or 'unknown reason'}; "
            f"{journal.get('pending', '?')} record(s) wait in memory for {journal.get('path', '?')}"
        )
    return "\n".join(lines)


def format_flatten(result: dict[str, Any]) -> str:
    """One line per account (FLAT / NOT FLAT and the kill switch's detail), then a count."""
    results = result.get("results") or []
    if not results:
        return "no accounts matched"
    rows = [
        (
            str(r.get("account", "?")),
            "FLAT" if r.get("flat") is True else "NOT FLAT",
            str(r.get("detail") or ""),
        )
        for r in results
    ]
    flat = sum(1 for r in results if r.get("flat") is True)
    lines = _table(("ACCOUNT", "RESULT", "DETAIL"), rows, right=set())
    lines += ["", f"{flat} of {len(results)} accounts flat"]
    return "\n".join(lines)

"""The control socket's server: one task per connection, one per request, limits on both.

Limits: at most MAX_CONNECTIONS clients at once (one more is told why and closed); a client that sends
nothing for the idle timeout while none of its requests runs is closed, and so is one that leaves its
replies unread that long. A request that has reached the handler keeps running if its client goes
away: a flatten the trader asked for finishes even after Ctrl-C in the terminal.
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
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from propdesk import __version__
from propdesk.runtime.control import (
    MAX_LINE,
    AlreadyRunning,
    ControlError,
    ControlHandler,
    FlattenScope,
    RequestError,
    UnknownScope,
    check_path_length,
    check_socket_dir,
    encode_line,
    error_reply,
    jsonable,
    peer_pid,
    peer_uid,
    require_unix,
)

log = logging.getLogger(__name__)

# At most this many clients at once. `propdesk status` and friends hold one connection for one
# request; more than this at once is a runaway script, which must not use up the process's descriptors.
MAX_CONNECTIONS = 16
# A client that sends nothing for this long while none of its requests runs is closed, and so is one
# that leaves a reply unread this long: either way it would hold one of the connections above for good.
IDLE_TIMEOUT = 30.0
# How long start() waits for whatever listens on an existing socket file to accept a connection.
_PROBE_TIMEOUT = 2.0
_CLOSE_TIMEOUT = 5.0


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
        require_unix()
        if self._server is not None:
            raise ControlError("control server already started")
        check_path_length(self._path)
        try:
            check_socket_dir(self._path.parent)
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
        import fcntl  # Unix only, like everything past require_unix()

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
        client = _Client(reader, writer, peer_pid(writer.get_extra_info("socket")))
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
        await self._send(client, error_reply(None, message))

    async def _converse(self, client: _Client) -> None:
        uid = peer_uid(client.writer.get_extra_info("socket"))
        if uid is not None and uid != self._uid:
            log.warning(
                "control: refused pid %s uid %s (we are uid %s)", client.pid, uid, self._uid
            )
            message = f"permission denied: uid {uid} may not control this propdesk"
            await self._send(client, error_reply(None, message))
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
                await self._send(client, error_reply(None, message))
                break
            except ValueError:
                # The line overran MAX_LINE: the stream is now mid-line, so there is no telling
                # where the next request starts. Say why, then close.
                await self._send(client, error_reply(None, f"request line over {MAX_LINE} bytes"))
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
            data = encode_line(reply)
        except (TypeError, ValueError) as exc:
            data = encode_line(error_reply(reply.get("id"), f"reply is not JSON: {exc}"))
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
            return error_reply(None, f"bad JSON: {exc}")
        if not isinstance(request, dict):
            return error_reply(None, "a request is a JSON object with a 'cmd'")
        request_id = request.get("id")
        if isinstance(request_id, bool) or not isinstance(request_id, int | str | None):
            return error_reply(None, "id must be an integer or a string")
        cmd = request.get("cmd")
        try:
            result = await self._run(cmd, request, pid)
            return {"id": request_id, "ok": True, "result": jsonable(result)}
        except RequestError as exc:
            return error_reply(request_id, str(exc))
        except UnknownScope as exc:
            log.info("control: %s refused: %s", cmd, exc)
            return error_reply(request_id, str(exc))
        except Exception as exc:
            # The handler's failure is the client's answer; the server carries on.
            log.exception("control: %s failed", cmd)
            return error_reply(request_id, f"{cmd} failed: {exc or type(exc).__name__}")

    async def _run(self, cmd: Any, request: dict[str, Any], pid: int | None) -> Any:
        if cmd == "ping":
            return {"pong": True, "pid": os.getpid(), "version": __version__}
        if cmd == "status":
            result = await self._handler.status()
        elif cmd == "flatten":
            try:
                scope = FlattenScope.from_json(request.get("scope"))
            except (ValueError, TypeError) as exc:
                raise RequestError(str(exc)) from None
            log.info("control: flatten %s requested by pid %s", scope.describe(), pid)
            result = await self._handler.flatten(scope)
        elif cmd == "unlock":
            account = request.get("account")
            if not isinstance(account, str) or not account:
                raise RequestError("unlock needs 'account', e.g. \"sim:demo-1\"")
            # An unlock states its scope twice so a replayed or mistyped command cannot lift a lock.
            if request.get("confirm") != account:
                raise RequestError(
                    f"unlock refused: 'confirm' must repeat the account exactly ({account!r})"
                )
            log.info("control: unlock %s requested by pid %s", account, pid)
            result = await self._handler.unlock(account)
        else:
            raise RequestError(
                f"unknown command {cmd!r} (expected one of: status, flatten, unlock, ping)"
            )
        if not isinstance(result, Mapping):
            raise TypeError(f"handler returned {type(result).__name__}, not a JSON object")
        return result

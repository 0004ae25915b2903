"""The control socket's client: one command to the running propdesk, one reply back.

It talks only to a socket file owned by this user, in a directory others cannot write, served by a
process of this user (where the kernel says); otherwise it refuses having sent nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import stat
from pathlib import Path
from typing import Any

from propdesk.runtime.control import (
    ENV_PATH,
    ControlError,
    ControlRefused,
    ControlTimeout,
    ControlUnavailable,
    check_path_length,
    default_socket_path,
    encode_line,
    peer_uid,
    refuse_open_dir,
    require_unix,
)

# Replies can be large (status of many accounts); the client's cap only guards against garbage.
_CLIENT_LIMIT = 16 * 1024 * 1024


async def request(
    cmd: dict[str, Any], *, path: Path | None = None, timeout: float = 30.0
) -> dict[str, Any]:
    """Send one command to the running propdesk and return its `result`.

    Raises ControlUnavailable when nothing listens, ControlTimeout (also a TimeoutError) when no
    reply comes within `timeout` seconds, ControlRefused when propdesk answers with an error, and
    ControlError, having sent nothing, when the socket is not this user's propdesk's.
    """
    require_unix()
    target = Path(path) if path is not None else default_socket_path()
    check_path_length(target)
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
            "the command may still be running. If propdesk hangs (its log says where its event "
            "loop is held), flatten at your broker now"
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
        refuse_open_dir(path.parent)
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
        writer.write(encode_line(message))
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

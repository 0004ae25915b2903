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

The server is control_server.py, the client control_client.py, the terminal tables control_text.py;
this module holds what they share: the scope, the errors, where the socket lives, who is at the other
end, and the wire's encoding.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import stat
import struct
import sys
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any, Protocol

import platformdirs

log = logging.getLogger(__name__)

ENV_PATH = "PROPDESK_CONTROL"
SOCKET_NAME = "control.sock"
# The longest request line accepted, newline excluded. Real requests are a few hundred bytes; the cap
# keeps one misbehaving client from making the server buffer without bound.
MAX_LINE = 64 * 1024


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


def require_unix() -> None:
    if sys.platform == "win32" or not hasattr(socket, "AF_UNIX"):
        raise NotImplementedError(
            "local control on Windows needs a named pipe (\\\\.\\pipe\\propdesk-<user>), which "
            "propdesk does not implement yet; `propdesk status` / `propdesk flatten` are "
            "unavailable on this platform"
        )


# sun_path holds 108 bytes on Linux and 104 on macOS/BSD, NUL included.
_SUN_PATH_MAX = 107 if sys.platform.startswith("linux") else 103


def check_path_length(path: Path) -> None:
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


def make_private_dir(directory: Path) -> None:
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
    require_unix()
    if override := os.environ.get(ENV_PATH):
        return Path(os.path.abspath(Path(override).expanduser()))
    problems: list[str] = []
    for where in (_runtime_dir, _state_dir):
        try:
            directory = where()
            make_private_dir(directory)
        except (OSError, ControlError) as exc:
            problems.append(str(exc))
            continue
        return directory / SOCKET_NAME
    raise ControlError(
        f"no private directory for the control socket ({'; '.join(problems)}); set {ENV_PATH}"
    )


def check_socket_dir(directory: Path) -> None:
    """Create a missing directory 0700; refuse one where another user could swap the socket file."""
    if not directory.exists():
        make_private_dir(directory)
        return
    refuse_open_dir(directory)


def refuse_open_dir(directory: Path) -> None:
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


def peer_pid(sock: Any) -> int | None:
    if not hasattr(socket, "SO_PEERCRED"):
        return None
    try:
        raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("iII"))
        return int(struct.unpack("iII", raw)[0])
    except (OSError, struct.error):
        return None


# --- wire helpers -------------------------------------------------------------------------------


class RequestError(Exception):
    """A request the server refuses; the message goes back to the client as is."""


def jsonable(value: Any) -> Any:
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
            out[key] = jsonable(item)
        return out
    if isinstance(value, list | tuple):
        return [jsonable(item) for item in value]
    raise TypeError(f"{type(value).__name__} is not JSON-able")


def encode_line(message: Mapping[str, Any]) -> bytes:
    # allow_nan=False: NaN is not JSON, and a client's parser may reject the whole reply.
    text = json.dumps(message, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return text.encode() + b"\n"


def error_reply(request_id: Any, message: str) -> dict[str, Any]:
    return {"id": request_id, "ok": False, "error": message}

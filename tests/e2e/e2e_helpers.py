"""Helpers for the end-to-end tests: a `propdesk --headless --demo` subprocess whose stdout is read
line by line (with timeouts, never by sleeping), an environment that keeps the run out of the real user
dirs, and read-only access to its journal.

Every process runs with its own short temporary directory under /tmp: the control socket lives there
(AF_UNIX paths are limited to ~107 bytes), and so do HOME and the XDG dirs.

The console itself runs on an Xvfb display of its own, driven with xdotool; its window's pixels are
read by a separate Qt client of that display.
"""

from __future__ import annotations

import json
import os
import queue
import re
import select
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
PYTHON = sys.executable

DEMO_ACCOUNTS = ("sim:TS-50K", "sim:APEX-50K", "sim:TDY-50K")
START_PREFIX = "propdesk headless demo:"
RESUMED_PREFIX = "resumed from "


def short_tmpdir(prefix: str) -> Path:
    """A fresh 0700 directory directly under /tmp: short enough for a Unix socket path."""
    return Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def isolated_env(workdir: Path) -> dict[str, str]:
    """The process environment: control socket, HOME and every XDG dir inside `workdir`."""
    env = dict(os.environ)
    for name in ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
        env[name] = str(workdir / name.lower())
    runtime = workdir / "run"
    runtime.mkdir(mode=0o700, exist_ok=True)
    env.update(
        HOME=str(workdir / "home"),
        XDG_RUNTIME_DIR=str(runtime),
        PROPDESK_CONTROL=str(socket_path(workdir)),
        PYTHONUNBUFFERED="1",
        PYTHONPATH=os.pathsep.join(
            p for p in (str(ROOT), str(HERE), os.environ.get("PYTHONPATH", "")) if p
        ),
    )
    return env


def socket_path(workdir: Path) -> Path:
    path = workdir / "c.sock"
    assert len(str(path)) < 100, f"socket path too long for AF_UNIX: {path}"
    return path


def run_cli(workdir: Path, *args: str, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
    """`python -m propdesk ARGS` against the headless process of `workdir`."""
    return subprocess.run(
        [PYTHON, "-m", "propdesk", *args],
        cwd=ROOT,
        env=isolated_env(workdir),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        check=False,
    )


class Headless:
    """`python -m propdesk --headless --demo ...` with its stdout collected by a reader thread."""

    def __init__(
        self,
        workdir: Path,
        journal: Path | None,
        *,
        run_for: float,
        speed: float,
        seed: int = 7,
        extra: tuple[str, ...] = (),
    ) -> None:
        """`journal` None: the demo's default journal (in `workdir`'s XDG data dir)."""
        self.workdir = workdir
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._stderr_path = workdir / f"stderr-{time.monotonic_ns()}.txt"
        self._stderr = open(self._stderr_path, "w+", encoding="utf-8")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [
                PYTHON,
                "-m",
                "propdesk",
                "--headless",
                "--demo",
                "--for",
                str(run_for),
                "--speed",
                str(speed),
                "--seed",
                str(seed),
                *(() if journal is None else ("--journal", str(journal))),
                *extra,
            ],
            cwd=ROOT,
            env=isolated_env(workdir),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            encoding="utf-8",
            bufsize=1,
        )
        self._reader = threading.Thread(target=self._read, name="headless stdout", daemon=True)
        self._reader.start()
        self._eof = False

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def next_line(self, deadline: float) -> str | None:
        """The next stdout line, or None at end of output; AssertionError when `deadline` passes."""
        if self._eof:
            return None
        remaining = deadline - time.monotonic()
        try:
            line = self._queue.get(timeout=max(0.0, remaining))
        except queue.Empty:
            raise AssertionError(
                f"no output line within the deadline; last lines: {self.lines[-5:]}; "
                f"stderr: {self.stderr()[-2000:]}"
            ) from None
        if line is None:
            self._eof = True
            return None
        self.lines.append(line)
        return line

    def wait_for(self, match: Callable[[str], bool], timeout: float) -> str:
        """Read lines until one matches; fails on end of output or after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            line = self.next_line(deadline)
            if line is None:
                raise AssertionError(
                    f"output ended (exit {self.proc.poll()}) before the line expected; "
                    f"last lines: {self.lines[-5:]}; stderr: {self.stderr()[-2000:]}"
                )
            if match(line):
                return line

    def wait_started(self, timeout: float = 60.0) -> str:
        return self.wait_for(lambda line: line.startswith(START_PREFIX), timeout)

    def finish(self, timeout: float = 60.0) -> int:
        """Read stdout to its end and wait for the exit; returns the exit code."""
        deadline = time.monotonic() + timeout
        while self.next_line(deadline) is not None:
            pass
        return self.proc.wait(timeout=max(0.1, deadline - time.monotonic()))

    def terminate(self, timeout: float = 30.0) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.finish(timeout)

    def kill(self) -> int:
        """SIGKILL: no handler runs, nothing is flushed or committed."""
        self.proc.send_signal(signal.SIGKILL)
        rc = self.proc.wait(timeout=30)
        self._reader.join(timeout=10)
        return rc

    def stderr(self) -> str:
        if not self._stderr.closed:
            self._stderr.flush()
        return self._stderr_path.read_text(encoding="utf-8", errors="replace")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self._stderr.close()


def summary_of(lines: list[str]) -> dict[str, Any]:
    """The closing JSON line of a headless run (it must be the last line)."""
    assert lines, "no output at all"
    summary = json.loads(lines[-1])
    assert summary.get("summary") is True, lines[-1]
    return summary


# -- the journal, read from outside the process --------------------------------------------------
Row = tuple[int, str, str, str | None, str | None, str]  # seq, ts, kind, account, broker, payload


def connect_ro(path: Path) -> sqlite3.Connection:
    """A read-only connection: never writes the journal a live process is appending to."""
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)


_ARCHIVE_DAY = re.compile(r"(\d{4}-\d{2}-\d{2})(?:-(\d+))?")


def journal_files(path: Path) -> list[Path]:
    """The journal's finished days (`journal.2026-12-03.sqlite`, oldest first), then the live file.

    A run that crosses the 17:00 CT day end rotates the journal: the earlier records move, whole,
    to that day's archive, and the live file starts with a snapshot. Seq numbers continue across.
    """
    archives = []
    for candidate in path.parent.glob(f"{path.stem}.*{path.suffix}"):
        middle = candidate.name[len(path.stem) + 1 : len(candidate.name) - len(path.suffix)]
        found = _ARCHIVE_DAY.fullmatch(middle)
        if found:
            archives.append((found.group(1), int(found.group(2) or 1), candidate))
    return [p for _day, _n, p in sorted(archives)] + [path]


def read_rows(path: Path, after: int = 0, upto: int | None = None) -> list[Row]:
    """Committed rows with after < seq (<= upto), across the journal's archived days and the live
    file, one read transaction per file."""
    rows: dict[int, Row] = {}
    for file in journal_files(path):
        db = connect_ro(file)
        try:
            sql = "SELECT seq, ts, kind, account, broker, payload FROM records WHERE seq > ?"
            params: list[int] = [after]
            if upto is not None:
                sql += " AND seq <= ?"
                params.append(upto)
            for row in db.execute(sql, params):
                rows.setdefault(row[0], tuple(row))  # type: ignore[arg-type]
        finally:
            db.close()
    return [rows[seq] for seq in sorted(rows)]


def max_seq(path: Path) -> int:
    db = connect_ro(path)
    try:
        return int(db.execute("SELECT MAX(seq) FROM records").fetchone()[0] or 0)
    finally:
        db.close()


def integrity_check(path: Path) -> str:
    db = connect_ro(path)
    try:
        return str(db.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        db.close()


def journal_records(path: Path, upto: int | None = None) -> Iterator[Any]:
    """The journal's records (propdesk's Record type) up to `upto`, from a read-only connection."""
    from propdesk.runtime.journal import Record

    for seq, ts, kind, account, broker, payload in read_rows(path, upto=upto):
        yield Record(seq, datetime.fromisoformat(ts), kind, account, broker, json.loads(payload))


def plain(value: Any) -> Any:
    """JSON form of durable_state() values (Decimal, datetime, date, tuples, dicts)."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


@dataclass
class Replay:
    """A replay of a journal through `propdesk.runtime.journal.rebuild`."""

    accounts: dict[str, Any]  # key -> AccountRisk
    last_seq: int
    last_ts: datetime | None
    at: dict[int, dict[str, dict[str, Any]]] = field(default_factory=dict)

    def durable(self) -> dict[str, dict[str, Any]]:
        return {key: plain(risk.durable_state()) for key, risk in self.accounts.items()}


def replay(path: Path, upto: int | None = None, checkpoints: tuple[int, ...] = ()) -> Replay:
    """Rebuild every account from every record of the journal with fresh engines (no snapshot).

    `checkpoints`: also capture each account's durable_state() right after the record with that seq
    (rebuild() asks for record k+1 only once record k is fully applied).
    """
    from propdesk.resources import load_instruments
    from propdesk.runtime.accounts import risk_for, setup_from_json
    from propdesk.runtime.journal import rebuild

    made: dict[str, Any] = {}

    def make(ref: str, config: dict[str, Any]) -> Any:
        made[ref] = risk_for(setup_from_json(config))
        return made[ref]

    at: dict[int, dict[str, dict[str, Any]]] = {}
    wanted = sorted(set(checkpoints))

    def records() -> Iterator[Any]:
        for record in journal_records(path, upto):
            while wanted and wanted[0] < record.seq:
                at[wanted.pop(0)] = {k: plain(r.durable_state()) for k, r in made.items()}
            yield record

    rebuilt = rebuild(records(), make, load_instruments(), use_snapshots=False)
    for seq in wanted:  # checkpoints at or past the end
        at[seq] = {k: plain(r.durable_state()) for k, r in made.items()}
    return Replay(rebuilt.accounts, rebuilt.last_seq, rebuilt.last_ts, at)


def replay_from_snapshot(path: Path, upto: int) -> Replay:
    """What a restarted propdesk rebuilds: the last snapshot up to `upto`, then the records after it."""
    from propdesk.resources import load_instruments
    from propdesk.runtime.accounts import risk_for, setup_from_json
    from propdesk.runtime.journal import rebuild

    db = connect_ro(path)
    try:
        row = db.execute(
            "SELECT MAX(seq) FROM records WHERE kind = 'snapshot' AND seq <= ?", (upto,)
        ).fetchone()
    finally:
        db.close()
    start = (row[0] or 1) - 1
    records = (r for r in journal_records(path, upto) if r.seq > start)
    rebuilt = rebuild(
        records, lambda _ref, config: risk_for(setup_from_json(config)), load_instruments()
    )
    return Replay(rebuilt.accounts, rebuilt.last_seq, rebuilt.last_ts)


def open_flattens(rows: list[Row]) -> set[str]:
    """Accounts whose last flatten action has no journaled result (the notice a flatten ends with)."""
    open_now: set[str] = set()
    for _seq, _ts, kind, account, _broker, payload in rows:
        if account is None:
            continue
        kind_of = json.loads(payload).get("type")
        if kind == "action" and kind_of == "flatten":
            open_now.add(account)
        elif kind == "notice" and kind_of == "flatten":
            open_now.discard(account)
    return open_now


# Run by a fresh interpreter: the same replay with nothing shared with the test process.
FRESH_REPLAY = (
    "import json, sys; from pathlib import Path; import e2e_helpers as h; "
    "r = h.replay(Path(sys.argv[1]), int(sys.argv[2])); "
    "print(json.dumps({'last_seq': r.last_seq, 'accounts': r.durable()}))"
)


def start_fresh_replay(workdir: Path, path: Path, upto: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [PYTHON, "-c", FRESH_REPLAY, str(path), str(upto)],
        cwd=ROOT,
        env=isolated_env(workdir),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def fresh_replay_result(proc: subprocess.Popen[str], timeout: float = 60.0) -> dict[str, Any]:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err
    return json.loads(out)


def wait_until(condition: Callable[[], Any], timeout: float, what: str, every: float = 0.05) -> Any:
    """Poll `condition` until it returns a true value (returned) or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        try:
            value = condition()
        except Exception as exc:  # the thing polled is not ready yet
            value, last_error = None, exc
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out waiting for {what}; last error: {last_error!r}")
        time.sleep(every)


def ping(workdir: Path, timeout: float = 2.0) -> dict[str, Any]:
    from propdesk.runtime.control_client import call

    return call({"cmd": "ping"}, path=socket_path(workdir), timeout=timeout)


def status(workdir: Path, timeout: float = 10.0) -> dict[str, Any]:
    from propdesk.runtime.control_client import call

    return call({"cmd": "status"}, path=socket_path(workdir), timeout=timeout)


# -- the console on a real X display: Xvfb, xdotool, and what the screen shows ------------------
XVFB_SCREEN = "1920x1080x24"
X_TOOLS = ("Xvfb", "xdotool")


def missing_x_tools() -> list[str]:
    return [tool for tool in X_TOOLS if shutil.which(tool) is None]


class Xvfb:
    """An Xvfb server on a display number it picks itself.

    `-displayfd` makes the server choose the first free display and write its number to a pipe once
    it accepts connections: no guessed number that another server could take in between, and no
    poll on the socket file.
    """

    def __init__(self, log: Path, *, screen: str = XVFB_SCREEN, timeout: float = 30.0) -> None:
        self._log = open(log, "w+", encoding="utf-8")  # noqa: SIM115
        self._log_path = log
        read_end, write_end = os.pipe()
        try:
            self.proc = subprocess.Popen(
                ["Xvfb", "-displayfd", str(write_end), "-screen", "0", screen, "-nolisten", "tcp"],
                pass_fds=(write_end,),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=self._log,
            )
        except BaseException:
            os.close(read_end)
            self._log.close()
            raise
        finally:
            os.close(write_end)
        try:
            self.display = f":{self._read_display(read_end, timeout)}"
        except BaseException:
            self.stop()
            raise
        finally:
            os.close(read_end)

    def _read_display(self, fd: int, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        text = b""
        while not text.endswith(b"\n"):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"Xvfb named no display within {timeout} s: {self.log()}")
            ready, _, _ = select.select([fd], [], [], remaining)
            if not ready:
                continue
            chunk = os.read(fd, 64)
            if not chunk:  # the server exited before it was ready
                raise AssertionError(
                    f"Xvfb exited (status {self.proc.wait(timeout=10)}) before it was ready: "
                    f"{self.log()}"
                )
            text += chunk
        return int(text.strip())

    def env(self, base: dict[str, str]) -> dict[str, str]:
        """`base` with this display, Qt's xcb platform, and no cookie file meant for another server."""
        env = dict(base)
        env.pop("XAUTHORITY", None)
        env.update(DISPLAY=self.display, QT_QPA_PLATFORM="xcb")
        return env

    def log(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self._log_path.read_text(encoding="utf-8", errors="replace")[-2000:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._log.close()


class WindowManager:
    """openbox on an Xvfb display: focus, stacking, dialogs placed and closed as on a desktop.

    Without one, nothing gives a new window the focus and Alt+F4 closes nothing; with one, a key
    pressed through XTEST goes where a trader's key would go. Ready once it answers for the
    desktop (`_NET_CURRENT_DESKTOP` exists only under a window manager).
    """

    def __init__(self, env: dict[str, str], log: Path, *, timeout: float = 30.0) -> None:
        self._log = open(log, "w", encoding="utf-8")  # noqa: SIM115
        self.proc = subprocess.Popen(
            ["openbox", "--sm-disable"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

        def ready() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"openbox exited ({self.proc.returncode}): see {log}")
            result = subprocess.run(
                ["xdotool", "get_desktop"], env=env, capture_output=True, timeout=10, check=False
            )
            return result.returncode == 0

        try:
            wait_until(ready, timeout, "openbox to manage the display")
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._log.close()


def xdotool(env: dict[str, str], *args: str, timeout: float = 20.0) -> str:
    """Run xdotool on the display of `env`; its stdout, or AssertionError naming what failed."""
    try:
        result = subprocess.run(
            ["xdotool", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise AssertionError(f"xdotool {' '.join(args)}: no answer within {timeout} s") from None
    if result.returncode != 0:
        raise AssertionError(
            f"xdotool {' '.join(args)} exited {result.returncode}: {result.stderr.strip()}"
        )
    return result.stdout


def window_geometry(env: dict[str, str], window: int) -> dict[str, int]:
    """X, Y, WIDTH, HEIGHT (and SCREEN) of a window, from `xdotool getwindowgeometry --shell`."""
    out = xdotool(env, "getwindowgeometry", "--shell", str(window))
    pairs = (line.split("=", 1) for line in out.splitlines() if "=" in line)
    return {key: int(value) for key, value in pairs if key != "WINDOW"}


@dataclass(frozen=True, slots=True)
class ColourBlock:
    """A 4-connected patch of one colour in a window's pixels (window coordinates)."""

    x: int
    y: int
    width: int
    height: int
    pixels: int

    @property
    def centre(self) -> tuple[int, int]:
        return self.x + self.width // 2, self.y + self.height // 2

    @property
    def fill(self) -> float:
        """How much of its bounding box the patch covers: ~1 for a filled shape, low for an outline."""
        return self.pixels / (self.width * self.height)


def colour_blocks(
    env: dict[str, str], window: int, colour: str, *, tolerance: int = 2, timeout: float = 30.0
) -> list[ColourBlock]:
    """The patches of `colour` ("#rrggbb") in what the X server shows of `window`, largest first.

    A separate interpreter grabs the pixels (a Qt client of the same display), so the test process
    never creates a QGuiApplication of its own.
    """
    result = subprocess.run(
        [
            PYTHON,
            "-c",
            "import e2e_helpers as h; h.print_colour_blocks()",
            str(window),
            colour,
            str(tolerance),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert result.returncode == 0, f"the screen grab failed: {result.stderr[-2000:]}"
    return [ColourBlock(**block) for block in json.loads(result.stdout)]


def print_colour_blocks() -> None:
    """`colour_blocks` in the grabbing interpreter: argv is WINDOW COLOUR TOLERANCE; prints JSON."""
    import numpy as np
    from PySide6.QtGui import QColor, QGuiApplication, QImage

    window, colour, tolerance = int(sys.argv[1]), QColor(sys.argv[2]), int(sys.argv[3])
    app = QGuiApplication(sys.argv[:1])
    screen = app.primaryScreen()
    assert screen is not None, "no screen"
    image = screen.grabWindow(window).toImage().convertToFormat(QImage.Format.Format_RGBX8888)
    width, height = image.width(), image.height()
    rows = np.frombuffer(image.constBits(), dtype=np.uint8, count=image.sizeInBytes())
    rgb = rows.reshape(height, image.bytesPerLine())[:, : width * 4].reshape(height, width, 4)
    wanted = np.array([colour.red(), colour.green(), colour.blue()], dtype=np.int16)
    mask = (np.abs(rgb[:, :, :3].astype(np.int16) - wanted) <= tolerance).all(axis=2)
    print(json.dumps(_blocks(mask)))


def _blocks(mask: Any) -> list[dict[str, int]]:
    """4-connected components of a boolean (height, width) array, largest first."""
    left = {(int(y), int(x)) for y, x in zip(*mask.nonzero(), strict=True)}
    blocks: list[dict[str, int]] = []
    while left:
        seed = left.pop()
        todo, ys, xs = [seed], [seed[0]], [seed[1]]
        while todo:
            y, x = todo.pop()
            for near in ((y - 1, x), (y + 1, x), (y, x - 1), (y, x + 1)):
                if near in left:
                    left.remove(near)
                    todo.append(near)
                    ys.append(near[0])
                    xs.append(near[1])
        blocks.append(
            {
                "x": min(xs),
                "y": min(ys),
                "width": max(xs) - min(xs) + 1,
                "height": max(ys) - min(ys) + 1,
                "pixels": len(ys),
            }
        )
    return sorted(blocks, key=lambda b: b["pixels"], reverse=True)


def has_record(path: Path, kind: str) -> bool:
    """Whether the journal holds a committed record of `kind` (read-only; False before it exists)."""
    if not path.exists():
        return False
    db = connect_ro(path)
    try:
        return (
            db.execute("SELECT 1 FROM records WHERE kind = ? LIMIT 1", [kind]).fetchone()
            is not None
        )
    finally:
        db.close()


class Console:
    """The real console, `python -m propdesk` with no command, on an X display.

    Its stdout and stderr go to files in `workdir` (a pipe nobody reads could fill and block it).
    """

    def __init__(
        self, workdir: Path, env: dict[str, str], journal: Path, *, args: tuple[str, ...]
    ) -> None:
        self.workdir = workdir
        self._stdout_path = workdir / "console-stdout.txt"
        self._stderr_path = workdir / "console-stderr.txt"
        self._stdout = open(self._stdout_path, "w+", encoding="utf-8")  # noqa: SIM115
        self._stderr = open(self._stderr_path, "w+", encoding="utf-8")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [PYTHON, "-m", "propdesk", "--journal", str(journal), *args],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._stdout,
            stderr=self._stderr,
        )

    def wait_until(self, condition: Callable[[], Any], timeout: float, what: str) -> Any:
        """`wait_until`, failing at once (with the console's stderr) if the console exits."""
        deadline = time.monotonic() + timeout
        last_error: BaseException | None = None
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"propdesk exited ({self.proc.returncode}) while waiting for {what}; "
                    f"stderr: {self.stderr()[-3000:]}"
                )
            try:
                value = condition()
            except Exception as exc:  # the thing polled is not ready yet
                value, last_error = None, exc
            if value:
                return value
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"timed out waiting for {what}; last error: {last_error!r}; "
                    f"stderr: {self.stderr()[-3000:]}"
                )
            time.sleep(0.1)

    def terminate(self, timeout: float) -> tuple[int, float]:
        """SIGTERM; the exit status and the seconds it took to exit (AssertionError past `timeout`)."""
        start = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"propdesk still running {timeout} s after SIGTERM; stderr: {self.stderr()[-3000:]}"
            ) from None
        return rc, time.monotonic() - start

    def stdout(self) -> str:
        return self._read(self._stdout, self._stdout_path)

    def stderr(self) -> str:
        return self._read(self._stderr, self._stderr_path)

    @staticmethod
    def _read(stream: Any, path: Path) -> str:
        if not stream.closed:
            stream.flush()
        return path.read_text(encoding="utf-8", errors="replace")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)
        self._stdout.close()
        self._stderr.close()

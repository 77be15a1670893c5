"""Drive the real `needlepen tui` program in a kernel pseudo-terminal, as a person would.

The pilot (`App.run_test`) bypasses the terminal's input parser, never runs the program twice
on one store and never types like a person; this does all three. Used by tests/tui and by
benchmarks/bench_tui.py.

    with TuiPty("--role", "home", "--zone", "forehead", "--db", db, size=(80, 24)) as tui:
        tui.wait_for_text("Screening")
        tui.keys("n" * 10 + "\\r")

A reader thread drains the pty all the time (a full pty would block the program's writes) and
keeps what the program drew; `text()` is that output with the terminal's control sequences
removed, good enough to find a word the program wrote.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import select
import signal
import sqlite3
import struct
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

#: What xterm-256color sends for keys the tests press.
KEYS: Mapping[str, bytes] = {
    "escape": b"\x1b",
    "f1": b"\x1bOP",
    "f2": b"\x1bOQ",
    "enter": b"\r",
    "tab": b"\t",
    "up": b"\x1b[A",
    "down": b"\x1b[B",
    "ctrl+q": b"\x11",
    "ctrl+e": b"\x05",
    "ctrl+x": b"\x18",
    "backspace": b"\x7f",
}

_CONTROL = re.compile(
    rb"\x1b\[[0-9;?<>=]*[ -/]*[@-~]"  # CSI: cursor moves, colours, modes
    rb"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)"  # OSC: titles, clipboard
    rb"|\x1b[()][0-9A-Za-z]|\x1b[=>78]"  # charsets, keypad, cursor save
)

Record = tuple[str, dict[str, Any]]


def records(db: str | os.PathLike[str]) -> list[Record]:
    """The audit log of an SQLite store, read-only, as (kind, data); [] while it is not there."""
    path = Path(db)
    if not path.exists():
        return []
    try:
        with contextlib.closing(
            sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        ) as conn:
            rows = conn.execute("SELECT kind, data FROM log ORDER BY id").fetchall()
    except sqlite3.Error:
        return []
    return [(kind, json.loads(data)) for kind, data in rows]


class TuiPty:
    """`python -m driver.cli tui ARGS` on a pty of `size` (columns, rows), TERM=xterm-256color."""

    def __init__(
        self,
        *args: str | os.PathLike[str],
        size: tuple[int, int] = (80, 24),
        env: Mapping[str, str] | None = None,
    ) -> None:
        cols, rows = size
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        full_env = {
            **os.environ,
            "TERM": "xterm-256color",
            "COLUMNS": str(cols),
            "LINES": str(rows),
            **(env or {}),
        }
        for name in ("TEXTUAL", "TEXTUAL_DRIVER", "ESCDELAY"):
            if env is None or name not in env:
                full_env.pop(name, None)
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "driver.cli", "tui", *map(str, args)],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=full_env,
            start_new_session=True,
        )
        os.close(slave)
        self.fd = master
        self._out = bytearray()
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._reader = threading.Thread(target=self._read, name="tui-pty-reader", daemon=True)
        self._reader.start()

    # --- output ---------------------------------------------------------------------------

    def _read(self) -> None:
        while not self._closed.is_set():
            try:
                ready, _, _ = select.select([self.fd], [], [], 0.05)
                if not ready:
                    continue
                data = os.read(self.fd, 65536)
            except OSError:
                return
            if not data:
                return
            with self._lock:
                self._out += data

    def raw(self) -> bytes:
        with self._lock:
            return bytes(self._out)

    def text(self, since: int = 0) -> str:
        """What the program wrote from byte `since` on, without control sequences."""
        return _CONTROL.sub(b"", self.raw()[since:]).decode("utf-8", "replace")

    def mark(self) -> int:
        """The current end of the output, for `wait_for_text(since=...)`."""
        with self._lock:
            return len(self._out)

    def wait_for_text(self, text: str, timeout: float = 10.0, since: int = 0) -> float:
        """Wait until the program has written `text`; return the monotonic time it was seen."""
        return self.wait_until(lambda: text in self.text(since), f"{text!r} on screen", timeout)

    def wait_until(
        self, predicate: Callable[[], object], what: str, timeout: float = 10.0
    ) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return time.monotonic()
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"needlepen tui exited ({self.proc.returncode}) before {what}; "
                    f"it wrote: {self.text()[-600:]!r}"
                )
            time.sleep(0.01)
        raise AssertionError(f"timed out waiting for {what}; last output: {self.text()[-600:]!r}")

    # --- input ----------------------------------------------------------------------------

    def keys(self, text: str) -> None:
        """Type `text` as one write (characters as a terminal sends them)."""
        os.write(self.fd, text.encode())

    def press(self, *names: str, gap: float = 0.05) -> None:
        """Press named keys (see KEYS) or single characters, `gap` seconds apart."""
        for name in names:
            os.write(self.fd, KEYS.get(name, name.encode()))
            time.sleep(gap)

    def type_slowly(self, text: str, gap: float = 0.03) -> None:
        """Type like a person: one character per write."""
        for ch in text:
            os.write(self.fd, ch.encode())
            time.sleep(gap)

    # --- the end --------------------------------------------------------------------------

    def hangup(self, timeout: float = 5.0) -> float:
        """Send SIGHUP (the terminal closed); return how long the program took to exit."""
        t0 = time.monotonic()
        self.proc.send_signal(signal.SIGHUP)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return float("inf")
        return time.monotonic() - t0

    def close(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(OSError):
                self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self._closed.set()
        self._reader.join(timeout=1)
        with contextlib.suppress(OSError):
            os.close(self.fd)

    def __enter__(self) -> TuiPty:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks

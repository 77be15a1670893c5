"""Runs the real `needlepen sim` command in a subprocess and collects what it prints."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any


def needlepen_command() -> list[str]:
    """The installed console script next to this interpreter, else the dispatcher module."""
    script = Path(sys.executable).parent / "needlepen"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "driver.cli"]


class SimProcess:
    """`needlepen sim ...` with its first stdout line read and the rest collected."""

    def __init__(
        self, *args: str, stdin: int | None = subprocess.PIPE, timeout: float = 20
    ) -> None:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(
            [*needlepen_command(), "sim", *args],
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        self.port_line = self._first_line(timeout)
        self.stdout_lines: list[str] = []
        self.stderr_text = ""
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read_stdout, daemon=True)
        self._reader.start()

    def _first_line(self, timeout: float) -> str:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        buf = b""
        while b"\n" not in buf:
            left = deadline - time.monotonic()
            if left <= 0 or self.proc.poll() is not None:
                err = self.proc.stderr.read().decode() if self.proc.poll() is not None else ""  # type: ignore[union-attr]
                raise AssertionError(f"needlepen sim printed no port line: {buf!r} {err}")
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                chunk = os.read(fd, 1)
                if not chunk:
                    continue
                buf += chunk
        return buf.decode().rstrip("\n")

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            with self._lock:
                self.stdout_lines.append(raw.decode().rstrip("\n"))

    def records(self) -> list[dict[str, Any]]:
        with self._lock:
            lines = list(self.stdout_lines)
        return [json.loads(line) for line in lines]

    def wait_record(self, event: str, timeout: float = 2.0, **fields: object) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            for record in self.records():
                if record["event"] == event and all(record.get(k) == v for k, v in fields.items()):
                    return record
            if time.monotonic() > deadline:
                raise AssertionError(f"no {event} {fields} in the log: {self.records()}")
            time.sleep(0.01)

    def command(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((line + "\n").encode())
        self.proc.stdin.flush()

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("needlepen sim did not stop on its signal") from None
        self._reader.join(timeout=5)
        assert self.proc.stderr is not None
        self.stderr_text = self.proc.stderr.read().decode()
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()
        return rc

    def __enter__(self) -> SimProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.stop()

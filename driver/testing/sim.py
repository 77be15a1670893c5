"""The software pen as a process of its own: `needlepen sim ...` started, read and stopped.

One launcher for the tests, the benchmarks and the conformance suite. The first stdout line
(the port: a pty path or a socket:// URL) is read before the constructor returns; after it a
thread collects stdout (the JSON log with `--log-json`) and another stderr (the text log and
the control answers, lines starting with "sim: "), so neither pipe ever fills up.

    with SimProcess("--pty", "--log-json", "--seed", "7") as sim:
        pen = Pen.connect(sim.path, ...)
        sim.command("overheat")
        sim.wait_record("FAULT_RAISED")

Reading the log: `records()` is everything so far; `wait_record(event, **fields)` the first
matching record ever logged; `next_record(event)` the next one after a cursor that `drain()`
moves to the end (for benchmarks that time one event after another); `take_new()` the records
since the cursor.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

__all__ = ["CONTROL_TIMEOUT_S", "SimProcess", "needlepen_command"]

#: How long `control` waits for the simulator to confirm a command (a bound, not a figure).
CONTROL_TIMEOUT_S = 5.0
#: The prefix of the simulator's answers to control commands on stderr.
ANSWER_PREFIX = "sim: "


def needlepen_command() -> list[str]:
    """The installed console script next to this interpreter, else the dispatcher module."""
    script = Path(sys.executable).parent / "needlepen"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "driver.cli"]


class SimProcess:
    """`needlepen sim *args` in a subprocess with its port line read and its output collected.

    `stdin`: a pipe by default (`command`/`control` write to it); `new_session`: in a session of
    its own (on Linux with autogroup scheduling not starved by CPU burners in the caller's
    session, as a real pen has its own processor); `timeout`: how long to wait for the port line;
    `read_stderr=False` sends the text log to /dev/null (no thread of this process reads it,
    as benchmarks want; `control` and `stderr_text` then have nothing to read).
    """

    def __init__(
        self,
        *args: str,
        stdin: int | None = subprocess.PIPE,
        timeout: float = 20,
        new_session: bool = False,
        read_stderr: bool = True,
    ) -> None:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(
            [*needlepen_command(), "sim", *args],
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE if read_stderr else subprocess.DEVNULL,
            env=env,
            text=True,
            bufsize=1,
            start_new_session=new_session,
        )
        self.stdout_lines: list[str] = []
        self._stderr_lines: list[str] = []
        self._answers: queue.Queue[str] = queue.Queue()
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)  # a log line came
        self._records: list[dict[str, Any]] = []
        self._cursor = 0
        self._out_reader: threading.Thread | None = None
        self._err_reader: threading.Thread | None = None
        if self.proc.stderr is not None:
            self._err_reader = self._thread(self.proc.stderr, self._on_stderr, "sim-stderr")
        try:
            self.port_line = self._first_line(timeout)
        except BaseException:
            self.close()
            raise
        assert self.proc.stdout is not None
        self._out_reader = self._thread(self.proc.stdout, self._on_stdout, "sim-stdout")

    @property
    def path(self) -> str:
        """The port the simulator serves (a pty path with --pty, a socket:// URL with --tcp)."""
        return self.port_line

    @property
    def stderr_text(self) -> str:
        """Everything the simulator wrote to stderr so far (all of it once stopped)."""
        with self._lock:
            return "".join(line + "\n" for line in self._stderr_lines)

    # --- reading ---------------------------------------------------------------------------

    @staticmethod
    def _thread(stream: IO[str], sink: Any, name: str) -> threading.Thread:
        def pump() -> None:
            with contextlib.suppress(OSError, ValueError):
                for raw in stream:
                    sink(raw.rstrip("\n"))

        thread = threading.Thread(target=pump, daemon=True, name=name)
        thread.start()
        return thread

    def _on_stderr(self, line: str) -> None:
        with self._lock:
            self._stderr_lines.append(line)
        if line.startswith(ANSWER_PREFIX):
            self._answers.put(line[len(ANSWER_PREFIX) :])

    def _on_stdout(self, line: str) -> None:
        record: object = None
        with contextlib.suppress(ValueError):
            record = json.loads(line)  # parsed once, as it arrives
        with self._arrived:
            self.stdout_lines.append(line)
            if isinstance(record, dict):
                self._records.append(record)
            self._arrived.notify_all()

    def _first_line(self, timeout: float) -> str:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        buf = b""
        while b"\n" not in buf:
            left = deadline - time.monotonic()
            if left <= 0 or self.proc.poll() is not None:
                if self._err_reader is not None:
                    self._err_reader.join(timeout=2)
                raise AssertionError(
                    f"needlepen sim printed no port line: {buf!r} {self.stderr_text}"
                )
            ready, _, _ = select.select([fd], [], [], min(left, 0.1))
            if ready:
                buf += os.read(fd, 1)
        return buf.decode().rstrip("\n")

    def records(self) -> list[dict[str, Any]]:
        """The JSON log records so far (lines that are not JSON objects are left out)."""
        with self._lock:
            return list(self._records)

    def wait_record(self, event: str, timeout: float = 2.0, **fields: object) -> dict[str, Any]:
        """The first record ever logged named `event` with these `fields`, waiting for it."""
        deadline = time.monotonic() + timeout
        seen = 0
        with self._arrived:
            while True:
                for record in self._records[seen:]:
                    if record.get("event") == event and all(
                        record.get(k) == v for k, v in fields.items()
                    ):
                        return record
                seen = len(self._records)
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no {event} {fields} in the log: {self._records[-20:]}")
                self._arrived.wait(min(left, 0.1))

    def take_new(self) -> list[dict[str, Any]]:
        """The records logged since the cursor; moves the cursor past them."""
        with self._lock:
            new, self._cursor = self._records[self._cursor :], len(self._records)
        return new

    def drain(self) -> None:
        """Move the cursor to the end of the log (`next_record` waits for later records)."""
        with self._lock:
            self._cursor = len(self._records)

    def next_record(self, event: str, timeout: float = 2.0) -> dict[str, Any]:
        """The next record named `event` after the cursor (the cursor moves past it)."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while True:
                while self._cursor < len(self._records):
                    record = self._records[self._cursor]
                    self._cursor += 1
                    if record.get("event") == event:
                        return record
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"the simulator logged no {event} within {timeout} s.")
                self._arrived.wait(min(left, 0.1))

    # --- control ---------------------------------------------------------------------------

    def command(self, line: str) -> None:
        """Write one control command to the simulator's stdin (its answer goes to stderr)."""
        assert self.proc.stdin is not None, "started with stdin other than a pipe"
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def control(self, line: str, timeout: float = CONTROL_TIMEOUT_S) -> str:
        """Run one control command and return the simulator's answer (waits for it)."""
        while not self._answers.empty():  # answers to nothing of ours (start-up notes)
            self._answers.get_nowait()
        self.command(line)
        try:
            return self._answers.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(
                f"needlepen sim did not confirm the command {line!r} within {timeout} s."
            ) from None

    # --- stopping --------------------------------------------------------------------------

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10) -> int:
        """Send `sig`, wait for the exit and every line of output; the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("needlepen sim did not stop on its signal") from None
        self._finish()
        return rc

    def close(self) -> None:
        """Stop the simulator however it can be stopped (SIGTERM, then SIGKILL)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self._finish()

    def _finish(self) -> None:
        for reader in (self._out_reader, self._err_reader):
            if reader is not None:
                reader.join(timeout=5)
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()

    def __enter__(self) -> SimProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

"""Kernel ptys and processes for the link benchmarks: the software pen on a pty, a raw echo
peer (the floor of any round trip over a pty), and percentiles.

Not a benchmark itself (no `bench_` prefix): bench_link, bench_estop, bench_governed and
bench_telemetry share it.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import tty
from collections.abc import Sequence
from typing import Any

#: A raw echo: reads the pty master it inherits (fd number in argv[1]), writes it all back.
ECHO = """
import os, sys
fd = int(sys.argv[1])
while True:
    try:
        data = os.read(fd, 4096)
    except OSError:
        break
    if not data:
        break
    os.write(fd, data)
"""

#: Reads the pty master it inherits and prints time.time() after each read (one-way latency).
STAMPER = """
import os, sys, time
fd = int(sys.argv[1])
while True:
    try:
        data = os.read(fd, 4096)
    except OSError:
        break
    if not data:
        break
    sys.stdout.write(repr(time.time()) + "\\n")
    sys.stdout.flush()
"""


#: An instant pen: answers HELLO with INFO and every other command (but HEARTBEAT) with ACK,
#: single-threaded, at once. Against it, a host's round trip shows the host's own share.
INSTANT_PEN = """
import os, sys
from protocol import Ack, DeviceClass, Decoder, Direction, Frame, Info, encode
fd = int(sys.argv[1])
decoder = Decoder(Direction.PEN)
while True:
    try:
        data = os.read(fd, 4096)
    except OSError:
        break
    if not data:
        break
    out = b""
    for f in decoder.feed(data):
        if not isinstance(f, Frame) or f.message.TYPE == 2:
            continue
        if f.message.TYPE == 1:
            info = Info(1, f.message.nonce, DeviceClass.PROFESSIONAL, 1, 0, 0, 1, 1,
                        250, 3000, 50, 25, 150, 300)
            out += encode(info, f.seq)
        else:
            out += encode(Ack(f.message.TYPE), f.seq)
    if out:
        os.write(fd, out)
"""


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) by the nearest-rank method; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def median(values: Sequence[float]) -> float:
    return percentile(values, 50)


class SimPty:
    """`needlepen sim --pty` in its own process; `path` is its pty, `records` its JSON log
    (with --log-json) as a queue of dicts."""

    def __init__(self, *args: str, log_json: bool = False, new_session: bool = False) -> None:
        """`new_session`: in a session of its own (on Linux with autogroup scheduling, not
        starved by CPU burners in the caller's session; a real pen has its own processor)."""
        cmd = [sys.executable, "-m", "driver.cli", "sim", "--pty", *args]
        if log_json:
            cmd.append("--log-json")
        self.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            bufsize=1,
            start_new_session=new_session,
        )
        assert self.proc.stdout is not None
        self.path = self.proc.stdout.readline().strip()
        if not self.path.startswith("/"):
            self.close()
            raise RuntimeError("needlepen sim --pty did not print its pty path.")
        self.records: queue.Queue[dict[str, Any]] = queue.Queue()
        threading.Thread(target=self._read, daemon=True, name="bench-sim-log").start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with contextlib.suppress(ValueError):
                self.records.put(json.loads(line))

    def next_record(self, event: str, timeout: float = 2.0) -> dict[str, Any]:
        """The next log record named `event` (earlier ones of other names are dropped)."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise RuntimeError(f"the simulator logged no {event} within {timeout} s.")
            rec = self.records.get(timeout=left)
            if rec.get("event") == event:
                return rec

    def drain(self) -> None:
        while True:
            try:
                self.records.get_nowait()
            except queue.Empty:
                return

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        if self.proc.stdout is not None:
            with contextlib.suppress(OSError):
                self.proc.stdout.close()

    def __enter__(self) -> SimPty:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class PtyPeer:
    """A pty whose master is held by a child process running `script` (as fd 3); this end is
    the slave, in raw mode, as an fd. The floor of anything that crosses a pty."""

    def __init__(self, script: str, stdout: int | None = subprocess.DEVNULL) -> None:
        master, slave = os.openpty()
        tty.setraw(slave)
        tty.setraw(master)
        self.fd = slave
        self.proc = subprocess.Popen(
            [sys.executable, "-c", script, str(master)],
            pass_fds=(master,),
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        os.close(master)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.fd)
        try:
            self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=2)

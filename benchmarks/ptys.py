"""Kernel ptys and processes for the link benchmarks: a raw echo peer (the floor of any round
trip over a pty), an instant pen, and percentiles. The software pen on a pty is
`driver.testing.sim.SimProcess("--pty", ...)`.

Not a benchmark itself (no `bench_` prefix): bench_link, bench_estop, bench_governed and
bench_telemetry share it.
"""

from __future__ import annotations

import contextlib
import math
import os
import subprocess
import sys
import tty
from collections.abc import Sequence

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

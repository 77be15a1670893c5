"""Command-to-ACK round trip over a kernel pty: the driver's `Link.request(SetDepth)` against
`needlepen sim --pty` in another process, with two baselines measured in the same run:

- the floor: a raw pty echo between two processes (12 bytes out, the same 12 back, plain
  os.write/os.read on both ends: what any protocol over a pty pays at least);
- the peer: pymodbus RTU `write_register` against a pymodbus serial server in another
  process. Both pymodbus ends need a device path, so the server process creates two ptys and
  relays bytes between their masters (a small relay thread per direction); the relay adds one
  more pty crossing each way, which is why the relay's own echo is reported beside it.

Targets (issue 5): our round trip within 5x the floor, and at least 10x faster than pymodbus.
Samples are taken in interleaved rounds; each figure is the best round's (see common.py).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import subprocess
import sys
import tempfile
import time
import tty
from collections.abc import Callable
from typing import TYPE_CHECKING

from driver.testing.sim import SimProcess
from protocol import Decoder, Direction, Frame, Hello, Message, SetDepth, encode

from .common import Row
from .ptys import ECHO, INSTANT_PEN, PtyPeer, percentile

if TYPE_CHECKING:
    from driver.link import Link

BENCH = "link"
ROUNDS = 3
PER_ROUND = 400
MODBUS_PER_ROUND = 150
FLOOR_TARGET = 5.0
Samples = dict[str, list[list[float]]]
PEER_TARGET = 0.1  # ours / pymodbus: at least 10x faster

#: The pymodbus RTU server, with the relay between its pty and the client's (see the doc).
MODBUS_SERVER = """
import logging, os, select, sys, threading, tty
logging.disable(logging.CRITICAL)
from pymodbus import FramerType
from pymodbus.datastore import ModbusDeviceContext, ModbusSequentialDataBlock, ModbusServerContext
from pymodbus.server import StartSerialServer

def pty():
    master, slave = os.openpty()
    tty.setraw(master); tty.setraw(slave)
    return master, os.ttyname(slave), slave

client_master, client_path, client_slave = pty()
server_master, server_path, server_slave = pty()

def relay(src, dst):
    while True:
        try:
            data = os.read(src, 4096)
        except OSError:
            return
        if not data:
            return
        os.write(dst, data)

for a, b in ((client_master, server_master), (server_master, client_master)):
    threading.Thread(target=relay, args=(a, b), daemon=True).start()
print(client_path, flush=True)
context = ModbusServerContext(
    devices=ModbusDeviceContext(hr=ModbusSequentialDataBlock(1, [0] * 100)), single=True
)
StartSerialServer(context, framer=FramerType.RTU, port=server_path, baudrate=115200)
"""

#: A relay-only echo: the same two ptys and relay, with a raw echo instead of pymodbus.
RELAY_ECHO = """
import os, sys, threading, tty
def pty():
    master, slave = os.openpty()
    tty.setraw(master); tty.setraw(slave)
    return master, os.ttyname(slave), slave
client_master, client_path, client_slave = pty()
server_master, server_path, server_slave = pty()
def relay(src, dst):
    while True:
        try:
            data = os.read(src, 4096)
        except OSError:
            return
        if not data:
            return
        os.write(dst, data)
for a, b in ((client_master, server_master), (server_master, client_master)):
    threading.Thread(target=relay, args=(a, b), daemon=True).start()
fd = os.open(server_path, os.O_RDWR | os.O_NOCTTY)
tty.setraw(fd)
print(client_path, flush=True)
while True:
    data = os.read(fd, 4096)
    if not data:
        break
    os.write(fd, data)
"""


def _timed(fn: Callable[[], object], n: int) -> list[float]:
    out = []
    clock = time.perf_counter
    for _ in range(n):
        t0 = clock()
        fn()
        out.append(clock() - t0)
    return out


def _fd_echo(fd: int, size: int) -> Callable[[], None]:
    message = bytes(range(1, size + 1))

    def once() -> None:
        os.write(fd, message)
        got = 0
        while got < size:
            got += len(os.read(fd, 4096))

    return once


class _Process:
    """A helper process that prints a pty path first."""

    def __init__(self, script: str) -> None:
        self.errors = tempfile.TemporaryFile("w+")  # noqa: SIM115 (closed in close())
        self.proc = subprocess.Popen(
            [sys.executable, "-c", script],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self.errors,
            text=True,
        )
        assert self.proc.stdout is not None
        self.path = self.proc.stdout.readline().strip()
        if not self.path.startswith("/"):
            self.close()
            raise RuntimeError(f"a benchmark helper process did not start: {self.why()}")

    def why(self) -> str:
        """The last line the process wrote to stderr (its error, if it died)."""
        self.errors.seek(0)
        lines = [line.strip() for line in self.errors.read().splitlines() if line.strip()]
        return lines[-1] if lines else "no message"

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.errors.close()


class _RawClient:
    """The simplest host: os.write a frame, os.read until its answer (one thread)."""

    def __init__(self, path: str) -> None:
        self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
        tty.setraw(self.fd)
        self.decoder = Decoder(Direction.HOST)
        self.seq = 0

    def request(self, msg: Message) -> None:
        self.seq = (self.seq + 1) & 0xFFFF
        os.write(self.fd, encode(msg, self.seq))
        while True:
            for item in self.decoder.feed(os.read(self.fd, 4096)):
                if isinstance(item, Frame) and item.seq == self.seq:
                    return

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.fd)


def _rounds(measures: list[tuple[str, Callable[[], None], int]], into: Samples) -> None:
    """Warm each path up, then ROUNDS rounds with the measurements interleaved."""
    for _, fn, _ in measures:
        _timed(fn, 20)
    for _ in range(ROUNDS):
        for name, fn, n in measures:
            into.setdefault(name, []).append(_timed(fn, n))


def _main_phase(samples: Samples, frame_size: int) -> None:
    """Ours, the floor, the relay and pymodbus, interleaved (one software pen alive)."""
    from driver.link import Link
    from driver.link.transport import open_port

    with contextlib.ExitStack() as stack:
        sim = stack.enter_context(SimProcess("--pty", "--seed", "5", read_stderr=False))
        echo = PtyPeer(ECHO)
        stack.callback(echo.close)
        relay = _Process(RELAY_ECHO)
        stack.callback(relay.close)
        server = _Process(MODBUS_SERVER)
        stack.callback(server.close)
        lost: list[BaseException] = []
        link = Link(open_port(sim.path), on_message=lambda m, s: None, on_lost=lost.append)
        stack.callback(link.close)
        link.start()
        link.request(Hello(1, 1))
        link.enable_heartbeat()
        depths = itertools.cycle(range(250, 1250, 50))

        def ours() -> None:
            link.request(SetDepth(next(depths)))

        relay_fd = os.open(relay.path, os.O_RDWR | os.O_NOCTTY)
        stack.callback(os.close, relay_fd)
        tty.setraw(relay_fd)

        logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
        from pymodbus import FramerType
        from pymodbus.client import ModbusSerialClient

        modbus = ModbusSerialClient(
            port=server.path, framer=FramerType.RTU, baudrate=115200, timeout=1, retries=0
        )
        stack.callback(modbus.close)
        if not modbus.connect():
            raise RuntimeError(f"the pymodbus client could not open its pty: {server.why()}")
        values = itertools.cycle(range(1000))

        def peer() -> None:
            reply = modbus.write_register(1, next(values), device_id=1)
            if reply.isError():
                raise RuntimeError(f"pymodbus write_register failed: {reply}")

        _rounds(
            [
                ("ours", ours, PER_ROUND),
                ("floor", _fd_echo(echo.fd, frame_size), PER_ROUND),
                ("relay", _fd_echo(relay_fd, frame_size), PER_ROUND),
                ("modbus", peer, MODBUS_PER_ROUND),
            ],
            samples,
        )
        if lost:
            raise RuntimeError(f"the link was lost during the benchmark: {lost[0]}")


def _hello(link: Link) -> None:
    """HELLO until the instant pen answers: its process may take longer to start (import
    `protocol`) than the link's 200 ms of resends on a loaded machine."""
    from driver.errors import NoAnswer

    deadline = time.monotonic() + 30.0
    while True:
        try:
            link.request(Hello(1, 1))
            return
        except NoAnswer:
            if time.monotonic() > deadline:
                raise


def _share_phase(samples: Samples) -> None:
    """Where our round trip goes: the driver against an instant pen, and a one-thread raw
    host against the software pen (one software pen alive, as in the main phase)."""
    from driver.link import Link
    from driver.link.transport import open_port

    with contextlib.ExitStack() as stack:
        instant = PtyPeer(INSTANT_PEN)
        stack.callback(instant.close)
        lost: list[BaseException] = []
        link = Link(
            open_port(os.ttyname(instant.fd)), on_message=lambda m, s: None, on_lost=lost.append
        )
        stack.callback(link.close)
        link.start()
        _hello(link)
        sim = stack.enter_context(SimProcess("--pty", "--seed", "6", read_stderr=False))
        raw = _RawClient(sim.path)
        stack.callback(raw.close)
        depths = itertools.cycle(range(250, 1250, 50))

        def driver_share() -> None:
            link.request(SetDepth(next(depths)))

        def sim_share() -> None:
            raw.request(SetDepth(next(depths)))

        _timed(driver_share, 20)
        for _ in range(ROUNDS):
            samples.setdefault("driver_share", []).append(_timed(driver_share, PER_ROUND))
            raw.request(Hello(1, 2))  # the raw host sends no heartbeat: a fresh session each
            samples.setdefault("sim_share", []).append(_timed(sim_share, PER_ROUND))
        if lost:
            raise RuntimeError(f"the link was lost during the benchmark: {lost[0]}")


def run() -> list[Row]:
    frame_size = len(encode(SetDepth(500), 1))
    samples: Samples = {}
    _main_phase(samples, frame_size)
    _share_phase(samples)

    def best(name: str, q: float) -> float:
        return min(percentile(r, q) for r in samples[name]) * 1e6

    ours_med, ours_p99 = best("ours", 50), best("ours", 99)
    floor_med, floor_p99 = best("floor", 50), best("floor", 99)
    modbus_med, modbus_p99 = best("modbus", 50), best("modbus", 99)
    n = ROUNDS * PER_ROUND
    floor_name = "raw pty echo (2 processes)"
    return [
        Row(
            BENCH,
            "SET_DEPTH to ACK, median",
            ours_med,
            "µs",
            floor_name,
            floor_med,
            better="lower",
            target_ratio=FLOOR_TARGET,
            note=f"Link.request vs needlepen sim --pty, {n} round trips",
        ),
        Row(BENCH, "SET_DEPTH to ACK, p99", ours_p99, "µs", floor_name, floor_p99, "lower"),
        Row(
            BENCH,
            "SET_DEPTH to ACK vs Modbus RTU, median",
            ours_med,
            "µs",
            "pymodbus write_register",
            modbus_med,
            better="lower",
            target_ratio=PEER_TARGET,
            note=f"pymodbus via a pty relay, whose own echo is {best('relay', 50):.0f} µs",
        ),
        Row(
            BENCH,
            "SET_DEPTH to ACK vs Modbus RTU, p99",
            ours_p99,
            "µs",
            "pymodbus write_register",
            modbus_p99,
            better="lower",
        ),
        Row(
            BENCH,
            "host's share: Link.request vs an instant pen, median",
            best("driver_share", 50),
            "µs",
            floor_name,
            floor_med,
            better="lower",
            note="a one-thread pen that ACKs at once",
        ),
        Row(
            BENCH,
            "pen's share: a one-thread raw host vs needlepen sim, median",
            best("sim_share", 50),
            "µs",
            floor_name,
            floor_med,
            better="lower",
            note="os.write, os.read, no driver",
        ),
    ]


if __name__ == "__main__":  # pragma: no cover
    from .common import render

    print(render(run()))

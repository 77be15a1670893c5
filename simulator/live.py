"""A `Simulation` running in real time on its own thread, with a serial-port-like host side.

The pen's clock is `time.monotonic()`. A background thread ticks it every couple of
milliseconds, so its watchdog, telemetry and physics go on even when nobody reads or writes.
Host writes are handled at once on the writer's thread (so an e-stop is not held back by the
tick), under the same lock. Everything the pen sends waits in a bounded receive buffer, as in
a UART driver: when nobody reads and it is full, newer bytes are lost and counted.

A live pen is switched on with a fresh cartridge whose id comes from the OS's randomness (a new
one in every run, so a store never remembers it as used) unless `cartridge_id` pins it; fresh
cartridges fitted later get new ids the same way. The seed still repeats the link's faults.

Tests and QA reach the live pen through `port.pen` (a `LivePen`):

    with port.pen.lock:                # a consistent look, or several changes at once
        port.pen.firmware.inject_overheat()
    port.pen.command("remove")         # the engineers' stdin commands, thread-safe
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Iterable
from typing import TypeVar

from .config import PenConfig
from .control import execute
from .faults import FaultSpec
from .firmware import Firmware
from .link import Link
from .records import Listener
from .simulation import Simulation

T = TypeVar("T")


def os_cartridge_id() -> int:
    """A cartridge id from the OS's randomness: new in every run, whatever the seed."""
    return secrets.randbelow(0xFFFF_FFFF) + 1


#: How often the pen thread ticks when nothing else wakes it.
TICK_S = 0.002
#: The receive buffer's size (bytes the host has not read yet).
RX_LIMIT = 64 * 1024
#: For a pen that shares its host's process (`shares_process`): a gap between two looks at the
#: clock longer than this is the whole process stalled (a garbage collection, the scheduler),
#: and the pen's clock stalls with it; only this much of such a gap counts as pen time.
STALL_S = 0.050


class LivePen:
    """One real-time software pen with the host end of its wire."""

    def __init__(
        self,
        config: PenConfig | None = None,
        seed: int = 0,
        faults: Iterable[FaultSpec | str] = (),
        *,
        clock: Callable[[], float] = time.monotonic,
        tick_s: float = TICK_S,
        rx_limit: int = RX_LIMIT,
        listeners: Iterable[Listener] = (),
        cartridge_id: int | None = None,
        cartridge_ids: Callable[[], int] | None = os_cartridge_id,
        uptime_ms: int = 0,
        baud: int | None = None,
        shares_process: bool = False,
    ) -> None:
        self.lock = threading.RLock()
        #: True for the sim:// pen, which runs inside its host's process: when that whole
        #: process stalls, the pen's own clock stalls too (a real pen, or `needlepen sim
        #: --pty` in a process of its own, keeps its own time), so a stall of the host is
        #: not taken for a silent host. A stall of one host thread (a hung UI) is not a
        #: stall of the pen thread: the pen's watchdog still trips.
        self.shares_process = shares_process
        self.stalled_s = 0.0
        self._kick = threading.Event()  # a write wakes the pen thread for a paced line
        self._data = threading.Condition(self.lock)
        self._clock = clock
        self._t0 = clock()
        self._seen = self._t0
        self.tick_s = tick_s
        self.rx_limit = rx_limit
        self._rx = bytearray()
        self.overruns = 0
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None
        self._read_cancelled = False
        self._quiet = False  # exchange() takes the answer itself: no reader to wake for it
        self.sim = Simulation(
            config,
            seed=seed,
            listeners=listeners,
            cartridge_id=cartridge_id,
            cartridge_ids=cartridge_ids,
            uptime_ms=uptime_ms,
            baud=baud,
        )
        with self.lock:
            for fault in faults:
                self.sim.apply(fault)
            self._collect()

    # ------------------------------------------------------------------------ handles ----

    @property
    def firmware(self) -> Firmware:
        return self.sim.firmware

    @property
    def link(self) -> Link:
        return self.sim.link

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def now_ms(self) -> float:
        return (self._clock() - self._t0 - self.stalled_s) * 1000.0

    def _observe_stall(self) -> None:
        """Under the lock, before a tick: count a stall of the whole process (see
        `shares_process`) out of the pen's time."""
        now = self._clock()
        gap = now - self._seen
        self._seen = now
        if self.shares_process and gap > STALL_S:
            self.stalled_s += gap - STALL_S

    def call(self, fn: Callable[[Simulation], T]) -> T:
        """Run `fn(simulation)` under the pen's lock, up to date, and send what it produced."""
        with self.lock:
            self._tick_locked()
            result = fn(self.sim)
            self._collect()
            return result

    def command(self, line: str) -> str:
        """Run one engineer's command (see simulator.control) safely from any thread."""
        return self.call(lambda sim: execute(sim, line))

    def add_listener(self, listener: Listener) -> None:
        with self.lock:
            self.sim.firmware.add_listener(listener)

    # ---------------------------------------------------------------------- lifecycle ----

    def start(self) -> LivePen:
        if self._thread is None and not self.closed:
            self._thread = threading.Thread(target=self._run, name="needlepen-sim", daemon=True)
            self._thread.start()
        return self

    def close(self) -> None:
        """Stop the pen (its thread ends; readers wake up with what is left)."""
        self._closed.set()
        self._kick.set()
        with self.lock:
            self._data.notify_all()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=2.0)

    def __enter__(self) -> LivePen:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self) -> None:
        while not self._closed.is_set():
            self._kick.clear()
            with self.lock:
                self._tick_locked()
                wait = self.tick_s
                due = self.sim.link.next_release()  # a paced frame arriving or starting
                if self.sim.link.baud:  # on a paced line, a STATUS goes on it when due
                    due = min(due, self.sim.firmware.next_deadline())
                if due < float("inf"):
                    wait = min(wait, max(0.0, (due - self.now_ms()) / 1000.0))
            self._kick.wait(wait)

    # ---------------------------------------------------------------------- host side ----

    def write(self, data: bytes) -> int:
        """The host puts bytes on the wire; the pen handles them before this returns."""
        data = bytes(data)
        with self.lock:
            if self.closed:  # a pen that is switched off hears nothing
                return len(data)
            self._tick_locked()
            self.sim.host_write(data)
            self._collect()
        self._kick.set()
        return len(data)

    def exchange(self, data: bytes, limit: int) -> bytes:
        """`write(data)`, then take at once what the pen has to send (at most `limit` bytes,
        older bytes first), without waking readers: for a transport that passes the answer
        on from the thread that brought the command (no hand-off to another thread)."""
        data = bytes(data)
        with self.lock:
            if self.closed:
                return b""
            self._quiet = True
            try:
                self._tick_locked()
                self.sim.host_write(data)
                self._collect()
            finally:
                self._quiet = False
            out = self._take(limit)
            if self._rx:
                self._data.notify_all()
        self._kick.set()
        return out

    def read(self, size: int, timeout: float | None) -> bytes:
        """Up to `size` bytes: wait until that many arrived, `timeout` ran out (None: no
        limit, 0: do not wait), the read was cancelled or the pen was closed."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self.lock:
            self._read_cancelled = False
            while len(self._rx) < size and not self.closed and not self._read_cancelled:
                if deadline is None:
                    self._data.wait(0.1)
                    continue
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._data.wait(left)
            self._read_cancelled = False
            return self._take(size)

    def read_available(self, limit: int, timeout: float) -> bytes:
        """Whatever has arrived (at most `limit` bytes), waiting up to `timeout` for the first."""
        deadline = time.monotonic() + timeout
        with self.lock:
            while not self._rx and not self.closed:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._data.wait(left)
            return self._take(limit)

    def wait_output(self, timeout: float) -> bool:
        """Wait up to `timeout` for bytes to read; True when some are waiting."""
        deadline = time.monotonic() + timeout
        with self.lock:
            while not self._rx and not self.closed:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._data.wait(left)
            return bool(self._rx)

    def unread(self, data: bytes) -> None:
        """Put bytes taken by a reader that could not pass them on back in front of the
        receive buffer (a transport's fast path handing over to its patient writer)."""
        if not data:
            return
        with self.lock:
            self._rx[:0] = data
            self._data.notify_all()

    def _take(self, size: int) -> bytes:
        out = bytes(self._rx[:size])
        del self._rx[:size]
        return out

    @property
    def in_waiting(self) -> int:
        with self.lock:
            return len(self._rx)

    def reset_input_buffer(self) -> None:
        with self.lock:
            self._tick_locked()
            self._rx.clear()

    def cancel_read(self) -> None:
        with self.lock:
            self._read_cancelled = True
            self._data.notify_all()

    # ---------------------------------------------------------------------- internals ----

    def _tick_locked(self) -> None:
        if self.closed:
            return
        self._observe_stall()
        now = self.now_ms()
        if now > self.sim.now_ms:
            self.sim.tick(now)
        self._collect()

    def _collect(self) -> None:
        data = self.sim.host_read()
        if not data:
            return
        room = self.rx_limit - len(self._rx)
        if len(data) > room:
            self.overruns += len(data) - max(room, 0)
            data = data[: max(room, 0)]
        if data:
            self._rx += data
            if not self._quiet:
                self._data.notify_all()

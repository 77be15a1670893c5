"""A software pen on a virtual clock behind a pyserial-like port, for deterministic QA.

    clock = VirtualClock()
    port = VirtualPort(Simulation(PenConfig.professional(), seed=1), clock)
    # the host side runs on the same clock: every wait advances it instead of sleeping

Nothing here sleeps or reads the wall clock: an hour of pen time takes as long as the work
done in it. The driver accepts such a port with `Pen.connect(port=..., clock=clock.now,
idle=clock.advance)`, so QA can run the real driver against the simulator with no threads.
"""

from __future__ import annotations

from .simulation import Simulation


class VirtualClock:
    """Seconds on a clock that moves only when told to."""

    def __init__(self, start: float = 0.0) -> None:
        self.t = float(start)

    def now(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        if seconds > 0:
            self.t += seconds


class VirtualPort:
    """The host end of the wire to a `Simulation`, timed by a `VirtualClock`.

    Reads never block: they return what has reached the host by the clock's present time.
    """

    def __init__(self, sim: Simulation, clock: VirtualClock) -> None:
        self.sim = sim
        self.clock = clock
        self._offset_ms = sim.now_ms - clock.now() * 1000.0
        self._rx = bytearray()
        self.is_open = True
        self.bytes_written = 0

    def _catch_up(self) -> None:
        now_ms = self.clock.now() * 1000.0 + self._offset_ms
        if now_ms > self.sim.now_ms:
            self.sim.tick(now_ms)
        self._rx += self.sim.host_read()

    @property
    def in_waiting(self) -> int:
        self._catch_up()
        return len(self._rx)

    def read(self, size: int = 1) -> bytes:
        self._catch_up()
        out = bytes(self._rx[:size])
        del self._rx[:size]
        return out

    def write(self, data: bytes, /) -> int:
        if not self.is_open:
            raise OSError("the virtual port is closed")
        self._catch_up()
        self.sim.host_write(bytes(data))
        self.bytes_written += len(data)
        return len(data)

    def close(self) -> None:
        self.is_open = False

"""The whole software pen, still sans-IO: the firmware behind a faulty link, plus a schedule.

`Simulation` is what the transports run in real time and what tests run with a virtual clock:

    sim = Simulation(PenConfig.home(), seed=3, faults=["drop:host=0.2", "overheat@5s"])
    sim.host_write(frame_bytes)
    sim.tick(10.0)
    reply = sim.host_read()

Pen faults of the schedule are timed from the simulation's start; link faults apply at once.
Everything random comes from the seed, so the same seed, faults and host bytes at the same
times give the same pen bytes.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Callable, Iterable

from .config import PenConfig
from .errors import InjectError
from .faults import FaultSpec, LinkFault, PenFault, Sender, parse_fault
from .firmware import Firmware
from .link import Link
from .records import Listener


class Simulation:
    """Firmware + link + fault schedule, driven by `tick(now_ms)`."""

    def __init__(
        self,
        config: PenConfig | None = None,
        seed: int = 0,
        faults: Iterable[FaultSpec | str] = (),
        now_ms: float = 0.0,
        listeners: Iterable[Listener] = (),
        *,
        cartridge_id: int | None = None,
        cartridge_ids: Callable[[], int] | None = None,
        uptime_ms: int = 0,
        baud: int | None = None,
    ) -> None:
        """`baud` paces both directions as an 8N1 UART at that speed (None: bytes arrive at
        once)."""
        self.seed = seed
        self.firmware = Firmware(
            config,
            seed=seed,
            now_ms=now_ms,
            listeners=listeners,
            cartridge_id=cartridge_id,
            cartridge_ids=cartridge_ids,
            uptime_ms=uptime_ms,
        )
        self.link = Link(seed, baud)
        self.start_ms = float(now_ms)
        self._now = float(now_ms)
        self._schedule: list[tuple[float, int, PenFault]] = []
        self._order = itertools.count()
        self._to_host = bytearray()
        for fault in [parse_fault(f) if isinstance(f, str) else f for f in faults]:
            self.apply(fault)

    @property
    def now_ms(self) -> float:
        return self._now

    @property
    def config(self) -> PenConfig:
        return self.firmware.config

    @property
    def pending_faults(self) -> list[PenFault]:
        """Scheduled pen faults that have not happened yet, soonest first."""
        return [f for _, _, f in sorted(self._schedule)]

    # ---------------------------------------------------------------------------- faults ----

    def apply(self, fault: FaultSpec | str, *, from_now: bool = False) -> None:
        """Set a link fault, or schedule a pen fault (from the start, or from now)."""
        if isinstance(fault, str):
            fault = parse_fault(fault)
        if isinstance(fault, LinkFault):
            self.link.apply(fault)
            self.firmware.note(
                "INJECT",
                what=fault.kind,
                senders=[s.value for s in fault.senders],
                probability=fault.probability,
                delay_ms=fault.delay_ms,
            )
            return
        due = (self._now if from_now else self.start_ms) + fault.at_ms
        heapq.heappush(self._schedule, (due, next(self._order), fault))
        self._run_due()
        self._pump()

    def perform(self, fault: PenFault) -> None:
        """Make a pen fault happen now (raises InjectError if it cannot)."""
        fw = self.firmware
        kind = fault.kind
        if kind == "overheat":
            fw.inject_overheat()
        elif kind == "stall":
            fw.inject_stall()
        elif kind == "depth-fault":
            fw.inject_depth_fault()
        elif kind == "remove-cartridge":
            fw.remove_cartridge()
        elif kind == "insert-cartridge":
            fw.insert_cartridge(fresh=True)
        elif kind == "reinsert-cartridge":
            fw.insert_cartridge(fresh=False)
        elif kind == "fresh-cartridge":
            fw.fit_fresh_cartridge()
        elif kind == "reboot":
            fw.reboot()
        elif kind == "battery":
            fw.set_battery(fault.value)
        elif kind == "cut":
            self.link.cut(self._now, fault.duration_ms)
            fw.note("INJECT", what="cut", duration_ms=fault.duration_ms)
        else:  # pragma: no cover - parse_fault only makes the kinds above
            raise InjectError(f"The pen fault {kind!r} is not known.")

    def _run_due(self) -> None:
        while self._schedule and self._schedule[0][0] <= self._now:
            _, _, fault = heapq.heappop(self._schedule)
            try:
                self.perform(fault)
            except InjectError as exc:  # e.g. remove-cartridge with none in: say so, go on
                self.firmware.note("INJECT_FAILED", what=fault.kind, reason=str(exc))

    # --------------------------------------------------------------------------- sans-IO ----

    def host_write(self, data: bytes) -> None:
        """Bytes the host puts on the wire at the current time."""
        self.link.send(Sender.HOST, bytes(data), self._now)
        self._pump()

    def host_read(self) -> bytes:
        """Bytes that have reached the host by the current time."""
        self._pump()
        out = bytes(self._to_host)
        self._to_host.clear()
        return out

    def tick(self, now_ms: float) -> None:
        """Advance to `now_ms`, meeting every scheduled fault and delayed frame on time."""
        if not isinstance(now_ms, int | float) or not math.isfinite(now_ms):
            raise ValueError("The tick time must be a finite number of milliseconds.")
        while True:
            self._run_due()
            self._pump()
            if self._now >= now_ms:
                return
            nxt = min(now_ms, self._next_due(), self.link.next_release())
            if nxt <= self._now:
                nxt = now_ms
            self.firmware.tick(nxt)
            self._now = nxt

    def _next_due(self) -> float:
        return self._schedule[0][0] if self._schedule else math.inf

    def _pump(self) -> None:
        now = self._now
        data = self.link.receive(Sender.HOST, now)
        if data:
            self.firmware.feed(data)
        for t_ms, out in self.firmware.take_output_timed():
            self.link.send(Sender.PEN, out, t_ms)
        self._to_host += self.link.receive(Sender.PEN, now)

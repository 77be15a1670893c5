"""The pen's firmware as a sans-IO state machine: bytes in, a tick with the time, bytes out.

It never reads the wall clock, so a test can run an hour of pen time in milliseconds with a
virtual clock, and it keeps every promise of the ICD's "Pen behaviour" section (see
docs/SIMULATOR.md for the decisions where the ICD is silent).

    fw = Firmware(PenConfig.home(), seed=1)
    fw.feed(protocol.encode(protocol.Hello(1, 42), seq=0))
    fw.tick(5.0)
    answer_bytes = fw.take_output()

The state is derived, never stored: ESTOP while the e-stop is latched, else FAULT while a
fault is latched, else NO_SESSION without a session, else RUNNING or IDLE. So a latch outlives
sessions and watchdog trips by construction, and STATUS reports it.

The pen is built in layers, one subsystem per module, each using the ones below it:

    core       fields, read-only truth, STATUS/INFO, listeners, frames and records out
    motion     depth actuator and motor (set-points, slew, ramp, stop)
    latch      faults: the latch, the conditions behind them, their injection
    cartridge  the cartridge slot (ids, use, removal, insertion)
    watchdog   pen time (`tick`, deadlines) and the watchdog
    dispatch   frames in: the duplicate window and the table of command handlers
    firmware   `Firmware`: power-on and boot (this module)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

from protocol import CartridgeState, Decoder, Direction, EventCode, Fault, SeqCounter, fault_bit

from .config import FAULT_DETAILS, U16, U32, PenConfig, cartridge_id_ok, is_finite
from .core import APPLIED_LOG_LEN, LATCHING
from .dispatch import TELEMETRY_MAX_HZ, Dispatch
from .errors import ConfigError
from .records import Applied, Listener, LogRecord, StopCause

__all__ = [
    "APPLIED_LOG_LEN",
    "FAULT_DETAILS",
    "LATCHING",
    "TELEMETRY_MAX_HZ",
    "U16",
    "U32",
    "Applied",
    "Firmware",
    "Listener",
    "LogRecord",
    "PenConfig",
    "StopCause",
    "fault_bit",
]


class Firmware(Dispatch):
    """The pen core. Feed it host bytes, tick it with the time, take the bytes it sends."""

    def __init__(
        self,
        config: PenConfig | None = None,
        seed: int = 0,
        now_ms: float = 0.0,
        listeners: Iterable[Listener] = (),
        *,
        cartridge_id: int | None = None,
        cartridge_ids: Callable[[], int] | None = None,
        uptime_ms: int = 0,
    ) -> None:
        """`uptime_ms` is the uptime at power-on (a pen on for weeks: its u32 wraps at 49.7
        days; reboots count from 0 again). `cartridge_id` pins the cartridge fitted at
        power-on; `cartridge_ids` draws the id of every fresh cartridge (default: the seeded
        generator, so a virtual-clock run repeats byte for byte; a live pen passes the OS's
        randomness so every run has new ones)."""
        if not is_finite(now_ms):
            raise ValueError("The start time must be a finite number of milliseconds.")
        if cartridge_id is not None and not cartridge_id_ok(cartridge_id):
            raise ConfigError(f"A cartridge id must be from 1 to 4294967295, not {cartridge_id!r}.")
        if (
            isinstance(uptime_ms, bool)
            or not isinstance(uptime_ms, int)
            or not 0 <= uptime_ms <= U32
        ):
            raise ConfigError(
                f"The uptime at power-on must be 0 to 4294967295 ms, not {uptime_ms!r}."
            )
        super().__init__(config, seed, now_ms, listeners, cartridge_ids)
        self.cartridge_id = cartridge_id if cartridge_id is not None else self._new_cartridge_id()
        self._boot()
        self._boot_ms = self._now - uptime_ms

    def reboot(self) -> None:
        """Power-cycle the firmware: a new boot_id, no session, telemetry off, latches gone.

        The hardware keeps its state: the cartridge (whose use is recorded on it), the battery,
        the temperature and a jammed actuator.
        """
        self._record("INJECT", what="reboot")
        self._flush()
        self._boot()

    def _boot(self) -> None:
        old = self.boot_id
        while True:
            self.boot_id = self._rng.getrandbits(32)
            if self.boot_id != old:
                break
        self.boot_count += 1
        self._boot_ms = self._now
        self.decoder = Decoder(Direction.PEN)
        self._window.clear()
        self._hello_nonces.clear()
        self._tx = SeqCounter()
        self._out.clear()
        self._pending_msgs.clear()
        self._pending_records.clear()
        if self.cartridge_state == CartridgeState.IN_USE:
            self.cartridge_state = CartridgeState.SPENT
        self.session_open = False
        self._running = False
        self._rate_actual = 0.0
        self._stall_since = None
        self._stall_armed = False
        self.estop_latched = False
        self._latched = Fault(0)
        self._flags = Fault(0)
        self.depth_set_um = self.config.depth_min_um
        self.rate_set_hz = self.config.rate_min_hz
        if not self._depth_jammed:
            self._depth_actual = float(self.config.depth_min_um)  # homed at boot
        self._schedule_depth_check()
        self._stamps = 0.0
        self._last_rx_ms = self._now
        self.telemetry_hz = 0
        self._next_status = math.inf
        self._event(EventCode.BOOT, self.boot_id & U16, boot_id=self.boot_id)
        self._check_conditions()
        self._flush()

"""The firmware's state and what it shows: the truth a test reads, STATUS and INFO, the
listeners, and the way out (frames sent, log records flushed).

`FirmwareCore` holds every field; the subsystems build on it one layer at a time (motion,
latch, cartridge, watchdog, dispatch) and `simulator.firmware.Firmware` is the whole pen.
The state is derived, never stored: see `FirmwareCore.state`.
"""

from __future__ import annotations

import math
import random
from collections import Counter, deque
from collections.abc import Callable, Iterable
from typing import ClassVar

from protocol import (
    LATCHING_FAULTS,
    PROTOCOL_VERSION,
    CartridgeState,
    Decoder,
    Direction,
    DuplicateWindow,
    Event,
    EventCode,
    Fault,
    Info,
    Message,
    SeqCounter,
    State,
    Status,
    encode,
)

from . import physics
from .config import U16, U32, PenConfig
from .records import Applied, Listener, LogRecord

#: Faults that latch the FAULT state until the condition is gone and the host sends RESET 1.
LATCHING = LATCHING_FAULTS
#: How many executed commands `Firmware.applied` keeps.
APPLIED_LOG_LEN = 4096


class FirmwareCore:
    """The pen's fields, its read-only truth and its output."""

    PROTO: ClassVar[int] = PROTOCOL_VERSION

    def __init__(
        self,
        config: PenConfig | None,
        seed: int,
        now_ms: float,
        listeners: Iterable[Listener],
        cartridge_ids: Callable[[], int] | None,
    ) -> None:
        """Every field at its power-on value (before the first boot)."""
        self.config: PenConfig = config if config is not None else PenConfig.professional()
        self._p = self.config.physics
        self._rng = random.Random(seed)
        self._cartridge_ids = cartridge_ids
        self._now = float(now_ms)
        self._listeners: list[Listener] = list(listeners)  # here already to hear the BOOT
        self.listener_errors = 0
        # --- what survives a reboot: the hardware -------------------------------------------
        self._temp = float(self._p.ambient_dc)
        self._battery = 100.0
        self._depth_actual = float(self.config.depth_min_um)
        self._depth_jammed = False
        self._stall_armed = False
        self._used_ids: set[int] = set()
        self.cartridge_id = 0  # the one fitted at power-on is chosen by Firmware
        self.cartridge_state = CartridgeState.FRESH
        self._removed_id: int | None = None
        # --- test truth: what was executed ----------------------------------------------------
        self.applied: deque[Applied] = deque(maxlen=APPLIED_LOG_LEN)
        self.executions: Counter[tuple[int, int]] = Counter()
        self.duplicates: Counter[tuple[int, int]] = Counter()
        self.boot_count = 0
        # --- what a boot resets: the firmware's memory (set properly at boot) ----------------
        self.boot_id = 0
        self._boot_ms = self._now
        self.decoder = Decoder(Direction.PEN)
        self._window = DuplicateWindow(16)
        #: nonce of each HELLO seq in the window: a HELLO with a new nonce is a new handshake
        self._hello_nonces: dict[int, int] = {}
        self._tx = SeqCounter()
        self._out: list[tuple[float, bytes]] = []
        self._pending_msgs: list[Message] = []
        self._pending_records: list[tuple[str, dict[str, object]]] = []
        self.session_open = False
        self.session_count = 0
        self._running = False
        self.estop_latched = False
        self._latched = Fault(0)
        self._flags = Fault(0)
        self.depth_set_um = self.config.depth_min_um
        self._depth_due = self._now
        self.rate_set_hz = self.config.rate_min_hz
        self._rate_actual = 0.0
        self._stall_since: float | None = None
        self._stamps = 0.0
        self._last_rx_ms = self._now
        self.telemetry_hz = 0
        self._next_status = math.inf
        self._last_state = State.NO_SESSION

    @property
    def now_ms(self) -> float:
        return self._now

    @property
    def state(self) -> State:
        if self.estop_latched:
            return State.ESTOP
        if self._latched & LATCHING:
            return State.FAULT
        if not self.session_open:
            return State.NO_SESSION
        return State.RUNNING if self._running else State.IDLE

    @property
    def needle_running(self) -> bool:
        return self._running

    @property
    def faults(self) -> Fault:
        """STATUS.faults: the latched faults plus the BATTERY_LOW and WATCHDOG flags."""
        return self._latched | self._flags

    @property
    def latched_faults(self) -> Fault:
        return self._latched

    @property
    def depth_actual_um(self) -> int:
        return round(self._depth_actual)

    @property
    def rate_actual_hz(self) -> int:
        return round(self._rate_actual)

    @property
    def stamps(self) -> int:
        return int(self._stamps)

    @property
    def motor_ma(self) -> int:
        return physics.motor_current_ma(
            self._rate_actual, self._running, self._stall_since is not None, self._p
        )

    @property
    def temperature_dc(self) -> int:
        return max(-0x8000, min(0x7FFF, round(self._temp)))

    @property
    def battery_pct(self) -> int:
        return max(0, min(100, math.floor(self._battery + 0.5)))

    @property
    def uptime_ms(self) -> int:
        return int(self._now - self._boot_ms)

    @property
    def depth_jammed(self) -> bool:
        return self._depth_jammed

    @property
    def stall_pending(self) -> bool:
        return self._stall_armed or self._stall_since is not None

    @property
    def hellos_remembered(self) -> int:
        """How many HELLO nonces the pen keeps to tell a resend from a new handshake (bounded:
        those of the HELLOs still in the duplicate window, plus the latest)."""
        return len(self._hello_nonces)

    def status(self) -> Status:
        """The STATUS the pen would send now."""
        present = self.cartridge_state != CartridgeState.NONE
        return Status(
            self.state,
            self.faults,
            self.depth_set_um,
            self.depth_actual_um,
            self.rate_set_hz,
            self.rate_actual_hz,
            self.stamps & U32,
            self.motor_ma,
            self.temperature_dc,
            self.battery_pct,
            self.cartridge_id if present else 0,
            self.cartridge_state,
            self.uptime_ms & U32,
        )

    def info(self, nonce: int = 0) -> Info:
        c = self.config
        major, minor, patch = c.fw_version
        return Info(
            self.PROTO,
            nonce,
            c.device_class,
            major,
            minor,
            patch,
            c.serial,
            self.boot_id,
            c.depth_min_um,
            c.depth_max_um,
            c.depth_step_um,
            c.rate_min_hz,
            c.rate_max_hz,
            c.watchdog_ms,
        )

    def add_listener(self, listener: Listener) -> None:
        """Call `listener(record)` for every command applied, EVENT and state change."""
        self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def take_output(self) -> bytes:
        """Everything the pen has sent since the last call."""
        return b"".join(data for _, data in self.take_output_timed())

    def take_output_timed(self) -> list[tuple[float, bytes]]:
        """What the pen has sent since the last call, as (pen time in ms, bytes) chunks."""
        out = self._out
        self._out = []
        return out

    def _send(self, data: bytes) -> None:
        self._out.append((self._now, data))

    def _event(self, code: EventCode, detail: int = 0, **fields: object) -> None:
        self._pending_msgs.append(Event(code, detail & U16))
        self._record(code.name, detail=detail & U16, **fields)

    def _record(self, event: str, **fields: object) -> None:
        self._pending_records.append((event, fields))

    def _flush(self, command: tuple[str, dict[str, object]] | None = None) -> None:
        """Send queued EVENT/STATUS frames and hand the log records to the listeners."""
        for msg in self._pending_msgs:
            self._send(encode(msg, self._tx.next()))
        self._pending_msgs.clear()
        pending = self._pending_records
        if command is not None:
            pending.insert(0, command)
        state = self.state
        records = [LogRecord(self._now, name, state, fields) for name, fields in pending]
        pending.clear()
        if state != self._last_state:
            records.append(LogRecord(self._now, "STATE", state, {"from": self._last_state.name}))
            self._last_state = state
        for record in records:
            for listener in list(self._listeners):
                try:
                    listener(record)
                except Exception:  # a broken log must never stop the pen's own safety logic
                    self.listener_errors += 1

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
"""

from __future__ import annotations

import enum
import math
import random
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from protocol import (
    DEPTH_SLEW_MIN_UM_PER_MS,
    DEPTH_TOLERANCE_MAX_UM,
    DEPTH_TOLERANCE_UM,
    LATCHING_FAULTS,
    PROTOCOL_VERSION,
    Ack,
    CartridgeState,
    Decoder,
    DeviceClass,
    Direction,
    DuplicateWindow,
    Estop,
    Event,
    EventCode,
    Fault,
    Frame,
    Heartbeat,
    Hello,
    Info,
    InvalidFrame,
    Message,
    MsgType,
    Nack,
    NackError,
    Reset,
    SeqCounter,
    SetDepth,
    SetRate,
    SetTelemetry,
    Start,
    State,
    Status,
    Stop,
    encode,
    fault_bit,
    message_type_name,
)

from . import physics
from .errors import ConfigError, InjectError
from .physics import PhysicsParams

#: Faults that latch the FAULT state until the condition is gone and the host sends RESET 1.
LATCHING = LATCHING_FAULTS
#: STATUS streams at 1..TELEMETRY_MAX_HZ (0 = off).
TELEMETRY_MAX_HZ = 200
#: How many executed commands `Firmware.applied` keeps.
APPLIED_LOG_LEN = 4096
#: What EVENT FAULT_RAISED / FAULT_CLEARED carry as detail: "bit", the fault's bit number
#: (docs/PROTOCOL.md), or "mask", its mask value (a pen that read the ICD the other way; for
#: testing that a host names faults from STATUS.faults).
FAULT_DETAILS = ("bit", "mask")
U16 = 0xFFFF
U32 = 0xFFFF_FFFF


class StopCause(enum.IntEnum):
    """EVENT STOPPED's detail: why the needle stopped."""

    COMMAND = 0  # STOP from the host
    ESTOP = 1
    WATCHDOG = 2
    FAULT = 3
    NEW_SESSION = 4  # HELLO during a session
    BATTERY_EMPTY = 5


def _single_faults(mask: Fault) -> list[Fault]:
    return [f for f in Fault if f & mask]


@dataclass(frozen=True, slots=True)
class PenConfig:
    """What kind of pen this is: its ranges, watchdog and identity. Validated on creation."""

    device_class: DeviceClass
    depth_min_um: int
    depth_max_um: int
    depth_step_um: int
    rate_min_hz: int
    rate_max_hz: int
    watchdog_ms: int = 300
    serial: int = 1
    fw_version: tuple[int, int, int] = (1, 0, 0)
    physics: PhysicsParams = field(default_factory=PhysicsParams)
    fault_detail: str = "bit"

    def __post_init__(self) -> None:
        def need(ok: bool, sentence: str) -> None:
            if not ok:
                raise ConfigError(sentence)

        for name in (
            "depth_min_um",
            "depth_max_um",
            "depth_step_um",
            "rate_min_hz",
            "rate_max_hz",
            "watchdog_ms",
        ):
            value = getattr(self, name)
            need(
                isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= U16,
                f"The pen's {name} must be a whole number from 1 to 65535, not {value!r}.",
            )
        need(
            isinstance(self.device_class, DeviceClass),
            f"The device class must be home or professional, not {self.device_class!r}.",
        )
        need(
            self.depth_min_um <= self.depth_max_um,
            "The pen's depth_min_um must not be above its depth_max_um.",
        )
        need(
            self.depth_min_um % self.depth_step_um == 0
            and self.depth_max_um % self.depth_step_um == 0,
            "The pen's depth limits must be multiples of its depth_step_um.",
        )
        need(
            self.rate_min_hz <= self.rate_max_hz,
            "The pen's rate_min_hz must not be above its rate_max_hz.",
        )
        need(
            self.device_class != DeviceClass.HOME or self.depth_max_um < 1000,
            "A home pen's depth_max_um must stay below 1000 µm.",
        )
        tolerance = self.physics.depth_tolerance_um
        need(
            DEPTH_TOLERANCE_UM <= tolerance <= DEPTH_TOLERANCE_MAX_UM,
            f"The pen's depth tolerance must be from {DEPTH_TOLERANCE_UM} to "
            f"{DEPTH_TOLERANCE_MAX_UM} µm, not {tolerance!r}.",
        )
        need(
            self.physics.slew_um_per_ms >= DEPTH_SLEW_MIN_UM_PER_MS,
            f"The pen's depth actuator must slew at least {DEPTH_SLEW_MIN_UM_PER_MS} µm/ms.",
        )
        need(
            isinstance(self.serial, int) and 0 <= self.serial <= U32,
            f"The pen's serial number must fit in 32 bits, not {self.serial!r}.",
        )
        need(
            self.fault_detail in FAULT_DETAILS,
            f"The fault detail must be bit or mask, not {self.fault_detail!r}.",
        )
        need(
            len(self.fw_version) == 3 and all(0 <= int(v) <= 0xFF for v in self.fw_version),
            "The firmware version must be three numbers from 0 to 255.",
        )

    @classmethod
    def professional(cls, **changes: Any) -> PenConfig:
        """A professional pen: 250-3000 µm in 50 µm steps, 25-150 Hz."""
        base: dict[str, Any] = {
            "device_class": DeviceClass.PROFESSIONAL,
            "depth_min_um": 250,
            "depth_max_um": 3000,
            "depth_step_um": 50,
            "rate_min_hz": 25,
            "rate_max_hz": 150,
            "serial": 1_000_001,
        }
        base.update(changes)
        return cls(**base)

    @classmethod
    def home(cls, **changes: Any) -> PenConfig:
        """A home pen: 250-950 µm in 50 µm steps (always below 1 mm), 25-120 Hz."""
        base: dict[str, Any] = {
            "device_class": DeviceClass.HOME,
            "depth_min_um": 250,
            "depth_max_um": 950,
            "depth_step_um": 50,
            "rate_min_hz": 25,
            "rate_max_hz": 120,
            "serial": 2_000_001,
        }
        base.update(changes)
        return cls(**base)

    @classmethod
    def for_device_class(cls, name: str, **changes: Any) -> PenConfig:
        """The preset named `home` or `professional` (as the CLI and `sim://` spell it)."""
        key = str(name).strip().lower()
        if key == "home":
            return cls.home(**changes)
        if key in ("professional", "pro"):
            return cls.professional(**changes)
        raise ConfigError(f"The device class must be home or professional, not {name!r}.")


@dataclass(frozen=True, slots=True)
class Applied:
    """One command the firmware executed (answered by running it, not from the window)."""

    t_ms: float
    seq: int
    type_code: int
    message: Message | None  # None for an intact frame it could not understand
    answer: Message

    @property
    def accepted(self) -> bool:
        return not isinstance(self.answer, Nack)


@dataclass(frozen=True, slots=True)
class LogRecord:
    """What the JSON log prints: a command applied, an EVENT or a state change.

    `t_ms` is pen time (the firmware's clock); `state` is the state after the step that
    produced the record; `fields` holds the relevant values (depth_um, rate_hz, detail, ...).
    """

    t_ms: float
    event: str
    state: State
    fields: Mapping[str, object]


Listener = Callable[[LogRecord], None]
_Handler = Callable[["Firmware", Any], Message]


class Firmware:
    """The pen core. Feed it host bytes, tick it with the time, take the bytes it sends."""

    PROTO: ClassVar[int] = PROTOCOL_VERSION

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
        if not _finite(now_ms):
            raise ValueError("The start time must be a finite number of milliseconds.")
        if cartridge_id is not None and not _cartridge_id_ok(cartridge_id):
            raise ConfigError(f"A cartridge id must be from 1 to 4294967295, not {cartridge_id!r}.")
        if (
            isinstance(uptime_ms, bool)
            or not isinstance(uptime_ms, int)
            or not 0 <= uptime_ms <= U32
        ):
            raise ConfigError(
                f"The uptime at power-on must be 0 to 4294967295 ms, not {uptime_ms!r}."
            )
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
        self.cartridge_id = 0
        self.cartridge_id = cartridge_id if cartridge_id is not None else self._new_cartridge_id()
        self.cartridge_state = CartridgeState.FRESH
        self._removed_id: int | None = None
        # --- test truth: what was executed ----------------------------------------------------
        self.applied: deque[Applied] = deque(maxlen=APPLIED_LOG_LEN)
        self.executions: Counter[tuple[int, int]] = Counter()
        self.duplicates: Counter[tuple[int, int]] = Counter()
        self.boot_count = 0
        # --- what a boot resets: the firmware's memory (set properly in _boot) ----------------
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
        self._boot()
        self._boot_ms = self._now - uptime_ms

    # ------------------------------------------------------------------ read-only truth ----

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

    # ---------------------------------------------------------------------- listeners ----

    def add_listener(self, listener: Listener) -> None:
        """Call `listener(record)` for every command applied, EVENT and state change."""
        self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    # ------------------------------------------------------------------------ sans-IO ----

    def feed(self, data: bytes) -> None:
        """Bytes from the host, received at the current pen time (the last tick)."""
        for item in self.decoder.feed(data):
            if isinstance(item, InvalidFrame):
                self._on_invalid(item)
            else:
                self._on_frame(item)
        # A command may have made something due now (the first STATUS after SET_TELEMETRY).
        self._process_due()

    def tick(self, now_ms: float) -> None:
        """Advance pen time to `now_ms` (a time in the past is ignored)."""
        if not _finite(now_ms):
            raise ValueError("The tick time must be a finite number of milliseconds.")
        while True:
            self._process_due()
            if self._now >= now_ms:
                return
            end = min(now_ms, self._now + self._p.max_step_ms, self._next_deadline())
            if end <= self._now:
                end = min(now_ms, self._now + self._p.max_step_ms)
            self._advance(end - self._now)
            self._now = end

    def next_deadline(self) -> float:
        """The pen time (ms) when something next falls due on its own (watchdog, STATUS,
        stall or depth check); inf if nothing does."""
        return self._next_deadline()

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

    # ---------------------------------------------------------------- fault injection ----

    def inject_overheat(self, temp_dc: int | None = None) -> None:
        """Heat the pen up to `temp_dc` (default: above the OVERTEMP threshold) at once."""
        target = self._p.overheat_inject_dc if temp_dc is None else temp_dc
        if not _finite(target):
            raise InjectError("The temperature must be a finite number of tenths of °C.")
        self._temp = max(self._temp, float(target))
        self._inject("overheat", temp_dc=self.temperature_dc)

    def set_temperature(self, temp_dc: float) -> None:
        """Set the pen's temperature (tenths of °C), e.g. to cool it down at once."""
        if not _finite(temp_dc) or not -400 <= temp_dc <= 1500:
            raise InjectError("The temperature must be from -400 to 1500 tenths of °C.")
        self._temp = float(temp_dc)
        self._inject("temperature", temp_dc=self.temperature_dc)

    def inject_stall(self) -> None:
        """Jam the motor: now if it runs, else at the next START. Detected as MOTOR_STALL."""
        if self._running:
            if self._stall_since is None:
                self._stall_since = self._now
                self._rate_actual = 0.0
        else:
            self._stall_armed = True
        self._inject("stall")

    def inject_depth_fault(self) -> None:
        """The depth actuator slips off its set-point and sticks there (until cleared)."""
        if not self._depth_jammed:
            offset = self._p.depth_fault_offset_um
            slipped = self._depth_actual + offset
            if slipped > self.config.depth_max_um:
                slipped = self._depth_actual - offset
            self._depth_actual = slipped
            self._depth_jammed = True
            self._depth_due = max(self._depth_due, self._now + self._p.depth_settle_margin_ms)
        self._inject("depth_fault", depth_actual_um=self.depth_actual_um)

    def clear_depth_fault(self) -> None:
        """Free the depth actuator; it slews back to its set-point."""
        if self._depth_jammed:
            self._depth_jammed = False
            self._schedule_depth_check()
        self._inject("depth_fault_cleared")

    def remove_cartridge(self) -> None:
        """Pull the cartridge out. While RUNNING this raises CARTRIDGE_REMOVED."""
        if self.cartridge_state == CartridgeState.NONE:
            raise InjectError("There is no cartridge to remove.")
        cid = self.cartridge_id
        self._removed_id = cid
        self.cartridge_id = 0
        self.cartridge_state = CartridgeState.NONE
        self._record("INJECT", what="remove_cartridge", cartridge_id=cid)
        self._event(EventCode.CARTRIDGE_REMOVED, cid & U16, cartridge_id=cid)
        if self._running:
            self._raise_fault(Fault.CARTRIDGE_REMOVED)
        self._check_conditions()
        self._flush()

    def insert_cartridge(self, fresh: bool = True, cartridge_id: int | None = None) -> int:
        """Insert a cartridge and return its id.

        fresh=True: a new cartridge with a random id. fresh=False: the last one removed is put
        back (SPENT if it was used). An explicit `cartridge_id` is SPENT if this pen used it.
        """
        if self.cartridge_state != CartridgeState.NONE:
            raise InjectError("A cartridge is already inserted; remove it first.")
        if cartridge_id is not None:
            if isinstance(cartridge_id, bool) or not isinstance(cartridge_id, int):
                raise InjectError("A cartridge id must be a whole number.")
            if not 1 <= cartridge_id <= U32:
                raise InjectError("A cartridge id must be from 1 to 4294967295.")
            cid = cartridge_id
        elif fresh:
            cid = self._new_cartridge_id()
        else:
            if self._removed_id is None:
                raise InjectError("No cartridge has been removed, so none can be put back.")
            cid = self._removed_id
        self.cartridge_id = cid
        self.cartridge_state = (
            CartridgeState.SPENT if cid in self._used_ids else CartridgeState.FRESH
        )
        self._record("INJECT", what="insert_cartridge", cartridge_id=cid)
        self._event(
            EventCode.CARTRIDGE_INSERTED,
            cid & U16,
            cartridge_id=cid,
            cartridge_state=self.cartridge_state.name,
        )
        self._check_conditions()
        self._flush()
        return cid

    def fit_fresh_cartridge(self) -> int:
        """Take out the cartridge that is in (if any) and fit a fresh one; returns its id.

        Refused while the needle runs (stop it first): a swap is done at rest.
        """
        if self._running:
            raise InjectError("Stop the needle before fitting a fresh cartridge.")
        if self.cartridge_state != CartridgeState.NONE:
            self.remove_cartridge()
        return self.insert_cartridge(fresh=True)

    def set_battery(self, pct: float) -> None:
        """Set the battery's charge in percent (0 to 100)."""
        if isinstance(pct, bool) or not _finite(pct) or not 0 <= pct <= 100:
            raise InjectError("The battery level must be a number from 0 to 100 percent.")
        self._battery = float(pct)
        self._inject("battery", battery_pct=self.battery_pct)

    def note(self, event: str, **fields: object) -> None:
        """Put a record in the log without changing anything (e.g. a link cut)."""
        self._record(event, **fields)
        self._flush()

    def reboot(self) -> None:
        """Power-cycle the firmware: a new boot_id, no session, telemetry off, latches gone.

        The hardware keeps its state: the cartridge (whose use is recorded on it), the battery,
        the temperature and a jammed actuator.
        """
        self._record("INJECT", what="reboot")
        self._flush()
        self._boot()

    # ------------------------------------------------------------------------ internals ----

    def _new_cartridge_id(self) -> int:
        while True:
            if self._cartridge_ids is not None:
                cid = self._cartridge_ids()
            else:
                cid = self._rng.randrange(1, U32 + 1)
            if _cartridge_id_ok(cid) and cid not in self._used_ids and cid != self.cartridge_id:
                return cid

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

    def _inject(self, what: str, **fields: object) -> None:
        self._record("INJECT", what=what, **fields)
        self._check_conditions()
        self._flush()

    # --- messages out --------------------------------------------------------------------

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

    # --- frames in -----------------------------------------------------------------------

    def _on_invalid(self, item: InvalidFrame) -> None:
        stored = self._window.lookup(item.seq, item.type_code)
        if stored is not None:
            self._send(stored)
            self.duplicates[(item.seq, item.type_code)] += 1
            self._flush(("DUPLICATE", {"of": message_type_name(item.type_code), "seq": item.seq}))
            return
        detail = 0
        if item.error == NackError.BAD_LENGTH:
            known = _HOST_TYPES.get(item.type_code)
            detail = known.PAYLOAD_LEN if known is not None else 0
        answer = Nack(item.type_code, item.error, detail)
        self._answer(item.seq, item.type_code, None, answer)

    def _on_frame(self, frame: Frame) -> None:
        msg = frame.message
        self._last_rx_ms = self._now  # any valid frame feeds the watchdog
        if isinstance(msg, Heartbeat):
            return
        code = int(msg.TYPE)
        stored = self._window.lookup(frame.seq, code)
        if isinstance(msg, Hello) and self._hello_nonces.get(frame.seq) != msg.nonce:
            stored = None  # same seq, other nonce: a restarted host's handshake, not a resend
        if stored is not None:
            self._send(stored)
            self.duplicates[(frame.seq, code)] += 1
            self._flush(("DUPLICATE", {"of": msg.TYPE.name, "seq": frame.seq}))
            return
        handler = _HANDLERS[type(msg)]
        answer = handler(self, msg)
        if isinstance(msg, Hello):
            self._hello_nonces[frame.seq] = msg.nonce
            if len(self._hello_nonces) > self._window.size:
                self._hello_nonces = {
                    seq: nonce
                    for seq, nonce in self._hello_nonces.items()
                    if self._window.lookup(seq, MsgType.HELLO) is not None or seq == frame.seq
                }
        self._answer(frame.seq, code, msg, answer)

    def _answer(self, seq: int, code: int, msg: Message | None, answer: Message) -> None:
        data = encode(answer, seq)
        self._window.remember(seq, code, data)
        self._send(data)
        self.executions[(seq, code)] += 1
        self.applied.append(Applied(self._now, seq, code, msg, answer))
        fields: dict[str, object] = {"seq": seq}
        if msg is not None:
            fields.update(_command_fields(msg))
        if isinstance(answer, Nack):
            fields = {"of": message_type_name(code), **fields}
            fields["error"] = answer.error.name
            fields["detail"] = answer.detail
            self._flush(("NACK", fields))
        else:
            if isinstance(answer, Info):
                fields["boot_id"] = answer.boot_id
            self._flush((message_type_name(code), fields))

    # --- command handlers (one per host message type) ------------------------------------

    def _no_session(self, code: MsgType) -> Nack | None:
        if not self.session_open:
            return Nack(code, NackError.NO_SESSION, 0)
        return None

    def _hello(self, msg: Hello) -> Message:
        if msg.proto != self.PROTO:
            return Nack(MsgType.HELLO, NackError.UNSUPPORTED_VERSION, self.PROTO)
        self._stop_needle(StopCause.NEW_SESSION)
        if self.session_open:
            self._end_session_cartridge()
        self.session_open = True
        self.session_count += 1
        self._flags &= ~Fault.WATCHDOG
        self._reset_setpoints()
        self._window.clear()
        self._hello_nonces.clear()
        return self.info(msg.nonce)

    def _set_depth(self, msg: SetDepth) -> Message:
        refused = self._no_session(MsgType.SET_DEPTH)
        if refused:
            return refused
        c = self.config
        value = msg.depth_um
        bound = None
        if value < c.depth_min_um:
            bound = c.depth_min_um
        elif value > c.depth_max_um:
            bound = c.depth_max_um
        elif value % c.depth_step_um:
            bound = c.depth_step_um
        if bound is not None:
            return Nack(MsgType.SET_DEPTH, NackError.OUT_OF_RANGE, bound)
        self.depth_set_um = value
        self._schedule_depth_check()
        return Ack(MsgType.SET_DEPTH)

    def _set_rate(self, msg: SetRate) -> Message:
        refused = self._no_session(MsgType.SET_RATE)
        if refused:
            return refused
        c = self.config
        if msg.rate_hz < c.rate_min_hz:
            return Nack(MsgType.SET_RATE, NackError.OUT_OF_RANGE, c.rate_min_hz)
        if msg.rate_hz > c.rate_max_hz:
            return Nack(MsgType.SET_RATE, NackError.OUT_OF_RANGE, c.rate_max_hz)
        self.rate_set_hz = msg.rate_hz
        return Ack(MsgType.SET_RATE)

    def _start(self, msg: Start) -> Message:
        t = MsgType.START
        refused = self._no_session(t)
        if refused:
            return refused
        if self.estop_latched:
            return Nack(t, NackError.ESTOP_LATCHED, 0)
        if self._latched & LATCHING:
            return Nack(t, NackError.FAULT_LATCHED, int(self._latched & LATCHING))
        if self._running:
            return Ack(t)  # already running: changes nothing (no STARTED, cartridge untouched)
        if self.cartridge_state == CartridgeState.NONE:
            return Nack(t, NackError.NO_CARTRIDGE, 0)
        if self.cartridge_state == CartridgeState.SPENT:
            return Nack(t, NackError.CARTRIDGE_USED, self.cartridge_id & U16)
        if self.battery_pct < self._p.battery_low_pct:
            return Nack(t, NackError.BATTERY_LOW, self._p.battery_low_pct)
        if self._depth_off():  # still moving (e.g. up to a shallower set-point): not yet
            return Nack(t, NackError.BAD_STATE, self.depth_actual_um)
        self._running = True
        self._rate_actual = 0.0
        self.cartridge_state = CartridgeState.IN_USE
        self._used_ids.add(self.cartridge_id)
        if self._stall_armed:
            self._stall_armed = False
            self._stall_since = self._now
        self._event(
            EventCode.STARTED,
            self.depth_set_um,
            depth_um=self.depth_set_um,
            rate_hz=self.rate_set_hz,
        )
        return Ack(t)

    def _stop(self, msg: Stop) -> Message:
        self._stop_needle(StopCause.COMMAND)
        return Ack(MsgType.STOP)

    def _estop(self, msg: Estop) -> Message:
        was_running = self._running
        self._running = False  # the needle stops before anything else happens
        self._rate_actual = 0.0
        self._stall_since = None
        self.estop_latched = True
        self._event(EventCode.ESTOP, 0, was_running=was_running)
        if was_running:
            self._event(EventCode.STOPPED, StopCause.ESTOP, cause=StopCause.ESTOP.name)
        return Ack(MsgType.ESTOP)

    def _reset(self, msg: Reset) -> Message:
        t = MsgType.RESET
        refused = self._no_session(t)
        if refused:
            return refused
        if msg.what == 1:
            persisting = self._latched & self._conditions()
            if persisting:
                return Nack(t, NackError.FAULT_LATCHED, int(persisting))
            cleared = self._latched
            self._latched = Fault(0)
            for f in _single_faults(cleared):
                self._event(EventCode.FAULT_CLEARED, self._fault_detail(f), fault=f.name)
            return Ack(t)
        if msg.what == 2:
            self.estop_latched = False
            return Ack(t)
        return Nack(t, NackError.OUT_OF_RANGE, 1 if msg.what < 1 else 2)

    def _set_telemetry(self, msg: SetTelemetry) -> Message:
        t = MsgType.SET_TELEMETRY
        refused = self._no_session(t)
        if refused:
            return refused
        if msg.rate_hz > TELEMETRY_MAX_HZ:
            return Nack(t, NackError.OUT_OF_RANGE, TELEMETRY_MAX_HZ)
        self.telemetry_hz = msg.rate_hz
        self._next_status = self._now if msg.rate_hz else math.inf
        return Ack(t)

    # --- actions shared by handlers, faults and the watchdog ------------------------------

    def _stop_needle(self, cause: StopCause) -> None:
        if not self._running:
            return
        self._running = False
        self._rate_actual = 0.0
        self._stall_since = None
        self._event(EventCode.STOPPED, cause, cause=cause.name)

    def _raise_fault(self, fault: Fault) -> None:
        if self._latched & fault:
            return
        self._latched |= fault
        self._event(EventCode.FAULT_RAISED, self._fault_detail(fault), fault=fault.name)
        self._stop_needle(StopCause.FAULT)

    def _fault_detail(self, fault: Fault) -> int:
        """EVENT FAULT_RAISED / FAULT_CLEARED detail of one fault: its bit number (the ICD)."""
        return int(fault) if self.config.fault_detail == "mask" else fault_bit(fault)

    def _reset_setpoints(self) -> None:
        self.depth_set_um = self.config.depth_min_um
        self.rate_set_hz = self.config.rate_min_hz
        self._schedule_depth_check()

    def _end_session_cartridge(self) -> None:
        if self.cartridge_state == CartridgeState.IN_USE:
            self.cartridge_state = CartridgeState.SPENT

    def _schedule_depth_check(self) -> None:
        distance = self.depth_set_um - self._depth_actual
        self._depth_due = (
            self._now + physics.travel_ms(distance, self._p) + self._p.depth_settle_margin_ms
        )

    def _depth_off(self) -> bool:
        """depth_actual is beyond the tolerance of depth_set, as STATUS reports them (so a
        host that sees them within it in STATUS has START accepted)."""
        return abs(self.depth_set_um - self.depth_actual_um) > self._p.depth_tolerance_um

    def _conditions(self) -> Fault:
        """The latching faults whose cause is still there (RESET 1 is refused for these)."""
        present = Fault(0)
        if self._temp > self._p.overtemp_clear_dc:
            present |= Fault.OVERTEMP
        if self._depth_jammed or self._depth_off():
            present |= Fault.DEPTH_ERROR
        if self.cartridge_state == CartridgeState.NONE:
            present |= Fault.CARTRIDGE_REMOVED
        return present

    def _trip_watchdog(self) -> None:
        self._stop_needle(StopCause.WATCHDOG)
        self.session_open = False
        self._end_session_cartridge()
        self._reset_setpoints()
        self._flags |= Fault.WATCHDOG
        self._window.clear()
        self._hello_nonces.clear()
        self._event(
            EventCode.WATCHDOG_TRIPPED,
            self.config.watchdog_ms,
            silence_ms=round(self._now - self._last_rx_ms),
            depth_um=self.depth_set_um,
        )

    # --- time ----------------------------------------------------------------------------

    def _watchdog_deadline(self) -> float:
        """When the watchdog trips. Deadlines are computed and checked by the same sum, so
        float rounding can never make a check fall one ulp short of its own deadline."""
        return self._last_rx_ms + self.config.watchdog_ms

    def _next_deadline(self) -> float:
        deadline = math.inf
        if self.session_open:
            deadline = min(deadline, self._watchdog_deadline())
        if self.telemetry_hz:
            deadline = min(deadline, self._next_status)
        if self._running and self._stall_since is not None:
            deadline = min(deadline, self._stall_since + self._p.stall_detect_ms)  # as checked
        if not self._latched & Fault.DEPTH_ERROR and self._depth_off():
            deadline = min(deadline, self._depth_due)
        return deadline

    def _advance(self, dt: float) -> None:
        """Physics over `dt` ms (no deadlines fall inside it)."""
        p = self._p
        if not self._depth_jammed:
            self._depth_actual = physics.slew(
                self._depth_actual, self.depth_set_um, dt, p.slew_um_per_ms
            )
        if self._running:
            if self._stall_since is not None:
                self._rate_actual = 0.0
            else:
                self._rate_actual, area = physics.ramp(
                    self._rate_actual, self.rate_set_hz, dt, p.spin_up_hz_per_ms
                )
                self._stamps += area / 1000.0
        self._temp = physics.next_temperature(self._temp, self._rate_actual, self._running, dt, p)
        self._battery = max(
            0.0,
            self._battery - physics.battery_drain_pct(dt, self._running, self._rate_actual, p),
        )

    def _check_conditions(self) -> None:
        p = self._p
        now = self._now
        if (
            self._running
            and self._stall_since is not None
            and now >= self._stall_since + p.stall_detect_ms
        ):
            self._raise_fault(Fault.MOTOR_STALL)
        if not self._latched & Fault.DEPTH_ERROR and self._depth_off() and now >= self._depth_due:
            self._raise_fault(Fault.DEPTH_ERROR)
        if self._temp >= p.overtemp_dc and not self._latched & Fault.OVERTEMP:
            self._raise_fault(Fault.OVERTEMP)
        low = self.battery_pct < p.battery_low_pct
        if low and not self._flags & Fault.BATTERY_LOW:
            self._flags |= Fault.BATTERY_LOW
            self._event(
                EventCode.FAULT_RAISED,
                self._fault_detail(Fault.BATTERY_LOW),
                fault=Fault.BATTERY_LOW.name,
                battery_pct=self.battery_pct,
            )
        elif not low and self._flags & Fault.BATTERY_LOW:
            self._flags &= ~Fault.BATTERY_LOW
            self._event(
                EventCode.FAULT_CLEARED,
                self._fault_detail(Fault.BATTERY_LOW),
                fault=Fault.BATTERY_LOW.name,
                battery_pct=self.battery_pct,
            )
        if self._battery <= 0.0:
            self._stop_needle(StopCause.BATTERY_EMPTY)

    def _process_due(self) -> None:
        """Everything that falls due at the current pen time, then the frames it produced."""
        self._check_conditions()
        if self.session_open and self._now >= self._watchdog_deadline():
            self._trip_watchdog()
        if self.telemetry_hz and self._now >= self._next_status:
            self._pending_msgs.append(self.status())
            self._next_status += 1000.0 / self.telemetry_hz
            if self._next_status <= self._now:
                self._next_status = self._now + 1000.0 / self.telemetry_hz
        self._flush()


def _cartridge_id_ok(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= U32


def _finite(value: object) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


def _command_fields(msg: Message) -> dict[str, object]:
    if isinstance(msg, Hello):
        return {"proto": msg.proto, "nonce": msg.nonce}
    if isinstance(msg, SetDepth):
        return {"depth_um": msg.depth_um}
    if isinstance(msg, SetRate):
        return {"rate_hz": msg.rate_hz}
    if isinstance(msg, SetTelemetry):
        return {"telemetry_hz": msg.rate_hz}
    if isinstance(msg, Reset):
        return {"what": msg.what}
    return {}


_HANDLERS: dict[type[Message], _Handler] = {
    Hello: Firmware._hello,
    SetDepth: Firmware._set_depth,
    SetRate: Firmware._set_rate,
    Start: Firmware._start,
    Stop: Firmware._stop,
    Estop: Firmware._estop,
    Reset: Firmware._reset,
    SetTelemetry: Firmware._set_telemetry,
}

_HOST_CLASSES: tuple[type[Message], ...] = (Hello, Heartbeat, *_HANDLERS)
_HOST_TYPES: dict[int, type[Message]] = {int(cls.TYPE): cls for cls in _HOST_CLASSES}

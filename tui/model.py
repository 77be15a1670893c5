"""What the screens show, filled from the driver's reader thread and read by the UI's timer.

The Pen calls `PenModel.on_update` from its reader thread up to 200 times a second (and from
whichever thread sends an e-stop or a command). That callback only stores values under a lock;
the UI's refresh timer takes a `Snapshot` at 20 frames per second and redraws from it. So a
200 Hz stream costs the UI nothing but a lock per frame, and key presses stay instant.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import protocol
from driver.session import Decision, Outcome, PenUpdate
from protocol import EventCode, Fault, State

from . import format as fmt

Level = Literal["info", "warn", "error"]

#: Event-log lines kept (older ones scroll away).
LOG_LIMIT = 500
#: Samples of depth and rate kept for the plots (at 10 per second: one minute).
HISTORY_LIMIT = 600

#: Fault bits in people's words.
FAULT_WORDS: dict[Fault, str] = {
    Fault.OVERTEMP: "overheating",
    Fault.MOTOR_STALL: "motor stalled",
    Fault.DEPTH_ERROR: "depth error (the needle did not reach its set depth)",
    Fault.BATTERY_LOW: "battery low",
    Fault.WATCHDOG: "watchdog (the pen heard nothing from this computer)",
    Fault.CARTRIDGE_REMOVED: "cartridge removed",
}
#: Flags, not latches: they clear by themselves (a charged battery, a new session), so F
#: (reset a latched fault) is never the advice for them.
FLAG_FAULTS = Fault.BATTERY_LOW | Fault.WATCHDOG


def fault_words(faults: Fault) -> str:
    """'overheating, battery low'; unknown (reserved) bits by number."""
    names = [FAULT_WORDS[f] for f in FAULT_WORDS if f & faults]
    names += [f"fault bit {bit}" for bit in range(6, 16) if int(faults) & (1 << bit)]
    return ", ".join(names)


@dataclass(frozen=True, slots=True)
class LogEntry:
    seq: int
    ts: float
    level: Level
    text: str


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A consistent copy of the model for one frame."""

    status: protocol.Status | None
    status_count: int
    link_lost: str | None
    rebooted: str | None
    session_ended: str | None
    estop_note: str | None
    #: an e-stop was sent and the pen has not confirmed it yet (Pen.estop_pending)
    estop_pending: bool
    run_ms_by_zone: dict[str, float]
    stamps_by_zone: dict[str, int]
    #: the deepest actual depth (um) the pen reported while stamping, per zone
    deepest_um_by_zone: dict[str, int]
    #: every fault bit STATUS showed since the session began
    faults_seen: Fault
    depth_history: tuple[float, ...]
    rate_history: tuple[float, ...]
    last_log_seq: int

    @property
    def state(self) -> State | None:
        return self.status.state if self.status is not None else None

    @property
    def faults(self) -> Fault:
        return self.status.faults if self.status is not None else Fault(0)

    def banners(self) -> list[tuple[Level, str]]:
        """What the banner says, most serious first (empty when all is well)."""
        out: list[tuple[Level, str]] = []
        if self.link_lost:
            out.append(("error", f"LINK LOST: {self.link_lost} The pen stops by itself."))
        if self.rebooted:
            out.append(("error", f"PEN REBOOTED: {self.rebooted}"))
        if self.session_ended and not self.rebooted:
            out.append(("error", f"SESSION ENDED: {self.session_ended}"))
        if self.estop_pending:
            out.append(
                (
                    "error",
                    "E-STOP NOT CONFIRMED by the pen: the e-stop is being resent. Check the "
                    "pen; its watchdog stops the needle if the link is gone.",
                )
            )
        elif self.state is State.ESTOP or self.estop_note:
            out.append(
                (
                    "error",
                    "E-STOP: the needle is stopped and the e-stop is latched. "
                    "Press U to release it when it is safe.",
                )
            )
        faults = self.faults
        latched = faults & ~FLAG_FAULTS
        if latched or self.state is State.FAULT:
            names = fault_words(latched) or "latched"
            out.append(
                (
                    "error" if self.state is State.FAULT else "warn",
                    f"FAULT: {names}. The needle is stopped; remove the cause, then press F "
                    "to reset the fault.",
                )
            )
        if faults & Fault.BATTERY_LOW:
            out.append(
                ("warn", "BATTERY LOW: charge the pen; it will not start until it is charged.")
            )
        if faults & Fault.WATCHDOG and not self.session_ended:
            out.append(
                ("warn", "WATCHDOG: the pen stopped because it heard nothing from this computer.")
            )
        return out


@dataclass
class _Zone:
    run_ms: dict[str, float] = field(default_factory=dict)
    stamps: dict[str, int] = field(default_factory=dict)
    deepest_um: dict[str, int] = field(default_factory=dict)


class PenModel:
    """The latest pen state, the event log and the plots' history. Thread-safe."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._zone_of: Callable[[], str | None] = lambda: None
        self._estop_pending: Callable[[], bool] = lambda: False
        self.reset()

    def reset(self) -> None:
        """Forget everything (a new pen or a new session)."""
        with self._lock:
            self._status: protocol.Status | None = None
            self._status_count = 0
            self._link_lost: str | None = None
            self._rebooted: str | None = None
            self._session_ended: str | None = None
            self._estop_note: str | None = None
            self._zones = _Zone()
            self._faults_seen = Fault(0)
            self._depth: deque[float] = deque(maxlen=HISTORY_LIMIT)
            self._rate: deque[float] = deque(maxlen=HISTORY_LIMIT)
            self._log: deque[LogEntry] = deque(maxlen=LOG_LIMIT)
            self._log_seq = getattr(self, "_log_seq", 0)
            self._frozen: Snapshot | None = None

    def attach(
        self,
        zone_of: Callable[[], str | None],
        estop_pending: Callable[[], bool] = lambda: False,
    ) -> None:
        """Tell the model how to learn the current treatment zone (stamps and time per zone)
        and whether an e-stop awaits the pen's confirmation."""
        self._zone_of = zone_of
        self._estop_pending = estop_pending

    # --- writers (any thread) --------------------------------------------------------------

    def log(self, level: Level, text: str) -> None:
        with self._lock:
            self._log_locked(level, text)

    def _log_locked(self, level: Level, text: str) -> None:
        self._log_seq += 1
        self._log.append(LogEntry(self._log_seq, self._clock(), level, text))

    def clear_estop_note(self) -> None:
        with self._lock:
            self._estop_note = None

    def on_update(self, update: PenUpdate) -> None:
        """The Pen's subscriber: store, never block, never raise."""
        try:
            with self._lock:
                self._on_update_locked(update)
        except Exception as exc:  # a display bug must not touch the driver's thread
            with self._lock:
                self._log_locked("error", f"Display error: {exc}")

    def _on_update_locked(self, u: PenUpdate) -> None:
        if u.kind == "status" and u.status is not None:
            self._on_status(u.status)
        elif u.kind == "event" and u.event is not None:
            self._on_event(u.event)
        elif u.kind == "decision" and u.decision is not None:
            self._on_decision(u.decision)
        elif u.kind == "estop":
            self._estop_note = u.message or "E-stop sent."
            self._log_locked("error", f"E-STOP: {u.message or 'sent'}")
        elif u.kind == "link_lost":
            self._link_lost = u.message
            self._log_locked("error", f"Link lost: {u.message}")
        elif u.kind == "rebooted":
            self._rebooted = u.message
            self._log_locked("error", u.message)
        elif u.kind == "session_ended":
            self._session_ended = u.message
            self._log_locked("error", u.message)
        elif u.kind == "closed":
            self._log_locked("info", u.message or "The session is closed.")

    def _on_status(self, st: protocol.Status) -> None:
        prev = self._status
        self._status = st
        self._status_count += 1
        # Faults are named from STATUS.faults, which every pen reports the same way (an
        # EVENT's detail was read as a bit number by one end and as a mask by the other).
        before = prev.faults if prev is not None else Fault(0)
        self._faults_seen |= st.faults
        if raised := st.faults & ~before:
            self._log_locked("error", f"Fault raised by the pen: {fault_words(raised)}.")
        if cleared := before & ~st.faults:
            self._log_locked("info", f"Fault cleared: {fault_words(cleared)}.")
        if prev is None or st.uptime_ms < prev.uptime_ms:
            return  # first frame, or the pen rebooted: nothing to attribute
        zone = self._zone_of()
        if zone is None:
            return
        stamps = st.stamps - prev.stamps
        if stamps > 0:
            self._zones.stamps[zone] = self._zones.stamps.get(zone, 0) + stamps
            deepest = max(prev.depth_actual_um, st.depth_actual_um)
            if deepest > self._zones.deepest_um.get(zone, 0):
                self._zones.deepest_um[zone] = deepest
        if prev.state is State.RUNNING:
            spent = float(st.uptime_ms - prev.uptime_ms)
            self._zones.run_ms[zone] = self._zones.run_ms.get(zone, 0.0) + spent

    def _on_event(self, ev: protocol.Event) -> None:
        code = ev.code
        if code in (EventCode.FAULT_RAISED, EventCode.FAULT_CLEARED):
            return  # named from STATUS.faults when it shows the change (see _on_status)
        if code is EventCode.WATCHDOG_TRIPPED:
            self._log_locked("error", "The pen's watchdog tripped and stopped the needle.")
        elif code is EventCode.ESTOP:
            self._log_locked("error", "The pen confirms the e-stop: needle stopped.")
        elif code is EventCode.CARTRIDGE_INSERTED:
            self._log_locked("info", f"Cartridge inserted (id ...{ev.detail:04x}).")
        elif code is EventCode.CARTRIDGE_REMOVED:
            self._log_locked("warn", "Cartridge removed.")
        elif code is EventCode.STARTED:
            self._log_locked("info", "Needle started.")
        elif code is EventCode.STOPPED:
            self._log_locked("info", "Needle stopped.")
        elif code is EventCode.BOOT:
            self._log_locked("warn", "The pen booted.")
        else:  # pragma: no cover - every ICD v1 code is handled above
            self._log_locked("info", f"Pen event {code.name} ({ev.detail}).")

    def _on_decision(self, d: Decision) -> None:
        why = " ".join(d.reasons)
        if d.outcome is Outcome.CLAMPED:
            self._log_locked("warn", f"Clamped: {why}")
        elif d.outcome is Outcome.NEEDS_OVERRIDE:
            self._log_locked("warn", f"Needs a recorded reason: {why}")
        elif d.outcome is Outcome.REJECTED:
            self._log_locked("error", f"Refused: {why}")
        elif d.override_reason:
            self._log_locked("warn", f"Override ({d.override_reason}): {why}")
        else:
            depth = fmt.mm(d.depth_mm or 0.0)
            self._log_locked("info", f"Allowed: {depth} at {d.rate_hz} Hz.")

    # --- readers (the UI thread) -----------------------------------------------------------

    def sample(self) -> None:
        """Add the latest actual depth (mm) and rate (Hz) to the plots' history."""
        with self._lock:
            st = self._status
            if st is None or self._frozen is not None or self._link_lost or self._rebooted:
                return  # no reading, or only the last one before the link was lost
            self._depth.append(st.depth_actual_um / 1000)
            self._rate.append(float(st.rate_actual_hz))

    def snapshot(self) -> Snapshot:
        with self._lock:
            if self._frozen is not None:
                return self._frozen
            return Snapshot(
                status=self._status,
                status_count=self._status_count,
                link_lost=self._link_lost,
                rebooted=self._rebooted,
                session_ended=self._session_ended,
                estop_note=self._estop_note,
                estop_pending=self._pending(),
                run_ms_by_zone=dict(self._zones.run_ms),
                stamps_by_zone=dict(self._zones.stamps),
                deepest_um_by_zone=dict(self._zones.deepest_um),
                faults_seen=self._faults_seen,
                depth_history=tuple(self._depth),
                rate_history=tuple(self._rate),
                last_log_seq=self._log_seq,
            )

    def _pending(self) -> bool:
        try:
            return bool(self._estop_pending())
        except Exception:  # a display read must never fail the frame
            return False

    def log_since(self, seq: int) -> list[LogEntry]:
        """Log entries newer than `seq` (those still kept)."""
        with self._lock:
            return [e for e in self._log if e.seq > seq]

    def freeze(self, snapshot: Snapshot | None) -> None:
        """Show this snapshot from now on, whatever arrives (None: live again). For
        deterministic screenshots and demos."""
        with self._lock:
            self._frozen = snapshot

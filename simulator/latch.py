"""Faults: the latch (FAULT until the cause is gone and RESET 1 clears it), the conditions
that raise them, the BATTERY_LOW flag, and the injections that cause them on purpose."""

from __future__ import annotations

from protocol import (
    CartridgeState,
    EventCode,
    Fault,
    fault_bit,
)

from .config import is_finite
from .errors import InjectError
from .motion import Motion
from .records import StopCause


class Latch(Motion):
    """Latched faults, the conditions behind them and their injection."""

    def _raise_fault(self, fault: Fault) -> None:
        if self._latched & fault:
            return
        self._latched |= fault
        self._event(EventCode.FAULT_RAISED, self._fault_detail(fault), fault=fault.name)
        self._stop_needle(StopCause.FAULT)

    def _fault_detail(self, fault: Fault) -> int:
        """EVENT FAULT_RAISED / FAULT_CLEARED detail of one fault: its bit number (the ICD)."""
        return int(fault) if self.config.fault_detail == "mask" else fault_bit(fault)

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

    def _inject(self, what: str, **fields: object) -> None:
        self._record("INJECT", what=what, **fields)
        self._check_conditions()
        self._flush()

    def inject_overheat(self, temp_dc: int | None = None) -> None:
        """Heat the pen up to `temp_dc` (default: above the OVERTEMP threshold) at once."""
        target = self._p.overheat_inject_dc if temp_dc is None else temp_dc
        if not is_finite(target):
            raise InjectError("The temperature must be a finite number of tenths of °C.")
        self._temp = max(self._temp, float(target))
        self._inject("overheat", temp_dc=self.temperature_dc)

    def set_temperature(self, temp_dc: float) -> None:
        """Set the pen's temperature (tenths of °C), e.g. to cool it down at once."""
        if not is_finite(temp_dc) or not -400 <= temp_dc <= 1500:
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

    def set_battery(self, pct: float) -> None:
        """Set the battery's charge in percent (0 to 100)."""
        if isinstance(pct, bool) or not is_finite(pct) or not 0 <= pct <= 100:
            raise InjectError("The battery level must be a number from 0 to 100 percent.")
        self._battery = float(pct)
        self._inject("battery", battery_pct=self.battery_pct)

    def note(self, event: str, **fields: object) -> None:
        """Put a record in the log without changing anything (e.g. a link cut)."""
        self._record(event, **fields)
        self._flush()

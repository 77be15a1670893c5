"""The depth actuator and the motor over time: set-points, slewing, ramping and stopping."""

from __future__ import annotations

from protocol import (
    EventCode,
)

from . import physics
from .core import FirmwareCore
from .records import StopCause


class Motion(FirmwareCore):
    """Depth and rate: what the actuator and the motor do between deadlines."""

    def _stop_needle(self, cause: StopCause) -> None:
        if not self._running:
            return
        self._running = False
        self._rate_actual = 0.0
        self._stall_since = None
        self._event(EventCode.STOPPED, cause, cause=cause.name)

    def _reset_setpoints(self) -> None:
        self.depth_set_um = self.config.depth_min_um
        self.rate_set_hz = self.config.rate_min_hz
        self._schedule_depth_check()

    def _schedule_depth_check(self) -> None:
        distance = self.depth_set_um - self._depth_actual
        self._depth_due = (
            self._now + physics.travel_ms(distance, self._p) + self._p.depth_settle_margin_ms
        )

    def _depth_off(self) -> bool:
        """depth_actual is beyond the tolerance of depth_set, as STATUS reports them (so a
        host that sees them within it in STATUS has START accepted)."""
        return abs(self.depth_set_um - self.depth_actual_um) > self._p.depth_tolerance_um

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

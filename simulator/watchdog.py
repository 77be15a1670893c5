"""Pen time: `tick` steps the physics from deadline to deadline (watchdog, STATUS, stall and
depth checks), and the watchdog ends a session whose host fell silent."""

from __future__ import annotations

import math

from protocol import (
    EventCode,
    Fault,
)

from .cartridge import Cartridge
from .config import is_finite
from .records import StopCause


class Watchdog(Cartridge):
    """Time, deadlines and the watchdog."""

    def tick(self, now_ms: float) -> None:
        """Advance pen time to `now_ms` (a time in the past is ignored)."""
        if not is_finite(now_ms):
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

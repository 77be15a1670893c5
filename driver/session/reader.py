"""What the reader thread does with the pen's telemetry and events: track its state,
distrust a STATUS that contradicts this host, and notice reboots, watchdog ends and link loss."""

from __future__ import annotations

import protocol
from protocol import EventCode, Message, State

from ..errors import DriverError, LinkLost, PenRebooted, SessionClosed
from .core import LATCHING_FAULTS, PROGRESS_EVERY_S
from .records import status_fields
from .run import RunControl
from .updates import PenUpdate


class ReaderCallbacks(RunControl):
    """What the reader thread does with the pen's telemetry and events: track its state,"""

    def _contradiction(self, msg: protocol.Status) -> str | None:
        """Why this STATUS contradicts what the host did, or None (slewing is no
        contradiction: depth_actual may lag the set-point)."""
        if msg.state == State.RUNNING and not self._may_run:
            return "the pen reports RUNNING although this host did not start it"
        if msg.state == State.RUNNING and int(msg.faults) & LATCHING_FAULTS:
            return f"the pen reports RUNNING with a latched fault ({int(msg.faults):#06x})"
        sent = self._acked_um is not None or self._unconfirmed_um is not None
        if sent and msg.depth_set_um not in self._known_setpoints:
            return (
                f"the pen holds a depth set-point of {msg.depth_set_um} µm that this host "
                "did not approve"
            )
        return None

    def _on_message(self, msg: Message, seq: int) -> None:
        """Reader thread: STATUS and EVENT from the pen."""
        if isinstance(msg, protocol.Status):
            previous = self.last_status
            self.last_status = msg
            if self.dead is None or not isinstance(self.dead, LinkLost | PenRebooted):
                self.status = msg
            self._status_count += 1
            if msg.state != State.RUNNING and self._start_acked:
                self._may_run = False
            if (
                self._last_uptime is not None
                and msg.uptime_ms < self._last_uptime
                and self._last_uptime - msg.uptime_ms < 1 << 31  # not the u32 wrap at 49.7 d
            ):
                self._rebooted("The pen rebooted (its uptime went back); start again.")
            self._last_uptime = msg.uptime_ms
            why = self._contradiction(msg) if self.dead is None else None
            if why is not None and not self._link.estop_pending:
                self._send_estop(why)
                self._log_soon("pen_contradiction", {"why": why, **status_fields(msg)})
                self._publish(PenUpdate("contradiction", f"E-stop: {why}.", status=msg))
            if msg.state == State.RUNNING and self.dead is None:
                now = self._clock()
                if self._last_progress is None or now - self._last_progress >= PROGRESS_EVERY_S:
                    self._last_progress = now
                    self._log_soon(
                        "progress",
                        {
                            "zone": self.zone,
                            "stamps": msg.stamps,
                            "depth_actual_um": msg.depth_actual_um,
                            "depth_set_um": msg.depth_set_um,
                            "rate_actual_hz": msg.rate_actual_hz,
                        },
                    )
            if previous is not None and (
                previous.state != msg.state or previous.faults != msg.faults
            ):
                self._log_soon(
                    "pen_state",
                    {
                        "state": msg.state.name,
                        "from": previous.state.name,
                        "faults": int(msg.faults),
                        "depth_set_um": msg.depth_set_um,
                        # the pen's stamp counter: a run's stamps are counted to its end
                        "stamps": msg.stamps,
                    },
                )
                if msg.state != State.RUNNING:
                    self._end_zone_timer()
            self._publish(PenUpdate("status", status=msg))
            return
        if isinstance(msg, protocol.Event):
            self._log_soon("pen_event", {"code": msg.code.name, "detail": msg.detail, "seq": seq})
            self._publish(PenUpdate("event", msg.code.name, event=msg))
            if msg.code == EventCode.BOOT:
                self._rebooted("The pen rebooted; the session is over, start again.")
            elif msg.code == EventCode.WATCHDOG_TRIPPED:
                self._known_setpoints.add(self.info.depth_min_um)
                exc = SessionClosed(
                    "The pen's watchdog stopped the needle and ended the session; start again."
                )
                self._die(exc)
                self._publish(PenUpdate("session_ended", str(exc)))

    def _rebooted(self, sentence: str) -> None:
        if isinstance(self.dead, PenRebooted):
            return
        exc = PenRebooted(sentence)
        self._die(exc)
        self._log_soon("reboot", {"message": sentence})
        self._publish(PenUpdate("rebooted", sentence))

    def _on_lost(self, exc: BaseException) -> None:
        err = exc if isinstance(exc, DriverError) else LinkLost(str(exc))
        if self.closed:
            return
        self._die(err)
        self._log_soon("link_lost", {"message": str(err)})
        self._publish(PenUpdate("link_lost", str(err)))

"""The state every part of a Pen session shares, and the plumbing they all use: sending a
command with its record (risk-raising recorded first, risk-lowering sent first), the
subscriptions, and waiting on the pen."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from typing import Any

import protocol
from protocol import Message, NackError, State

from ..audit import AuditStore, Interruption
from ..errors import (
    Cancelled,
    DriverError,
    LinkLost,
    NoAnswer,
    NotAllowed,
    PenRebooted,
    SessionClosed,
    StoreError,
)
from ..link import UI_LEASE_S, BaseLink
from ..safety import Decision, Governor
from .audit_queue import AuditQueue
from .checks import nack_error, usable_limits
from .records import command_fields
from .updates import PenUpdate, Subscriber, UpdateStream

__all__ = [
    "DEFAULT_TELEMETRY_HZ",
    "DEPTH_TOLERANCE_UM",
    "LATCHING_FAULTS",
    "LOWERING_RECORD_WAIT_S",
    "PROGRESS_EVERY_S",
    "RAISING_FLUSH_S",
    "START_SETTLE_S",
    "PenCore",
]

DEFAULT_TELEMETRY_HZ = 20
#: How far depth_actual may be from the set-point for START (the pen's DEPTH_ERROR tolerance,
#: docs/PROTOCOL.md); a lowering of more than this while RUNNING stops the needle first.
DEPTH_TOLERANCE_UM = protocol.DEPTH_TOLERANCE_UM
#: How long START holds for the needle to reach a shallower set-point before it is refused.
START_SETTLE_S = 1.0
#: How long a risk-lowering command waits for its record before it is sent regardless.
LOWERING_RECORD_WAIT_S = 0.005
#: How long a risk-raising command waits for earlier records before it is refused.
RAISING_FLUSH_S = 1.0
#: Fault bits that latch the FAULT state (the others, BATTERY_LOW and WATCHDOG, are flags):
#: a pen reporting RUNNING with one of these set contradicts itself.
LATCHING_FAULTS = int(protocol.LATCHING_FAULTS)
#: While the needle runs, a `progress` record (stamps, actual depth) this often: the delivered
#: treatment over time, and a regular write that finds out at once when the store fails.
PROGRESS_EVERY_S = 5.0


class PenCore:
    """The shared state of one session with one pen (the facade is `Pen`)."""

    def __init__(
        self,
        link: BaseLink,
        store: AuditStore,
        governor: Governor,
        info: protocol.Info,
        *,
        owns_store: bool,
        url: str,
    ) -> None:
        self._link = link
        self.store = store
        self.governor = governor
        self.info = info
        self.url = url
        self.device = usable_limits(info)
        self.requested_role = "home"
        #: the effective role (a home-class pen forces "home"); set by begin()
        self.role = "home"
        self.operator_id: str | None = None
        self.client_ref: str | None = None
        self._owns_store = owns_store
        self.zone: str | None = None
        self.status: protocol.Status | None = None
        self.depth_decision: Decision | None = None
        self.rate_decision: Decision | None = None
        self.session_id = -1
        #: the interrupted session this one continues (begin(continues=...)), or None
        self.continues: int | None = None
        #: the PIN check `login()` made and `begin()` has not used yet (see session.pen.Login)
        self._login: Any = None
        self.dead: DriverError | None = None
        #: what ended the session without the operator (set with `dead`), or None
        self.interruption: Interruption | None = None
        self.closed = False
        self._cmd_lock = threading.RLock()
        #: guards `closed` and the run epoch only (never held while waiting for anything)
        self._state_lock = threading.Lock()
        #: records a risk-lowering path could not write yet (virtual-clock mode, or at close)
        self._unwritten: list[tuple[str, dict[str, Any], int | None]] = []
        self._subs: list[Subscriber] = []
        self._subs_lock = threading.Lock()
        self._last_uptime: int | None = None
        #: the deepest SET_DEPTH sent whose answer never came (the pen may hold it)
        self._unconfirmed_um: int | None = None
        #: the last set-point the pen acknowledged in this session (None: not set yet)
        self._acked_um: int | None = None
        #: per zone, the days since the client's last session there as read for this session's
        #: depth and rate decisions (one read of the store per zone, not one per command: the
        #: fact changes only by another workstation's START there, which START's own re-check
        #: in its write transaction catches; every START attempt forgets it)
        self._interval_read: dict[tuple[str | None, int, str], float | None] = {}
        #: STATUS frames seen, and how many had been seen when the last depth was ACKed: a
        #: STATUS counted after that reflects the new set-point (the pen answers in order)
        self._status_count = 0
        self._status_count_at_ack = 0
        #: every set-point this session may legitimately see the pen hold
        self._known_setpoints: set[int] = {info.depth_min_um}
        #: the needle may be running because this host sent START (cleared by STOP, ESTOP)
        self._may_run = False
        self._start_acked = False
        #: bumped by every stop and e-stop: a START that was overtaken is not sent
        self._run_epoch = 0
        self.last_status: protocol.Status | None = None
        #: the STATUS rate asked of the pen (lowered on a serial line too slow for the request)
        self.telemetry_hz = DEFAULT_TELEMETRY_HZ
        self._last_progress: float | None = None
        #: the sentence of the audit store's present trouble (None while it writes)
        self.store_trouble: str | None = None
        self._audit: AuditQueue | None = None  # the facade starts it (see Pen.__init__)
        self._zone_started: float | None = None
        self._clock: Callable[[], float] = time.monotonic
        self.zone_seconds: dict[str, float] = {}

    def _needle_may_run(self) -> bool:
        st = self.status
        return self._may_run or (st is not None and st.state == State.RUNNING)

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call `callback(update)` for every update (from the reader thread; keep it quick).
        Returns a function that unsubscribes."""
        with self._subs_lock:
            self._subs.append(callback)

        def unsubscribe() -> None:
            with self._subs_lock, contextlib.suppress(ValueError):
                self._subs.remove(callback)

        return unsubscribe

    def updates(self, maxsize: int = 256) -> UpdateStream:
        """An iterator of updates, bounded: the oldest are dropped if the consumer lags."""
        return UpdateStream(self, maxsize)

    def _publish(self, update: PenUpdate) -> None:
        with self._subs_lock:
            subs = list(self._subs)
        for cb in subs:
            with contextlib.suppress(Exception):  # a subscriber's bug must not kill the link
                cb(update)

    @property
    def alive(self) -> bool:
        return self.dead is None and not self.closed and self._link.alive

    def wait_for_state(self, *states: State | str, timeout: float = 1.0) -> protocol.Status:
        """Wait until the pen reports one of `states` in its telemetry; return that STATUS.

        Raises NoAnswer-like `DriverError` after `timeout` seconds, or the session's own error
        if it ends first."""
        wanted = {s if isinstance(s, State) else State[str(s).upper()] for s in states}
        deadline = self._clock() + timeout
        while True:
            status = self.status
            if status is not None and status.state in wanted:
                return status
            self._require_connected()
            if self._clock() >= deadline:
                now = status.state.name if status is not None else "unknown"
                names = " or ".join(sorted(s.name for s in wanted))
                raise NoAnswer(f"The pen did not reach {names} within {timeout:g} s (it is {now}).")
            self._pause()

    def _pause(self) -> None:
        """Let 2 ms pass while waiting for the pen (the reader turns meanwhile; on a virtual
        clock this advances it)."""
        self._link.pause(0.002)

    def poll(self) -> None:
        """Drive a link that runs without a thread (virtual clock): one reader turn."""
        self._link.poll()

    def keepalive(self, timeout: float = UI_LEASE_S) -> None:
        """The UI is alive; call it from the UI's own thread (its redraw timer). From the first
        call on, the heartbeat goes on only while calls come at most `timeout` seconds apart:
        a hung UI lets the pen's watchdog stop the needle (see Link.keepalive)."""
        self._link.keepalive(timeout)

    @property
    def port(self) -> Any:
        """The open pyserial port (for `sim://`, `port.pen` is the live simulated pen)."""
        return self._link.port

    @property
    def link_stats(self) -> Any:
        return self._link.stats

    @property
    def depth_mm(self) -> float | None:
        d = self.depth_decision
        return d.depth_mm if d is not None else None

    @property
    def rate_hz(self) -> int | None:
        d = self.rate_decision
        return d.rate_hz if d is not None else None

    def cap_mm(self, zone: str | None = None) -> float | None:
        """The deepest depth the governor allows here without an override, for display."""
        z = zone or self.zone
        if z is None:
            return None
        return self.governor.cap_for(self.role, z, self.device)

    def _require_connected(self) -> None:
        if self.closed:
            raise SessionClosed("The session is closed; open a new one.")
        if self.dead is not None:
            raise self.dead

    def _require_usable(self) -> None:
        self._require_connected()
        if self.session_id < 0:
            raise NotAllowed("Log in first: the treatment session has not begun.")

    def _command(
        self,
        msg: Message,
        *,
        seq: int | None = None,
        logged: bool = False,
        lowers_risk: bool = False,
        gate: Callable[[], bool] | None = None,
    ) -> None:
        """Send one command and check its answer.

        A command that raises risk is recorded (committed) before it is written and not
        written when that fails; one that lowers risk (`lowers_risk`) is written first and
        recorded after, best effort, so nothing can hold it up."""
        name = msg.TYPE.name
        if seq is None:
            seq = self._link.next_seq()
        fields = {"type": name, "seq": seq, **command_fields(msg)}
        if not logged and not lowers_risk:
            self._log_first("command", fields)
        try:
            answer = self._link.request(msg, seq, gate=gate)
        except Cancelled:
            raise
        except DriverError as exc:
            if lowers_risk and not logged:
                self._log_soon("command", {**fields, "error": str(exc)})
            if isinstance(exc, LinkLost):
                self._die(exc)
            raise
        if lowers_risk and not logged:
            self._log_soon("command", fields)
        if isinstance(answer, protocol.Nack):
            self._log_soon(
                "nack",
                {"type": name, "seq": seq, "error": answer.error.name, "detail": answer.detail},
            )
            error = nack_error(name, answer)
            if answer.error == NackError.NO_SESSION:
                self._die(SessionClosed(str(error) + " Start a new session."))
            raise error
        if msg.TYPE is protocol.MsgType.STOP:
            self._may_run = False
        self._log_soon("ack", {"type": name, "seq": seq})

    def _log(self, kind: str, data: dict[str, Any]) -> None:
        sid = self.session_id if self.session_id >= 0 else None
        self.store.append(kind, data, session_id=sid)

    def _flush_first(self) -> None:
        """Before a risk-raising record: every record handed over earlier is written first
        (the chain keeps the order of events); StoreError (nothing is sent) if it cannot be."""
        if self._audit is not None and not self._audit.flush(RAISING_FLUSH_S):
            trouble = self._audit.trouble or "it is still writing earlier records"
            raise StoreError(f"Nothing was sent: {trouble.rstrip('.')}.")

    def _log_first(self, kind: str, data: dict[str, Any]) -> None:
        """Commit a record before a risk-raising command: after every record handed over
        earlier, and raising StoreError (nothing is then sent) when it cannot be written.

        A group commit: the records still waiting to be written (the audit writer's, or
        those kept in virtual-clock mode) go in the same transaction, before this one, so
        the command waits for one commit however many records were waiting."""
        sid = self.session_id if self.session_id >= 0 else None
        try:
            if self._audit is not None:
                self._audit.write_after(kind, data, sid, RAISING_FLUSH_S)
            else:
                self.store.append(kind, data, session_id=sid, before=self._unwritten)
                self._unwritten.clear()
        except StoreError as exc:
            raise StoreError(f"Nothing was sent: {str(exc).rstrip('.')}.") from exc

    def _log_soon(self, kind: str, data: dict[str, Any]) -> None:
        """A record that must not hold anything up (reader-side, risk-lowering): handed to
        the audit writer, given a few milliseconds, then left to it. Never raises."""
        sid = self.session_id if self.session_id >= 0 else None
        if self._audit is not None:
            self._audit.put(kind, data, sid)
            if threading.current_thread() is not self._link_thread():
                self._audit.flush(LOWERING_RECORD_WAIT_S)
            return
        try:  # virtual clock, no writer thread: in line, kept when it fails
            if self._unwritten:
                while self._unwritten:
                    k, d, rs = self._unwritten[0]
                    self.store.append(k, d, session_id=rs)
                    self._unwritten.pop(0)
            self.store.append(kind, data, session_id=sid)
        except Exception as exc:
            self._unwritten.append((kind, data, sid))
            self._store_in_trouble(f"The audit store cannot be written: {exc}")

    def _log_from_reader(self, kind: str, data: dict[str, Any]) -> None:
        self._log_soon(kind, data)

    def _link_thread(self) -> threading.Thread | None:
        return getattr(self._link, "_thread", None)

    def flush_log(self, timeout: float | None = None) -> bool:
        """Wait until the records handed to the audit writer so far are stored."""
        if self._audit is not None:
            return self._audit.flush(timeout)
        return not self._unwritten

    def _die(self, exc: DriverError) -> None:
        if self.dead is None:
            self.dead = exc
            self.interruption = (
                Interruption.LINK_LOST
                if isinstance(exc, LinkLost)
                else Interruption.PEN_REBOOTED
                if isinstance(exc, PenRebooted)
                else Interruption.PEN_ENDED
            )
            self._end_zone_timer()
            self._may_run = False
            # what the pen said last is history now, not its present state
            self.status = None

    def _end_zone_timer(self) -> None:
        if self._zone_started is not None and self.zone is not None:
            spent = self._clock() - self._zone_started
            self.zone_seconds[self.zone] = self.zone_seconds.get(self.zone, 0.0) + spent
        self._zone_started = None

    def _bump_epoch(self) -> None:
        with self._state_lock:
            self._run_epoch += 1

    def stop(self) -> None:
        """Stop the needle (RUNNING to IDLE).

        Lowers risk, so it never waits: not behind another command in progress (a START
        waiting for the store is cancelled by it), not for the audit store (the record is
        written after, best effort)."""
        self._bump_epoch()
        if self.closed:
            raise SessionClosed("The session is closed; open a new one.")
        if self.dead is not None:
            with contextlib.suppress(Exception):
                self._link.send(protocol.Stop())
            raise self.dead
        self._command(protocol.Stop(), lowers_risk=True)
        self._end_zone_timer()

    def _store_in_trouble(self, sentence: str) -> None:
        """The audit store stopped taking records: tell the operator, stop the needle."""
        first = self.store_trouble is None
        self.store_trouble = sentence
        if not first:
            return
        self._publish(PenUpdate("store_trouble", sentence))
        if self._needle_may_run() and self.dead is None and not self.closed:
            threading.Thread(target=self._stop_for_store, daemon=True).start()

    def _stop_for_store(self) -> None:
        with contextlib.suppress(DriverError):
            self.stop()
            self._publish(
                PenUpdate(
                    "store_trouble",
                    "The needle was stopped: treatment cannot go on without its record.",
                )
            )

    def _store_recovered(self) -> None:
        self.store_trouble = None
        self._publish(PenUpdate("store_ok", "The audit store is written again."))

    def _status_is_fresh(self) -> bool:
        return self._status_count > self._status_count_at_ack

    def _current_rate(self) -> float:
        """The rate a depth or zone change is judged with: the approved one; before any was
        approved, the lowest the role may get on this pen (never the pen's idle set-point)."""
        if self.rate_decision is not None and self.rate_decision.rate_hz is not None:
            return self.rate_decision.rate_hz
        bounds = self.governor.rate_range_for(self.role, self.device)
        return bounds[0] if bounds is not None else self.device.rate_min_hz

"""The Pen session: a governed, audited treatment session with one pen over any pyserial URL.

    from driver import Pen
    with Pen.open("sim://", role="home", zone="forehead", db="treat.db") as pen:
        decision = pen.set_depth(0.5)   # governed; returns the governor's decision
        pen.set_rate(100)
        pen.start(); pen.stop()
        pen.estop()                     # the fastest path; nothing can block it

Every depth and rate goes through the governor; its decision is committed to the audit store
before the command is written to the port, and nothing the governor did not approve is sent.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import math
import os
import queue
import re
import signal
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import FrameType, TracebackType
from typing import Any, Literal

import protocol
from protocol import (
    DeviceClass,
    EventCode,
    Message,
    NackError,
    State,
)

from .errors import (
    CommandRefused,
    DriverError,
    HandshakeError,
    LinkLost,
    NoAnswer,
    NotAllowed,
    PenRebooted,
    SessionClosed,
    StoreError,
)
from .governor import Decision, DeviceLimits, Governor, Outcome, Request
from .link import Link
from .policy import Policy, load_policy
from .screening import Verdict, session_verdict
from .store import TREATING_ROLES, AuditStore, StartFacts, check_client, home_client
from .transport import Port, open_port

PROFESSIONAL_ROLES = ("aesthetician", "clinician", "engineer")
DEFAULT_TELEMETRY_HZ = 20
#: The client reference of a home session that names none: the user treating themself.
HOME_CLIENT = "self"

UpdateKind = Literal[
    "status", "event", "decision", "estop", "link_lost", "rebooted", "session_ended", "closed"
]


@dataclass(frozen=True, slots=True)
class PenUpdate:
    """One thing that happened, as told to subscribers (called from the reader thread)."""

    kind: UpdateKind
    message: str = ""
    status: protocol.Status | None = None
    event: protocol.Event | None = None
    decision: Decision | None = None


Subscriber = Callable[[PenUpdate], None]


class UpdateStream:
    """An iterator over updates with bounded memory: when full, the oldest update is dropped
    (telemetry is a stream of absolute values, so only the newest matters)."""

    def __init__(self, pen: Pen, maxsize: int = 256) -> None:
        self._queue: queue.Queue[PenUpdate] = queue.Queue(maxsize)
        self.dropped = 0
        self._unsubscribe = pen.subscribe(self._put)

    def _put(self, update: PenUpdate) -> None:
        while True:
            try:
                self._queue.put_nowait(update)
                return
            except queue.Full:
                with contextlib.suppress(queue.Empty):
                    self._queue.get_nowait()
                    self.dropped += 1

    def get(self, timeout: float | None = None) -> PenUpdate | None:
        try:
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            return None

    def __iter__(self) -> Iterator[PenUpdate]:
        while True:
            update = self._queue.get()
            yield update
            if update.kind == "closed":
                return

    def close(self) -> None:
        self._unsubscribe()


class _BackgroundLog:
    """Audit records from the reader thread (pen events, state changes, link loss) are written
    by this thread instead, so a slow disk never delays the heartbeat or the telemetry."""

    def __init__(self, store: AuditStore) -> None:
        self._store = store
        self._queue: queue.Queue[tuple[str, dict[str, Any], int | None] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="needlepen-audit", daemon=True)
        self._thread.start()

    def put(self, kind: str, data: dict[str, Any], session_id: int | None) -> None:
        self._queue.put((kind, data, session_id))

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                with contextlib.suppress(Exception):  # never kill the writer over one record
                    self._store.append(item[0], item[1], session_id=item[2])
            finally:
                self._queue.task_done()

    def flush(self) -> None:
        """Wait until every record handed over so far is in the store."""
        if self._thread.is_alive():
            self._queue.join()

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=5.0)


_NACK_SENTENCES: dict[NackError, str] = {
    NackError.UNKNOWN_TYPE: "the pen does not know this command (firmware mismatch?)",
    NackError.BAD_LENGTH: "the pen got a command of the wrong length (firmware mismatch?)",
    NackError.BAD_STATE: "the pen cannot do that in its present state",
    NackError.OUT_OF_RANGE: "the value is outside the pen's own range (its limit is {detail})",
    NackError.NO_SESSION: "the pen has no session (its watchdog tripped or it rebooted)",
    NackError.NO_CARTRIDGE: "no cartridge is fitted",
    NackError.CARTRIDGE_USED: "the cartridge was used before; fit a fresh one",
    NackError.FAULT_LATCHED: "a fault is latched; remove its cause and reset it",
    NackError.ESTOP_LATCHED: "the e-stop is latched; release it first",
    NackError.UNSUPPORTED_VERSION: "the pen speaks protocol version {detail} only",
    NackError.BATTERY_LOW: "the battery is too low",
}


def nack_error(command: str, nack: protocol.Nack) -> CommandRefused:
    """The typed exception, with one sentence, for a NACK of `command`."""
    text = _NACK_SENTENCES.get(nack.error, "error {error}").format(
        detail=nack.detail, error=int(nack.error)
    )
    return CommandRefused(command, nack.error, nack.detail, f"The pen refused {command}: {text}.")


class Pen:
    """One treatment session with one pen. Use `Pen.open(...)`; thread-safe."""

    def __init__(
        self,
        link: Link,
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
        self.device = DeviceLimits.from_info(info)
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
        self.dead: DriverError | None = None
        self.closed = False
        self._cmd_lock = threading.RLock()
        self._subs: list[Subscriber] = []
        self._subs_lock = threading.Lock()
        self._last_uptime: int | None = None
        self._unconfirmed_um: int | None = None
        self._bg_log: _BackgroundLog | None = _BackgroundLog(store) if link.threaded else None
        self._zone_started: float | None = None
        self._clock: Callable[[], float] = time.monotonic
        self.zone_seconds: dict[str, float] = {}
        #: True from `estop()` until the pen confirms the e-stop (its ACK or a STATUS in ESTOP)
        self.estop_pending = False

    # --- opening -----------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        url: str = "sim://",
        *,
        role: str = "home",
        zone: str | None = None,
        operator: str | None = None,
        pin: str | None = None,
        client: str | None = None,
        db: str | os.PathLike[str] | AuditStore | None = None,
        policy: str | os.PathLike[str] | Policy | None = None,
        telemetry_hz: int = DEFAULT_TELEMETRY_HZ,
        override_reason: str | None = None,
    ) -> Pen:
        """Connect, authenticate and begin a session in one call (see `connect` and `begin`
        for the same in two steps, as the TUI does)."""
        pen = cls.connect(url, db=db, policy=policy, telemetry_hz=telemetry_hz)
        try:
            pen.begin(role=role, operator=operator, pin=pin, client=client)
            if zone is not None:
                pen.select_zone(zone, override_reason=override_reason)
        except BaseException:
            pen.close("open failed")
            raise
        return pen

    @classmethod
    def connect(
        cls,
        url: str = "sim://",
        *,
        db: str | os.PathLike[str] | AuditStore | None = None,
        policy: str | os.PathLike[str] | Policy | None = None,
        telemetry_hz: int = DEFAULT_TELEMETRY_HZ,
        port: Port | None = None,
        clock: Callable[[], float] | None = None,
        idle: Callable[[float], None] | None = None,
    ) -> Pen:
        """Open the port, shake hands (HELLO, nonce check) and turn telemetry on.

        The pen is connected but no treatment session has begun: call `begin()` next. Until
        then only e-stop, stop and reset work.

        For QA harnesses: `port` is an already open port (`url` is then only a label), and
        `clock` with `idle` run the link without a thread on a virtual clock (see `Link`);
        drive it with `pen.poll()`.
        """
        if (
            isinstance(telemetry_hz, bool)
            or not isinstance(telemetry_hz, int)
            or not (5 <= telemetry_hz <= 200)
        ):
            raise NotAllowed(
                "Telemetry must run at 5 to 200 Hz: the link check needs a STATUS "
                "at least every 300 ms."
            )
        pol = policy if isinstance(policy, Policy) else load_policy(policy)
        governor = Governor(pol)
        owns_store = not isinstance(db, AuditStore)
        store = db if isinstance(db, AuditStore) else AuditStore(db)
        link: Link | None = None
        try:
            if port is None:
                port = open_port(url)
            pen_box: list[Pen] = []
            link = Link(
                port,
                on_message=lambda m, s: pen_box[0]._on_message(m, s) if pen_box else None,
                on_lost=lambda e: pen_box[0]._on_lost(e) if pen_box else None,
                clock=clock or time.monotonic,
                idle=idle,
            )
            link.start()
            info = cls._handshake(link, url)
            pen = cls(link, store, governor, info, owns_store=owns_store, url=url)
            pen._clock = clock or time.monotonic
            pen_box.append(pen)
            pen._log("connect", pen._device_record())
            link.enable_heartbeat()
            pen._command(protocol.SetTelemetry(telemetry_hz))
            link.expect_status()
        except BaseException:
            if link is not None:
                link.close()
            if owns_store:
                store.close()
            raise
        _register(pen)
        return pen

    def begin(
        self,
        *,
        role: str = "home",
        operator: str | None = None,
        pin: str | None = None,
        client: str | None = None,
    ) -> None:
        """Authenticate the operator and begin the treatment session (once per Pen).

        Professional roles need an operator and PIN; a home-class pen forces the home role.
        An aesthetician or clinician session must name its client (checked before the PIN);
        the reference is compared and stored normalised (`store.normalise_client`). A home
        session's client is always the pen's own user (`store.home_client(serial)`), whatever
        `client` says. A wrong PIN raises (WrongPin, OperatorLocked, ...) and changes nothing:
        try again. A store that fails its integrity check raises StoreUntrusted.
        """
        with self._cmd_lock:
            self._require_connected()
            if self.session_id >= 0:
                raise NotAllowed("This session has already begun; open a new one to change it.")
            if self.info.device_class == DeviceClass.HOME:
                role = "home"
            if operator is None and role in PROFESSIONAL_ROLES:
                self._authenticate(self.store, role, operator, pin)  # raises: no operator
            if role in TREATING_ROLES and (not isinstance(client, str) or not client.strip()):
                raise NotAllowed(
                    f"A {role} session must name its client (a pseudonymous reference such "
                    "as a chart number)."
                )
            try:
                client = check_client(client)  # compared and stored normalised
            except StoreError as exc:
                raise NotAllowed(str(exc)) from None
            role = self._authenticate(self.store, role, operator, pin)
            if role == "home" or self.info.device_class == DeviceClass.HOME:
                # self-treatment: the interval is the pen's own user's, whatever was typed
                client = home_client(self.info.serial)
            self.requested_role = role
            self.role = "home" if self.info.device_class == DeviceClass.HOME else role
            self.operator_id = operator
            self.client_ref = client
            info = self.info
            self.session_id = self.store.begin_session(
                role=self.role,
                operator_id=operator,
                client_ref=client,
                device_serial=info.serial,
                boot_id=info.boot_id,
                device_class=self.device.device_class,
            )
            self._log(
                "session_start",
                {
                    "role": self.role,
                    "operator": operator,
                    "client": client,
                    **self._device_record(),
                },
            )

    def _device_record(self) -> dict[str, Any]:
        info = self.info
        return {
            "url": self.url,
            "serial": info.serial,
            "boot_id": info.boot_id,
            "firmware": f"{info.fw_major}.{info.fw_minor}.{info.fw_patch}",
            "device_class": self.device.device_class,
            "depth_range_um": [info.depth_min_um, info.depth_max_um, info.depth_step_um],
            "rate_range_hz": [info.rate_min_hz, info.rate_max_hz],
            "watchdog_ms": info.watchdog_ms,
        }

    @staticmethod
    def _authenticate(store: AuditStore, role: str, operator: str | None, pin: str | None) -> str:
        if operator is None:
            if role in PROFESSIONAL_ROLES:
                raise NotAllowed(
                    f"The {role} role needs an operator ID and PIN "
                    "(add one with 'needlepen operators add')."
                )
            return role
        op = store.authenticate(operator, pin)
        if role not in ("home", op.role) and role is not None:
            raise NotAllowed(f"Operator {op.id} is registered as {op.role}, not {role}.")
        return op.role

    @staticmethod
    def _handshake(link: Link, url: str) -> protocol.Info:
        nonce = int.from_bytes(os.urandom(4), "little")
        try:
            answer = link.request(protocol.Hello(protocol.PROTOCOL_VERSION, nonce))
        except DriverError as exc:
            raise HandshakeError(
                f"No pen answered on {url}: it did not reply to HELLO (is it switched on, "
                "and is this the right port?)."
            ) from exc
        if isinstance(answer, protocol.Nack):
            if answer.error == NackError.UNSUPPORTED_VERSION:
                raise HandshakeError(
                    f"The pen on {url} speaks protocol version {answer.detail}; "
                    f"needlepen speaks version {protocol.PROTOCOL_VERSION}."
                )
            raise HandshakeError(f"The pen on {url} refused HELLO ({answer.error.name}).")
        if not isinstance(answer, protocol.Info) or answer.nonce != nonce:
            raise HandshakeError(
                f"The device on {url} gave a wrong answer to HELLO; it is not a needlepen pen "
                "or it is confused."
            )
        if answer.proto != protocol.PROTOCOL_VERSION:
            raise HandshakeError(
                f"The pen on {url} opened protocol version {answer.proto}; "
                f"needlepen speaks version {protocol.PROTOCOL_VERSION}."
            )
        return answer

    # --- context manager and closing ---------------------------------------------------------

    def __enter__(self) -> Pen:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self, reason: str = "closed") -> None:
        """Stop the needle, end the session and release the port (idempotent)."""
        with self._cmd_lock:
            if self.closed:
                return
            self.closed = True
        try:
            if self.dead is None:
                with contextlib.suppress(DriverError):
                    self._command(protocol.Stop())
            else:  # the link is gone: one best-effort STOP, the pen's watchdog does the rest
                with contextlib.suppress(Exception):
                    self._link.send(protocol.Stop())
        finally:
            self._end_zone_timer()
            self._link.close()
            if self._bg_log is not None:
                self._bg_log.close()  # everything the reader handed over is written first
            with contextlib.suppress(Exception):
                self._log("session_end", {"reason": reason})
                if self.session_id >= 0:
                    self.store.end_session(self.session_id, reason)
            if self._owns_store:
                self.store.close()
            _unregister(self)
            self._publish(PenUpdate("closed", "The session is closed."))

    # --- subscriptions -----------------------------------------------------------------------

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

    # --- state -------------------------------------------------------------------------------

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
            if self._link.threaded:
                time.sleep(0.002)
            else:
                self._link._wait(threading.Event(), 0.002)

    def poll(self) -> None:
        """Drive a link that runs without a thread (virtual clock): one reader turn."""
        self._link.poll()

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

    # --- governed commands -------------------------------------------------------------------

    def _days_since_last(self, zone: str) -> float | None:
        return self.store.last_treatment_days_ago(
            self.client_ref, zone, exclude_session=self.session_id
        )

    def _decide(
        self, zone: str, depth_mm: float, rate_hz: float, override_reason: str | None
    ) -> Decision:
        return self.governor.decide(
            Request(
                role=self.role,
                zone=zone,
                depth_mm=depth_mm,
                rate_hz=rate_hz,
                device=self.device,
                override_reason=override_reason,
                last_session_days_ago=self._days_since_last(zone),
            )
        )

    def _current_depth_um(self) -> int:
        """The deepest set-point the pen may hold now: the last approved depth, any depth
        sent without an answer, and what the pen itself last reported."""
        candidates = [round(self.device.depth_min_mm * 1000)]
        d = self.depth_decision
        if d is not None and d.depth_um is not None:
            candidates.append(d.depth_um)
        if self._unconfirmed_um is not None:
            candidates.append(self._unconfirmed_um)
        if self.status is not None:
            candidates.append(self.status.depth_set_um)
        return max(candidates)

    def _current_depth_mm(self) -> float:
        if self.depth_decision is not None and self.depth_decision.depth_mm is not None:
            return max(self.depth_decision.depth_mm, self._current_depth_um() / 1000)
        return self._current_depth_um() / 1000

    def _current_rate(self) -> float:
        if self.rate_decision is not None and self.rate_decision.rate_hz is not None:
            return self.rate_decision.rate_hz
        return self.device.rate_min_hz

    def set_depth(self, depth_mm: float, override_reason: str | None = None) -> Decision:
        """Ask the governor for `depth_mm` in the current zone; send what it approves.

        Returns the decision. `needs_override` and `rejected` send nothing. A clamped depth is
        sent clamped. The decision is committed to the audit log before the command is written.
        """
        with self._cmd_lock:
            self._require_usable()
            if self.zone is None:
                raise NotAllowed("Choose a treatment zone before setting a depth.")
            decision = self._decide(self.zone, depth_mm, self._current_rate(), override_reason)
            decision = _without(decision, _RATE_FINE)
            self._apply_depth(decision, requested=depth_mm, why="set_depth")
            return decision

    def preview_depth(self, depth_mm: float, override_reason: str | None = None) -> Decision:
        """What `set_depth(depth_mm, override_reason)` would decide now, without sending or
        recording anything: for a UI that shows "this will set X mm" before it asks."""
        with self._cmd_lock:
            self._require_usable()
            if self.zone is None:
                raise NotAllowed("Choose a treatment zone before setting a depth.")
            decision = self._decide(self.zone, depth_mm, self._current_rate(), override_reason)
            return _without(decision, _RATE_FINE)

    def preview_rate(self, rate_hz: float) -> Decision:
        """What `set_rate(rate_hz)` would decide now, without sending or recording anything."""
        with self._cmd_lock:
            self._require_usable()
            if self.zone is None:
                raise NotAllowed("Choose a treatment zone before setting a rate.")
            carried = self.depth_decision.override_reason if self.depth_decision else None
            decision = self._decide(self.zone, self._current_depth_mm(), rate_hz, carried)
            return _without(decision, _DEPTH_FINE)

    def _apply_depth(
        self, decision: Decision, *, requested: object, why: str, zone: str | None = None
    ) -> None:
        zone = zone or self.zone
        sendable = decision.outcome in (Outcome.ALLOWED, Outcome.CLAMPED)
        depth_um = decision.depth_um if sendable else None
        seq = self._link.next_seq() if depth_um is not None else None
        self._log(
            "decision",
            {
                "what": "depth",
                "why": why,
                "zone": zone,
                "requested_mm": _jsonable(requested),
                **decision.to_json_dict(),
                "command": None
                if depth_um is None
                else {"type": "SET_DEPTH", "seq": seq, "depth_um": depth_um},
            },
        )
        self._publish(PenUpdate("decision", " ".join(decision.reasons), decision=decision))
        if depth_um is None or seq is None:
            return
        previous = self._unconfirmed_um
        # Until the ACK arrives the pen may or may not have this set-point: remember the
        # deepest such depth, so later checks (a zone change) assume the worst.
        self._unconfirmed_um = max(depth_um, previous or 0)
        try:
            self._command(protocol.SetDepth(depth_um), seq=seq, logged=True)
        except CommandRefused:
            self._unconfirmed_um = previous  # a NACK: the pen changed nothing
            raise
        self._unconfirmed_um = None
        self.depth_decision = decision

    def set_rate(self, rate_hz: float) -> Decision:
        """Ask the governor for `rate_hz`; send the rate it approves (never higher)."""
        with self._cmd_lock:
            self._require_usable()
            if self.zone is None:
                raise NotAllowed("Choose a treatment zone before setting a rate.")
            # The depth stays as approved, with the override reason it was approved with (a
            # clinician past a recommended max must still be able to change the rate).
            carried = self.depth_decision.override_reason if self.depth_decision else None
            decision = self._decide(self.zone, self._current_depth_mm(), rate_hz, carried)
            decision = _without(decision, _DEPTH_FINE)
            sendable = decision.outcome in (Outcome.ALLOWED, Outcome.CLAMPED)
            rate = decision.rate_hz if sendable else None
            seq = self._link.next_seq() if rate is not None else None
            self._log(
                "decision",
                {
                    "what": "rate",
                    "zone": self.zone,
                    "requested_hz": _jsonable(rate_hz),
                    **decision.to_json_dict(),
                    "command": None
                    if rate is None
                    else {"type": "SET_RATE", "seq": seq, "rate_hz": rate},
                },
            )
            self._publish(PenUpdate("decision", "; ".join(decision.reasons), decision=decision))
            if rate is not None and seq is not None:
                self._command(protocol.SetRate(rate), seq=seq, logged=True)
                self.rate_decision = decision
            return decision

    def select_zone(self, zone: str, override_reason: str | None = None) -> Decision | None:
        """Change the treatment zone. The current depth is re-checked against the new zone's
        limits and clamped down at once if it is too deep there; the zone changes only once
        the pen has acknowledged the lower depth. Raises NotAllowed (and keeps the old zone)
        when the role may not treat that zone at all.

        If the lower depth cannot be confirmed, the needle is stopped; if even that fails, the
        host stops feeding the pen's watchdog, so the pen stops by itself.
        """
        with self._cmd_lock:
            self._require_usable()
            current_um = self._current_depth_um()
            depth = current_um / 1000
            decision = self._decide(zone, depth, self._current_rate(), override_reason)
            if decision.outcome is Outcome.NEEDS_OVERRIDE:
                # Deeper than the new zone allows without a reason: come down to what it
                # allows (its cap without override), never stay deeper.
                fallback = self.governor.cap_for(self.role, zone, self.device)
                if fallback is not None:
                    decision = self._decide(zone, min(depth, fallback), self._current_rate(), None)
            if decision.outcome is Outcome.REJECTED or decision.outcome is Outcome.NEEDS_OVERRIDE:
                self._log(
                    "zone_refused",
                    {"zone": zone, "from": self.zone, **decision.to_json_dict()},
                )
                refusal = NotAllowed(
                    f"Zone {zone} is not available: {_sentences(decision.reasons)}"
                )
                refusal.decision = decision
                raise refusal
            if decision.depth_um is not None and decision.depth_um < current_um:
                try:
                    self._apply_depth(decision, requested=depth, why="zone_change", zone=zone)
                except DriverError as exc:
                    raise self._clamp_failed(zone, exc) from exc
            elif self.depth_decision is not None:
                self.depth_decision = decision
            old = self.zone
            self._end_zone_timer()
            self.zone = zone
            if self.status is not None and self.status.state == State.RUNNING:
                self._zone_started = self._clock()
            self._log("zone", {"zone": zone, "from": old})
            return decision

    def _clamp_failed(self, zone: str, exc: DriverError) -> DriverError:
        """The pen may still be deeper than `zone` allows: stop the needle, or failing that,
        let the pen's watchdog stop it."""
        try:
            self._command(protocol.Stop())
            stopped = "the needle was stopped"
        except DriverError:
            self._link.stop_heartbeat()
            self._die(
                LinkLost(
                    "The pen does not answer: the host stopped its heartbeat so the pen's "
                    "watchdog stops the needle; start again."
                )
            )
            stopped = "the pen does not answer, so its watchdog will stop the needle"
        with contextlib.suppress(Exception):
            self._log("zone_change_failed", {"zone": zone, "error": str(exc), "then": stopped})
        return NotAllowed(
            f"The zone stays {self.zone or 'unset'}: the depth could not be lowered for {zone} "
            f"({exc}); {stopped}."
        )

    # --- run control -------------------------------------------------------------------------

    def start(self) -> None:
        """Start the needle at the approved depth and rate (refused when they are not set, or
        when the fitted cartridge was used in an earlier session)."""
        with self._cmd_lock:
            self._require_usable()
            if self.zone is None:
                raise NotAllowed("Choose a treatment zone before starting.")
            if self.depth_decision is None:
                raise NotAllowed("Set a depth before starting.")
            if self.rate_decision is None:
                raise NotAllowed("Set a stamp rate before starting.")
            status = self.status
            cartridge = status.cartridge_id if status is not None and status.cartridge_id else None
            # The rules are re-checked and the treatment recorded in one transaction BEFORE
            # START is sent: a host killed right after START still leaves its record, and a
            # second host on the same store sees it.
            treatment = self._record_start(cartridge)
            try:
                self._command(protocol.Start())
            except CommandRefused as exc:
                # a NACK: the pen did not start, so the treatment did not begin
                with contextlib.suppress(DriverError):  # must not hide the NACK
                    self.store.withdraw_treatment(
                        treatment, f"the pen refused START ({getattr(exc.error, 'name', '?')})"
                    )
                raise
            except DriverError:
                # No answer: the pen may be running (the treatment stays recorded); stop it.
                with contextlib.suppress(DriverError):
                    self._command(protocol.Stop())
                raise
            self._zone_started = self._clock()

    def _record_start(self, cartridge_id: int | None) -> int:
        """Re-check screening, cartridge and interval inside the store's write transaction
        and record the treatment there; NotAllowed (nothing recorded but the refusal) when a
        rule says no."""
        assert self.zone is not None and self.depth_decision is not None
        zone, approved = self.zone, self.depth_decision

        def check(facts: StartFacts) -> dict[str, object]:
            self._check_screening(facts)
            if facts.cartridge_used_before and cartridge_id is not None:
                raise _StartRefused(
                    f"Cartridge {cartridge_id:08x} was used in an earlier session; "
                    "fit a fresh one.",
                    {"reason": "cartridge_reused", "cartridge_id": cartridge_id},
                )
            decision = self.governor.decide(
                Request(
                    role=self.role,
                    zone=zone,
                    depth_mm=approved.depth_mm if approved.depth_mm is not None else math.nan,
                    rate_hz=self._current_rate(),
                    device=self.device,
                    override_reason=approved.override_reason,
                    last_session_days_ago=facts.days_since_last,
                )
            )
            if not decision.sendable or (decision.depth_um or 0) < (approved.depth_um or 0):
                raise _StartRefused(
                    f"Treatment cannot start on {zone}: {_sentences(decision.reasons)}",
                    {"reason": "rules", **decision.to_json_dict()},
                )
            return {
                "days_since_last": facts.days_since_last,
                "override_reason": decision.override_reason,
            }

        try:
            return self.store.begin_treatment(self.session_id, zone, cartridge_id, check)
        except _StartRefused as refused:
            self._log("start_refused", refused.record)
            raise NotAllowed(refused.sentence) from None

    def _check_screening(self, facts: StartFacts) -> None:
        """Refuse START after a contraindication screening of this session that blocks
        treatment or still waits for a clinician's acknowledgement (driver/screening.py's
        `session_verdict`: a later screening cannot undo a blocking one). A session with no
        screening recorded is not refused here: the TUI always screens, and scripts on the
        bench are the engineer's responsibility."""
        verdict = session_verdict(facts.screening)
        if verdict is Verdict.BLOCKED:
            raise _StartRefused(
                "The screening found a contraindication: this session may not treat.",
                {"reason": "screening_blocked"},
            )
        if verdict is Verdict.NEEDS_ACKNOWLEDGEMENT:
            raise _StartRefused(
                "The screening found a contraindication: a clinician must acknowledge it "
                "with a reason before treatment.",
                {"reason": "screening_unacknowledged"},
            )

    def stop(self) -> None:
        """Stop the needle (RUNNING to IDLE)."""
        with self._cmd_lock:
            self._require_connected()
            self._command(protocol.Stop())
            self._end_zone_timer()

    def reset(self, what: Literal["fault", "estop"]) -> None:
        """Clear a latched fault ("fault", RESET 1) or release the e-stop ("estop", RESET 2)."""
        code = {"fault": protocol.ResetWhat.CLEAR_FAULT, "estop": protocol.ResetWhat.RELEASE_ESTOP}
        if what not in code:
            raise NotAllowed("Reset what? Say 'fault' or 'estop'.")
        with self._cmd_lock:
            self._require_connected()
            self._command(protocol.Reset(int(code[what])))

    def estop(self) -> None:
        """Emergency stop: written at once from this thread, 3 copies, then logged.

        Never blocked by another command in progress; works even when the session is dead.
        """
        seq: int | None = None
        error: str | None = None
        self.estop_pending = True
        try:
            seq = self._link.send_estop()
        except Exception as exc:
            error = str(exc)
        self._end_zone_timer()
        with contextlib.suppress(Exception):
            self._log("estop", {"seq": seq, "copies": 3, "error": error})
        self._publish(PenUpdate("estop", "E-stop sent." if error is None else error))

    # --- plumbing ----------------------------------------------------------------------------

    def _command(self, msg: Message, *, seq: int | None = None, logged: bool = False) -> None:
        name = msg.TYPE.name
        if seq is None:
            seq = self._link.next_seq()
        if not logged:
            self._log("command", {"type": name, "seq": seq, **_fields(msg)})
        try:
            answer = self._link.request(msg, seq)
        except LinkLost as exc:
            self._die(exc)
            raise
        if isinstance(answer, protocol.Nack):
            self._log(
                "nack",
                {"type": name, "seq": seq, "error": answer.error.name, "detail": answer.detail},
            )
            error = nack_error(name, answer)
            if answer.error == NackError.NO_SESSION:
                self._die(SessionClosed(str(error) + " Start a new session."))
            raise error
        self._log("ack", {"type": name, "seq": seq})

    def _log(self, kind: str, data: dict[str, Any]) -> None:
        sid = self.session_id if self.session_id >= 0 else None
        self.store.append(kind, data, session_id=sid)

    def _log_from_reader(self, kind: str, data: dict[str, Any]) -> None:
        if self._bg_log is None:
            self._log(kind, data)
        else:
            self._bg_log.put(kind, data, self.session_id if self.session_id >= 0 else None)

    def flush_log(self) -> None:
        """Wait until the records of pen events and state changes seen so far are stored."""
        if self._bg_log is not None:
            self._bg_log.flush()

    def _die(self, exc: DriverError) -> None:
        if self.dead is None:
            self.dead = exc
            self._end_zone_timer()

    def _end_zone_timer(self) -> None:
        if self._zone_started is not None and self.zone is not None:
            spent = self._clock() - self._zone_started
            self.zone_seconds[self.zone] = self.zone_seconds.get(self.zone, 0.0) + spent
        self._zone_started = None

    def _on_message(self, msg: Message, seq: int) -> None:
        """Reader thread: STATUS and EVENT from the pen."""
        if isinstance(msg, protocol.Status):
            previous = self.status
            self.status = msg
            if msg.state == State.ESTOP:
                self.estop_pending = False
            if self._last_uptime is not None and msg.uptime_ms < self._last_uptime:
                self._rebooted("The pen rebooted (its uptime went back); start again.")
            self._last_uptime = msg.uptime_ms
            if previous is not None and (
                previous.state != msg.state or previous.faults != msg.faults
            ):
                with contextlib.suppress(Exception):
                    self._log_from_reader(
                        "pen_state",
                        {
                            "state": msg.state.name,
                            "from": previous.state.name,
                            "faults": int(msg.faults),
                            "depth_set_um": msg.depth_set_um,
                        },
                    )
                if msg.state != State.RUNNING:
                    self._end_zone_timer()
            self._publish(PenUpdate("status", status=msg))
            return
        if isinstance(msg, protocol.Event):
            with contextlib.suppress(Exception):
                self._log_from_reader(
                    "pen_event", {"code": msg.code.name, "detail": msg.detail, "seq": seq}
                )
            self._publish(PenUpdate("event", msg.code.name, event=msg))
            if msg.code == EventCode.BOOT:
                self._rebooted("The pen rebooted; the session is over, start again.")
            elif msg.code == EventCode.WATCHDOG_TRIPPED:
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
        with contextlib.suppress(Exception):
            self._log_from_reader("reboot", {"message": sentence})
        self._publish(PenUpdate("rebooted", sentence))

    def _on_lost(self, exc: BaseException) -> None:
        err = exc if isinstance(exc, DriverError) else LinkLost(str(exc))
        if self.closed:
            return
        self._die(err)
        with contextlib.suppress(Exception):
            self._log_from_reader("link_lost", {"message": str(err)})
        self._publish(PenUpdate("link_lost", str(err)))


#: The governor decides depth and rate together; a depth change need not say the unchanged
#: rate is fine, nor a rate change the unchanged depth.
_RATE_FINE = re.compile(r"^A rate of \S+ Hz is within the allowed ")
_DEPTH_FINE = re.compile(r"^\S+ mm on \S+ is within the limits ")


class _StartRefused(Exception):
    """A start rule said no inside the store's transaction (which then writes nothing)."""

    def __init__(self, sentence: str, record: dict[str, Any]) -> None:
        super().__init__(sentence)
        self.sentence = sentence
        self.record = record


def _without(decision: Decision, noise: re.Pattern[str]) -> Decision:
    kept = tuple(r for r in decision.reasons if not noise.match(r))
    return dataclasses.replace(decision, reasons=kept) if kept else decision


def _sentences(reasons: tuple[str, ...]) -> str:
    text = " ".join(r.strip() for r in reasons if r.strip()) or "the governor refused it."
    return text if text.endswith(".") else text + "."


def _fields(msg: Message) -> dict[str, Any]:
    return {name: int(v) for name, v in zip(msg.FIELDS, msg.values(), strict=True)}


def _jsonable(value: object) -> object:
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if isinstance(value, bool | int | float | str) or value is None:
        return value
    return repr(value)


# --- stopping the needle at interpreter exit and on SIGTERM ---------------------------------

_OPEN: weakref.WeakSet[Pen] = weakref.WeakSet()
_hooks_installed = False


def _close_all(reason: str) -> None:
    for pen in list(_OPEN):
        with contextlib.suppress(Exception):
            pen.close(reason)


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    _close_all("SIGTERM")
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    raise SystemExit(128 + signum)


def _register(pen: Pen) -> None:
    global _hooks_installed
    _OPEN.add(pen)
    if _hooks_installed:
        return
    _hooks_installed = True
    atexit.register(_close_all, "interpreter exit")
    if threading.current_thread() is threading.main_thread():
        with contextlib.suppress(ValueError, OSError):
            if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
                signal.signal(signal.SIGTERM, _on_sigterm)


def _unregister(pen: Pen) -> None:
    _OPEN.discard(pen)

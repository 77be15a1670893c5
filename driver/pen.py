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
import collections
import contextlib
import dataclasses
import math
import os
import queue
import random
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
    Cancelled,
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
from .link import UI_LEASE_S, Link
from .policy import Policy, load_policy
from .screening import Verdict, session_verdict
from .store import TREATING_ROLES, AuditStore, StartFacts, check_client, home_client
from .transport import Port, open_port

PROFESSIONAL_ROLES = ("aesthetician", "clinician", "engineer")
DEFAULT_TELEMETRY_HZ = 20
#: The client reference of a home session that names none: the user treating themself.
HOME_CLIENT = "self"

UpdateKind = Literal[
    "status",
    "event",
    "decision",
    "estop",
    "estop_confirmed",
    "contradiction",
    "retracting",
    "store_trouble",
    "store_ok",
    "link_lost",
    "rebooted",
    "session_ended",
    "closed",
]

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
#: The watchdog periods the host's heartbeat (100 ms) and link check (300 ms) can serve.
WATCHDOG_MS_RANGE = (protocol.WATCHDOG_MIN_MS, protocol.WATCHDOG_MAX_MS)


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


class _AuditQueue:
    """Audit records that must never hold anything up: what the reader sees (pen events,
    state changes, link loss) and what the risk-lowering commands did (STOP, ESTOP, closing).

    A writer thread appends them in order. A record that cannot be written (a full disk, a
    store locked by another process, a read-only file) is never dropped: it stays first in the
    queue and is retried, `on_trouble(sentence)` is called once per outage and
    `on_recovered()` when it is written again. `put` never blocks.
    """

    RETRY_S = 0.2

    def __init__(
        self,
        store: AuditStore,
        on_trouble: Callable[[str], None],
        on_recovered: Callable[[], None],
    ) -> None:
        self._store = store
        self._on_trouble = on_trouble
        self._on_recovered = on_recovered
        self._items: collections.deque[tuple[str, dict[str, Any], int | None]] = (
            collections.deque()
        )
        self._cond = threading.Condition()
        self._busy = False
        self._closing = False
        self.trouble: str | None = None
        self._thread = threading.Thread(target=self._run, name="needlepen-audit", daemon=True)
        self._thread.start()

    def put(self, kind: str, data: dict[str, Any], session_id: int | None) -> None:
        with self._cond:
            self._items.append((kind, data, session_id))
            self._cond.notify_all()

    @property
    def backlog(self) -> int:
        with self._cond:
            return len(self._items) + (1 if self._busy else 0)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._items and not self._closing:
                    self._cond.wait()
                if not self._items:
                    return
                item = self._items[0]
                self._busy = True
            try:
                self._store.append(item[0], item[1], session_id=item[2])
            except Exception as exc:  # kept and retried: nothing is lost
                with self._cond:
                    self._busy = False
                    first = self.trouble is None
                    self.trouble = f"The audit store cannot be written: {exc}"
                    closing = self._closing
                if first:
                    with contextlib.suppress(Exception):
                        self._on_trouble(self.trouble)
                if closing:
                    return  # the caller's close() reports what is left
                time.sleep(self.RETRY_S)
                continue
            with self._cond:
                self._items.popleft()
                self._busy = False
                recovered = self.trouble is not None
                self.trouble = None
                self._cond.notify_all()
            if recovered:
                with contextlib.suppress(Exception):
                    self._on_recovered()

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every record handed over so far is in the store; False on time-out."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while (self._items or self._busy) and self._thread.is_alive():
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._cond.wait(left if left is not None else 0.05)
            return not self._items

    def close(self, timeout: float = 2.0) -> list[tuple[str, dict[str, Any], int | None]]:
        """Write what can be written within `timeout`; return the records that could not be."""
        self.flush(timeout)
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._thread.join(timeout=0.5)
        with self._cond:
            return list(self._items)


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
        self.dead: DriverError | None = None
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
        self._audit: _AuditQueue | None = (
            _AuditQueue(store, self._store_in_trouble, self._store_recovered)
            if link.threaded
            else None
        )
        self._zone_started: float | None = None
        self._clock: Callable[[], float] = time.monotonic
        self.zone_seconds: dict[str, float] = {}

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
        rng: random.Random | None = None,
    ) -> Pen:
        """Open the port, shake hands (HELLO, nonce check) and turn telemetry on.

        The pen is connected but no treatment session has begun: call `begin()` next. Until
        then only e-stop, stop and reset work.

        For QA harnesses: `port` is an already open port (`url` is then only a label), and
        `clock` with `idle` run the link without a thread on a virtual clock (see `Link`);
        drive it with `pen.poll()`; `rng` (a seeded `random.Random`) draws the first seq and the
        HELLO nonce, so a run repeats byte for byte.
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
                rng=rng,
                on_estop_confirmed=lambda: pen_box[0]._on_estop_confirmed() if pen_box else None,
            )
            link.start()
            info = cls._handshake(link, url)
            check_info(info, url, pol)
            pen = cls(link, store, governor, info, owns_store=owns_store, url=url)
            pen._clock = clock or time.monotonic
            pen_box.append(pen)
            pen._log("connect", pen._device_record())
            if estop_held(info.serial) is False:
                # an e-stop this host sent to this pen was never confirmed: send it again now,
                # before anything else, and keep sending it until the pen confirms it
                pen._send_estop("an earlier e-stop was never confirmed by the pen")
            else:
                link.enable_heartbeat()
            pen.telemetry_hz = telemetry_for_line(telemetry_hz, url, port)
            pen._command(protocol.SetTelemetry(pen.telemetry_hz))
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
        nonce = link.rng.getrandbits(32)
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
        """Stop the needle, end the session and release the port (idempotent).

        Closing lowers risk: the STOP goes first and never waits for the audit store; the
        records are written after, as far as the store lets them within a second or two
        (`unwritten` keeps any it could not take)."""
        with self._state_lock:
            if self.closed:
                return
            self.closed = True
        self._bump_epoch()
        try:
            if self.dead is None:
                with contextlib.suppress(DriverError):
                    self._command(protocol.Stop(), lowers_risk=True)
            else:  # the link is gone: one best-effort STOP, the pen's watchdog does the rest
                with contextlib.suppress(Exception):
                    self._link.send(protocol.Stop())
        finally:
            self._end_zone_timer()
            self._link.close()
            sid = self.session_id if self.session_id >= 0 else None
            if self._audit is not None:
                self._unwritten.extend(self._audit.close())
            tail: list[tuple[str, dict[str, Any], int | None]] = [
                *self._unwritten,
                ("session_end", {"reason": reason}, sid),
            ]
            self._unwritten = []
            for i, (kind, data, rec_sid) in enumerate(tail):
                try:
                    self.store.append(kind, data, session_id=rec_sid)
                except Exception:
                    self._unwritten = tail[i:]
                    break
            else:
                with contextlib.suppress(Exception):
                    if self.session_id >= 0:
                        self.store.end_session(self.session_id, reason)
            if self._owns_store:
                self.store.close()
            _unregister(self)
            message = "The session is closed."
            if self._unwritten:
                message += (
                    f" {len(self._unwritten)} audit record(s) could not be written: "
                    f"{self.store_trouble or 'the audit store is unavailable'}"
                )
            self._publish(PenUpdate("closed", message))

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
            self._pause()

    def _pause(self) -> None:
        """Let 2 ms pass while waiting for the pen (the reader turns meanwhile; on a virtual
        clock this advances it)."""
        if self._link.threaded:
            time.sleep(0.002)
        else:
            self._link._wait(threading.Event(), 0.002)

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

    # --- the governor ------------------------------------------------------------------------

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

    # --- what the pen holds ------------------------------------------------------------------

    def _deepest_possible_um(self) -> int:
        """The deepest set-point the pen may hold now (for judging a zone change or a rate):
        the last acknowledged depth, any depth sent without an answer, and what a STATUS sent
        after the last acknowledgement reports. Before any depth was set, the pen's own
        set-point, whatever it is (never taken as the operator's request)."""
        candidates = [self.device_floor_um]
        if self._acked_um is not None:
            candidates.append(self._acked_um)
        if self._unconfirmed_um is not None:
            candidates.append(self._unconfirmed_um)
        st = self.status
        if st is not None and (self._acked_um is None or self._status_is_fresh()):
            candidates.append(st.depth_set_um)
        return max(candidates)

    def _real_setpoint_um(self) -> int:
        """The set-point the pen really holds, as low as it may be: the one it acknowledged
        last (or, with an unanswered one outstanding, the lower of the two). A depth the host
        lowers to automatically never goes above this."""
        candidates: list[int] = []
        if self._acked_um is not None:
            candidates.append(self._acked_um)
        if self._unconfirmed_um is not None:
            candidates.append(self._unconfirmed_um)
        st = self.status
        if st is not None and (self._acked_um is None or self._status_is_fresh()):
            candidates.append(st.depth_set_um)
        return min(candidates) if candidates else self.device_floor_um

    def _status_is_fresh(self) -> bool:
        return self._status_count > self._status_count_at_ack

    @property
    def device_floor_um(self) -> int:
        """The shallowest depth this host sends to this pen (its range within the policy)."""
        return round(self.device.depth_min_mm * 1000)

    def _current_depth_mm(self) -> float:
        """The depth a rate change is judged with: the approved one, or the deepest the pen may
        hold; before any depth was approved, the shallowest depth the host would send."""
        if self.depth_decision is None or self.depth_decision.depth_mm is None:
            return self.device_floor_um / 1000
        return max(self.depth_decision.depth_mm, self._deepest_possible_um() / 1000)

    def _current_rate(self) -> float:
        """The rate a depth or zone change is judged with: the approved one; before any was
        approved, the lowest the role may get on this pen (never the pen's idle set-point)."""
        if self.rate_decision is not None and self.rate_decision.rate_hz is not None:
            return self.rate_decision.rate_hz
        bounds = self.governor.rate_range_for(self.role, self.device)
        return bounds[0] if bounds is not None else self.device.rate_min_hz

    # --- governed commands -------------------------------------------------------------------

    def set_depth(self, depth_mm: float, override_reason: str | None = None) -> Decision:
        """Ask the governor for `depth_mm` in the current zone; send what it approves.

        Returns the decision. `needs_override` and `rejected` send nothing. A clamped depth is
        sent clamped. A deeper (or equal) depth is committed to the audit log before it is
        written; a shallower one is sent even when the store cannot take its record at once.
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
        record = {
            "what": "depth",
            "why": why,
            "zone": zone,
            "requested_mm": _jsonable(requested),
            **decision.to_json_dict(),
            "command": None
            if depth_um is None
            else {"type": "SET_DEPTH", "seq": seq, "depth_um": depth_um},
        }
        deepest = self._deepest_possible_um()
        lowering = depth_um is not None and depth_um < deepest
        if lowering:
            self._log_soon("decision", record)
        else:
            self._log_first("decision", record)
        self._publish(PenUpdate("decision", " ".join(decision.reasons), decision=decision))
        if depth_um is None or seq is None:
            return
        if lowering and deepest - depth_um > DEPTH_TOLERANCE_UM and self._needle_may_run():
            # the needle would stamp deeper than the new set-point while it retracts: stop it
            # first; it does not start again by itself
            self._command(protocol.Stop(), lowers_risk=True)
            self._end_zone_timer()
            sentence = (
                f"The needle was stopped while it retracts from {_mm(deepest)} to "
                f"{_mm(depth_um)}; start again when ready."
            )
            self._log_soon("retract_stop", {"from_um": deepest, "to_um": depth_um})
            self._publish(PenUpdate("retracting", sentence))
        previous = self._unconfirmed_um
        # Until the ACK arrives the pen may or may not have this set-point: remember the
        # deepest such depth, so later checks (a zone change) assume the worst.
        self._unconfirmed_um = max(depth_um, previous or 0)
        self._known_setpoints.add(depth_um)
        try:
            self._command(protocol.SetDepth(depth_um), seq=seq, logged=True, lowers_risk=lowering)
        except CommandRefused:
            self._unconfirmed_um = previous  # a NACK: the pen changed nothing
            raise
        self._unconfirmed_um = None
        self._acked_um = depth_um
        self._status_count_at_ack = self._status_count
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
            self._log_first(
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
        """Change the treatment zone.

        The depth in force is judged against the new zone's limits (with `override_reason`,
        which is recorded with the decision for the new zone). If it is too deep there it is
        brought down at once, never above the set-point the pen really holds: a zone change
        only ever lowers the depth, and the zone changes only once the pen has acknowledged
        the lower depth. Raises NotAllowed (and keeps the old zone) when the role may not
        treat that zone at all, or only with a reason that was not given.

        If the lower depth cannot be confirmed, the needle is stopped; if even that fails, the
        host stops feeding the pen's watchdog, so the pen stops by itself.
        """
        with self._cmd_lock:
            self._require_usable()
            deepest = self._deepest_possible_um()
            real = self._real_setpoint_um()
            rate = self._current_rate()
            approved = self.depth_decision is not None or self._unconfirmed_um is not None
            # Before any depth was approved the pen's idle set-point is nobody's request: judge
            # the zone at the shallowest depth the host would send, and only lower the pen.
            judged = deepest if approved else min(deepest, self.device_floor_um)
            decision = self._decide(zone, judged / 1000, rate, override_reason)
            if decision.outcome is Outcome.NEEDS_OVERRIDE:
                # Deeper than the new zone allows without a reason: come down to what it
                # allows (its cap without override), never stay deeper.
                fallback = self.governor.cap_for(self.role, zone, self.device)
                if fallback is not None:
                    decision = self._decide(zone, min(judged / 1000, fallback), rate, None)
            if decision.outcome is Outcome.REJECTED or decision.outcome is Outcome.NEEDS_OVERRIDE:
                self._log_first(
                    "zone_refused",
                    {"zone": zone, "from": self.zone, **decision.to_json_dict()},
                )
                refusal = NotAllowed(
                    f"Zone {zone} is not available: {_sentences(decision.reasons)}"
                )
                refusal.decision = decision
                raise refusal
            target = decision.depth_um
            if target is not None and target > real and target < deepest:
                # Never raise: the pen may already hold less than the worst case judged above.
                again = self._decide(zone, real / 1000, rate, decision.override_reason)
                if again.sendable and again.depth_um is not None and again.depth_um <= real:
                    decision = again
                    target = again.depth_um
            if target is not None and target < deepest:
                try:
                    self._apply_depth(
                        decision, requested=judged / 1000, why="zone_change", zone=zone
                    )
                except DriverError as exc:
                    raise self._clamp_failed(zone, exc) from exc
            elif approved:
                # No depth change: the depth in force gets its decision for the new zone, with
                # the reason it was given (the interval, a recommended limit).
                self._log_first(
                    "decision",
                    {
                        "what": "depth",
                        "why": "zone_change",
                        "zone": zone,
                        "requested_mm": judged / 1000,
                        **decision.to_json_dict(),
                        "reason_given": override_reason,
                        "command": None,
                    },
                )
                self._publish(PenUpdate("decision", " ".join(decision.reasons), decision=decision))
                self.depth_decision = decision
            old = self.zone
            self._end_zone_timer()
            self.zone = zone
            if self.status is not None and self.status.state == State.RUNNING:
                self._zone_started = self._clock()
            self._log_first("zone", {"zone": zone, "from": old})
            return decision

    def _clamp_failed(self, zone: str, exc: DriverError) -> DriverError:
        """The pen may still be deeper than `zone` allows: stop the needle, or failing that,
        let the pen's watchdog stop it."""
        try:
            self._command(protocol.Stop(), lowers_risk=True)
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
        sent = self._unconfirmed_um
        self._log_soon(
            "zone_change_failed",
            {"zone": zone, "error": str(exc), "sent_depth_um": sent, "then": stopped},
        )
        what = f"{_mm(sent)} was sent without an answer" if sent is not None else str(exc)
        return NotAllowed(
            f"The zone stays {self.zone or 'unset'}: the depth could not be lowered for {zone} "
            f"({what}); {stopped}."
        )

    # --- run control -------------------------------------------------------------------------

    def _needle_may_run(self) -> bool:
        st = self.status
        return self._may_run or (st is not None and st.state == State.RUNNING)

    def start(self) -> None:
        """Start the needle at the approved depth and rate.

        Refused when they are not set, after an e-stop the pen has not confirmed or the
        operator has not released, when the fitted cartridge was used in an earlier session,
        and until the needle has reached the approved depth (START holds up to
        `START_SETTLE_S` for a needle still moving to a shallower set-point). A stop or an
        e-stop that comes while START waits wins: START is then not sent."""
        with self._state_lock:
            epoch = self._run_epoch
        with self._cmd_lock:
            self._require_usable()
            if self.zone is None:
                raise NotAllowed("Choose a treatment zone before starting.")
            if self.depth_decision is None:
                raise NotAllowed("Set a depth before starting.")
            if self.rate_decision is None:
                raise NotAllowed("Set a stamp rate before starting.")
            self._check_estop_released()
            status = self._wait_depth_settled()
            cartridge = status.cartridge_id if status is not None and status.cartridge_id else None
            # The rules are re-checked and the treatment recorded in one transaction BEFORE
            # START is sent: a host killed right after START still leaves its record, and a
            # second host on the same store sees it.
            self._flush_first()
            treatment = self._record_start(cartridge)

            def gate() -> bool:
                return self._run_epoch == epoch and not self._link.estop_pending

            def withdraw(why: str) -> None:
                with contextlib.suppress(DriverError):  # must not hide the real answer
                    self.store.withdraw_treatment(treatment, why)

            self._may_run, self._start_acked = True, False
            try:
                self._command(protocol.Start(), gate=gate)
            except Cancelled as exc:
                self._may_run = False
                if not exc.sent:
                    withdraw("a stop or an e-stop came before START was sent")
                raise NotAllowed("Not started: a stop or an e-stop came first.") from exc
            except CommandRefused as exc:
                # a NACK: the pen did not start, so the treatment did not begin
                self._may_run = False
                withdraw(f"the pen refused START ({getattr(exc.error, 'name', '?')})")
                raise
            except DriverError:
                # No answer: the pen may be running (the treatment stays recorded); stop it.
                with contextlib.suppress(DriverError):
                    self._command(protocol.Stop(), lowers_risk=True)
                raise
            self._start_acked = True
            self._zone_started = self._clock()

    def _wait_depth_settled(self) -> protocol.Status | None:
        """Hold START until a STATUS sent after the last depth was acknowledged shows the
        needle within `DEPTH_TOLERANCE_UM` of it; refuse after `START_SETTLE_S`."""
        target = self._acked_um
        if target is None:
            return self.status
        deadline = self._clock() + START_SETTLE_S
        while True:
            st = self.status
            if (
                st is not None
                and self._status_is_fresh()
                and st.depth_set_um == target
                and abs(st.depth_actual_um - target) <= DEPTH_TOLERANCE_UM
            ):
                return st
            self._require_connected()
            if self._clock() >= deadline:
                at = f"it is at {_mm(st.depth_actual_um)}" if st is not None else "no telemetry"
                self._log_first(
                    "start_refused",
                    {
                        "reason": "depth_not_settled",
                        "depth_set_um": target,
                        "depth_actual_um": st.depth_actual_um if st is not None else None,
                    },
                )
                raise NotAllowed(
                    f"Not started: the needle has not reached {_mm(target)} yet ({at}); "
                    "try again in a moment."
                )
            self._pause()

    def _check_estop_released(self) -> None:
        held = estop_held(self.info.serial)
        if held is False or self._link.estop_pending:
            raise NotAllowed(
                "E-STOP NOT CONFIRMED by the pen: it may not have stopped; the host keeps "
                "sending the e-stop. Start is refused until the pen confirms it and it is "
                "released."
            )
        if held is True:
            raise NotAllowed("The e-stop is latched: release it before starting.")

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

    def reset(self, what: Literal["fault", "estop"]) -> None:
        """Clear a latched fault ("fault", RESET 1) or release the e-stop ("estop", RESET 2).

        Raises risk, so it is recorded before it is sent; an e-stop the pen has not
        confirmed yet cannot be released."""
        code = {"fault": protocol.ResetWhat.CLEAR_FAULT, "estop": protocol.ResetWhat.RELEASE_ESTOP}
        if what not in code:
            raise NotAllowed("Reset what? Say 'fault' or 'estop'.")
        with self._cmd_lock:
            self._require_connected()
            if what == "estop" and (
                self._link.estop_pending or estop_held(self.info.serial) is False
            ):
                raise NotAllowed(
                    "E-STOP NOT CONFIRMED by the pen: it cannot be released until the pen "
                    "confirms it."
                )
            self._command(protocol.Reset(int(code[what])))
            if what == "estop":
                _release_estop(self.info.serial)

    def estop(self) -> None:
        """Emergency stop: written at once from the caller's thread; returns at once.

        Never blocked by another command in progress or by the audit store; works even when
        the session is dead. Until the pen confirms it (`estop_pending`), the host sends it
        again every 20 ms and stops its heartbeat, and START is refused on this pen (by
        serial, in this process) until it is confirmed and then released."""
        self._send_estop(None)

    @property
    def estop_pending(self) -> bool:
        """True from `estop()` until the pen confirms the e-stop (its ACK or a STATUS in
        ESTOP): the operator must be told "E-STOP NOT CONFIRMED by the pen"."""
        return self._link.estop_pending

    def wait_estop_confirmed(self, timeout: float = 1.0) -> bool:
        """Wait up to `timeout` seconds for the pen to confirm an e-stop; True once it has
        (or when none is pending). The host keeps resending meanwhile, and after."""
        deadline = self._clock() + timeout
        while self._link.estop_pending:
            if self._clock() >= deadline:
                return False
            self._pause()
        return True

    def _send_estop(self, why: str | None) -> None:
        self._bump_epoch()
        _hold_estop(self.info.serial)
        seq: int | None = None
        error: str | None = None
        try:
            seq = self._link.send_estop()
        except Exception as exc:
            error = str(exc)
        self._end_zone_timer()
        self._log_soon(
            "estop",
            {"seq": seq, "serial": self.info.serial, "why": why, "error": error},
        )
        sentence = "E-stop sent; waiting for the pen to confirm it."
        if error is not None:
            sentence = f"E-stop could not be written ({error}); the host keeps trying."
        self._publish(PenUpdate("estop", sentence))

    def _on_estop_confirmed(self) -> None:
        """Reader thread: the pen acknowledged the e-stop or reported ESTOP."""
        _confirm_estop(self.info.serial)
        self._may_run = False
        self._log_soon("estop_confirmed", {"serial": self.info.serial})
        self._publish(PenUpdate("estop_confirmed", "The pen confirmed the e-stop."))

    def _bump_epoch(self) -> None:
        with self._state_lock:
            self._run_epoch += 1

    # --- plumbing ----------------------------------------------------------------------------

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
        fields = {"type": name, "seq": seq, **_fields(msg)}
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
        earlier, and raising StoreError (nothing is then sent) when it cannot be written."""
        self._flush_first()
        try:
            self._log(kind, data)
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

    def _die(self, exc: DriverError) -> None:
        if self.dead is None:
            self.dead = exc
            self._end_zone_timer()
            self._may_run = False
            # what the pen said last is history now, not its present state
            self.status = None

    def _end_zone_timer(self) -> None:
        if self._zone_started is not None and self.zone is not None:
            spent = self._clock() - self._zone_started
            self.zone_seconds[self.zone] = self.zone_seconds.get(self.zone, 0.0) + spent
        self._zone_started = None

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
                self._log_soon("pen_contradiction", {"why": why, **_status_fields(msg)})
                self._publish(
                    PenUpdate("contradiction", f"E-stop: {why}.", status=msg)
                )
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


def _mm(um: int) -> str:
    """A depth in mm with the precision of micrometres that matter (0.275 mm, 0.50 mm)."""
    text = f"{um / 1000:.3f}"
    return (text[:-1] if text.endswith("0") else text) + " mm"


def _status_fields(msg: protocol.Status) -> dict[str, Any]:
    return {
        "state": msg.state.name,
        "faults": int(msg.faults),
        "depth_set_um": msg.depth_set_um,
        "depth_actual_um": msg.depth_actual_um,
        "rate_set_hz": msg.rate_set_hz,
    }


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


# --- the pen's INFO: what this host can work with -------------------------------------------


#: An 8N1 line carries baud / 10 bytes a second; STATUS (39 bytes on the wire) may take at most
#: half of it: baud / 780 frames a second (docs/PROTOCOL.md, "telemetry on a slow line").
BAUD_PER_STATUS_HZ = 780


def telemetry_for_line(wanted_hz: int, url: str, port: object) -> int:
    """The STATUS rate to ask for: `wanted_hz`, lowered on a serial device whose baud rate is
    known to be too slow for it (a pty, a socket or sim:// report no real line speed)."""
    baud = getattr(port, "baudrate", None)
    is_device = "://" not in url and not url.startswith("/dev/pts/")
    if not is_device or not isinstance(baud, int) or baud <= 0:
        return wanted_hz
    return max(5, min(wanted_hz, baud // BAUD_PER_STATUS_HZ))


def check_info(info: protocol.Info, url: str, policy: Policy) -> None:
    """Refuse, with one sentence, a pen whose INFO this host cannot work with safely."""
    lo, hi = WATCHDOG_MS_RANGE
    where = f"The pen on {url}"
    if not lo <= info.watchdog_ms <= hi:
        raise HandshakeError(
            f"{where} reports a watchdog of {info.watchdog_ms} ms; this host supports "
            f"{lo} to {hi} ms (its heartbeat every 100 ms must be able to feed it)."
        )
    if info.depth_step_um == 0 or info.depth_min_um > info.depth_max_um:
        raise HandshakeError(
            f"{where} reports an impossible depth range ({info.depth_min_um}-"
            f"{info.depth_max_um} µm in {info.depth_step_um} µm steps)."
        )
    if info.depth_max_um > 3000 or info.depth_max_um < 250:
        raise HandshakeError(
            f"{where} reports a deepest depth of {info.depth_max_um} µm; a pen must stop "
            "between 250 and 3000 µm."
        )
    if info.device_class == DeviceClass.HOME and info.depth_max_um >= 1000:
        raise HandshakeError(
            f"{where} is a home pen that reports {info.depth_max_um} µm; a home pen must stay "
            "below 1000 µm."
        )
    limits = usable_limits(info)
    if limits.depth_min_mm > limits.depth_max_mm:
        raise HandshakeError(f"{where} has no depth step between 250 and 3000 µm.")
    governor = Governor(policy)
    roles = ("home", *PROFESSIONAL_ROLES)
    if all(governor.rate_range_for(role, limits) is None for role in roles):
        raise HandshakeError(
            f"{where} reports stamp rates {info.rate_min_hz}-{info.rate_max_hz} Hz, none of "
            "which the treatment policy allows."
        )


def usable_limits(info: protocol.Info) -> DeviceLimits:
    """The pen's range as the governor uses it: a pen that reaches shallower than 0.25 mm or
    down to 0 Hz is used within the policy's range (from its first step at or above 0.25 mm,
    and from 1 Hz)."""
    limits = DeviceLimits.from_info(info)
    step = max(info.depth_step_um, 1)
    floor_um = max(info.depth_min_um, 250)
    floor_um = -(-floor_um // step) * step  # the first step at or above it
    return dataclasses.replace(
        limits,
        depth_min_mm=floor_um / 1000,
        rate_min_hz=max(info.rate_min_hz, 1),
    )


# --- e-stops this process sent, per pen serial ----------------------------------------------

#: serial -> confirmed: False while the pen has not confirmed the e-stop, True once it has
#: and until the operator releases it. START is refused on a serial listed here.
_ESTOPS: dict[int, bool] = {}
_ESTOPS_LOCK = threading.Lock()


def estop_held(serial: int) -> bool | None:
    """None: no e-stop outstanding for this pen; False: sent, not confirmed by the pen;
    True: confirmed, not yet released."""
    with _ESTOPS_LOCK:
        return _ESTOPS.get(serial)


def forget_estops() -> None:
    """Forget every outstanding e-stop: what a new host process starts with (for harnesses
    that model several host processes in one)."""
    with _ESTOPS_LOCK:
        _ESTOPS.clear()


def _hold_estop(serial: int) -> None:
    with _ESTOPS_LOCK:
        if _ESTOPS.get(serial) is not True:
            _ESTOPS[serial] = False


def _confirm_estop(serial: int) -> None:
    with _ESTOPS_LOCK:
        _ESTOPS[serial] = True


def _release_estop(serial: int) -> None:
    with _ESTOPS_LOCK:
        _ESTOPS.pop(serial, None)

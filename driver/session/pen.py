"""The Pen session: a governed, audited treatment session with one pen over any pyserial URL.

    from driver import Pen, install_exit_hooks
    install_exit_hooks()                # optional: stop the needle on SIGTERM and at exit
    with Pen.open("sim://", role="home", zone="forehead", db="treat.db") as pen:
        decision = pen.set_depth(0.5)   # governed; returns the governor's decision
        pen.set_rate(100)
        pen.start(); pen.stop()
        pen.estop()                     # the fastest path; nothing can block it

Every depth and rate goes through the governor; its decision is committed to the audit store
before the command is written to the port, and nothing the governor did not approve is sent.
The facade is put together from its parts: `core` (shared state and the command plumbing),
`commands` (governed depth, rate, zone), `run` (start, stop, e-stop), `screening` (the
session's screening verdict, `Pen.screening`, which START is gated on), `reader` (what the pen
reports). Its lifecycle is explicit: `Pen.lifecycle`.
"""

from __future__ import annotations

import contextlib
import enum
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any

import protocol
from protocol import DeviceClass, NackError

from ..audit import AuditStore, check_client, home_client
from ..errors import DriverError, HandshakeError, NotAllowed, StoreError
from ..exit_hooks import register, unregister
from ..link import BaseLink, Link, VirtualLink
from ..link.transport import Port, open_port
from ..safety import Governor
from ..safety import policy as policies
from ..vocabulary import HOME_ROLE, PROFESSIONAL_ROLES, TREATING_ROLES
from .audit_queue import AuditQueue
from .checks import check_info, telemetry_for_line
from .commands import GovernedCommands
from .core import DEFAULT_TELEMETRY_HZ
from .estops import estop_held
from .reader import ReaderCallbacks
from .screening import ScreeningSteps
from .updates import PenUpdate

if TYPE_CHECKING:
    from ..safety.policy import Policy

__all__ = ["LOGIN_VALID_S", "Lifecycle", "Login", "Pen"]


class Lifecycle(enum.StrEnum):
    """Where a Pen is in its life; every public method says which states it works in."""

    CONNECTED = "connected"  # handshake done, no treatment session yet: begin() next
    IN_SESSION = "in_session"  # begun: governed commands, start and stop work
    ENDED = "ended"  # the link was lost, the pen rebooted or its watchdog ended the session
    CLOSED = "closed"  # closed by the host (idempotent); open a new Pen


#: How long a PIN checked by `Pen.login` may wait for `Pen.begin` before it is asked again.
LOGIN_VALID_S = 10 * 60


@dataclass(frozen=True, eq=False)
class Login:
    """A checked PIN: what `Pen.login` returns and `Pen.begin(login=...)` accepts, once, on
    the same Pen, within LOGIN_VALID_S. It is compared by identity: a copy or a Login made
    by hand is refused (the PIN is checked by the store or not at all)."""

    operator: str
    #: the role the operator is registered for
    role: str
    #: when the PIN was checked (the Pen's clock)
    at: float


class Pen(ScreeningSteps, GovernedCommands, ReaderCallbacks):
    """One treatment session with one pen. Use `Pen.open(...)`; thread-safe."""

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
        super().__init__(link, store, governor, info, owns_store=owns_store, url=url)
        if link.threaded:
            self._audit = AuditQueue(store, self._store_in_trouble, self._store_recovered)

    @property
    def lifecycle(self) -> Lifecycle:
        """CONNECTED, IN_SESSION, ENDED (link lost, reboot, watchdog) or CLOSED."""
        if self.closed:
            return Lifecycle.CLOSED
        if self.dead is not None:
            return Lifecycle.ENDED
        return Lifecycle.IN_SESSION if self.session_id >= 0 else Lifecycle.CONNECTED

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
        `clock` with `idle` run the link without a thread on a virtual clock (`VirtualLink`);
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
        pol = (
            policies.load_policy(policy)
            if policy is None or isinstance(policy, str | os.PathLike)
            else policy
        )
        governor = Governor(pol)
        owns_store = not isinstance(db, AuditStore)
        store = db if isinstance(db, AuditStore) else AuditStore(db)
        link: BaseLink | None = None
        try:
            if port is None:
                port = open_port(url)
            pen_box: list[Pen] = []
            link = cls._open_link(port, pen_box, clock or time.monotonic, idle, rng)
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
        register(pen)
        return pen

    def login(self, *, role: str, operator: str, pin: str | None) -> Login:
        """Check an operator's PIN before the session begins (one `login` or `login_failed`
        record), so a UI can report a wrong PIN before it asks for the client; pass the
        returned Login to `begin(login=...)`, which then does not ask the store again.

        A wrong PIN and an unknown ID raise the same WrongPin sentence; a lockout
        OperatorLocked; an operator registered for another role NotAllowed. A home-class pen
        forces the home role, which has no login: NotAllowed."""
        with self._cmd_lock:
            self._require_connected()
            if self.session_id >= 0:
                raise NotAllowed("This session has already begun; open a new one to change it.")
            if self.info.device_class == DeviceClass.HOME or role not in PROFESSIONAL_ROLES:
                raise NotAllowed("Only the professional roles log in with an operator ID and PIN.")
            checked = self._authenticate(self.store, role, operator, pin)
            token = Login(operator, checked, self._clock())
            self._login = token
            return token

    def begin(
        self,
        *,
        role: str = "home",
        operator: str | None = None,
        pin: str | None = None,
        client: str | None = None,
        login: Login | None = None,
        continues: int | None = None,
    ) -> None:
        """Authenticate the operator and begin the treatment session (once per Pen).

        Professional roles need an operator and PIN, or the `login` that `login()` returned
        on this Pen (the PIN is then not checked again: one login record per login); a
        home-class pen forces the home role. An aesthetician or clinician session must name
        its client (checked before the PIN); the reference is compared and stored normalised
        (`store.normalise_client`). A home session's client is always the pen's own user
        (`store.home_client(serial)`), whatever `client` says. A wrong PIN raises (WrongPin,
        OperatorLocked, ...) and changes nothing: try again. A store that fails its integrity
        check raises StoreUntrusted.

        `continues` names the session this one carries on after it was interrupted (a lost
        link, a pen reboot, the pen's watchdog; see `interruption`): the same client, the same
        operator or another of its role, soon after (the store checks, and CannotContinue
        says why not). The interval rule does not count that session as this one's last.
        """
        with self._cmd_lock:
            self._require_connected()
            if self.session_id >= 0:
                raise NotAllowed("This session has already begun; open a new one to change it.")
            if self.info.device_class == DeviceClass.HOME:
                role = HOME_ROLE
            if login is not None:
                self._check_login(login, role, operator, pin)
            elif operator is None and role in PROFESSIONAL_ROLES:
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
            if login is not None:
                operator, role = login.operator, login.role
            else:
                role = self._authenticate(self.store, role, operator, pin)
            if role == HOME_ROLE or self.info.device_class == DeviceClass.HOME:
                # self-treatment: the interval is the pen's own user's, whatever was typed
                client = home_client(self.info.serial)
            info = self.info
            session_role = HOME_ROLE if info.device_class == DeviceClass.HOME else role
            session_id = self.store.begin_session(
                role=session_role,
                operator_id=operator,
                client_ref=client,
                device_serial=info.serial,
                boot_id=info.boot_id,
                device_class=self.device.device_class,
                continues=continues,
            )
            self._login = None  # used
            self.requested_role = role
            self.role = session_role
            self.operator_id = operator
            self.client_ref = client
            self.continues = continues
            self.session_id = session_id
            record: dict[str, Any] = {
                "role": self.role,
                "operator": operator,
                "client": client,
                **self._device_record(),
            }
            if continues is not None:
                record["continues"] = continues
            self._log("session_start", record)

    def _check_login(self, login: Login, role: str, operator: str | None, pin: str | None) -> None:
        """A Login given to begin(): the one this Pen issued, unused, recent, for this role."""
        if login is not self._login:
            raise NotAllowed("That login is not this pen's current PIN check; type the PIN again.")
        if pin is not None or operator not in (None, login.operator):
            raise NotAllowed("Give either a login or an operator ID and PIN, not both.")
        if self._clock() - login.at > LOGIN_VALID_S:
            self._login = None
            raise NotAllowed(
                f"The PIN was checked more than {LOGIN_VALID_S // 60} minutes ago; type it again."
            )
        if role not in (HOME_ROLE, login.role):
            raise NotAllowed(
                f"Operator {login.operator} is registered as {login.role}, not {role}."
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
    def _open_link(
        port: Port,
        pen_box: list[Pen],
        clock: Callable[[], float],
        idle: Callable[[float], None] | None,
        rng: random.Random | None,
    ) -> BaseLink:
        """The threaded link, or with `idle` the virtual-clock one, calling back into the pen
        (once there is one in `pen_box`)."""

        def on_message(msg: protocol.Message, seq: int) -> None:
            if pen_box:
                pen_box[0]._on_message(msg, seq)

        def on_lost(exc: BaseException) -> None:
            if pen_box:
                pen_box[0]._on_lost(exc)

        def on_estop_confirmed() -> None:
            if pen_box:
                pen_box[0]._on_estop_confirmed()

        if idle is None:
            return Link(
                port,
                on_message,
                on_lost,
                clock=clock,
                rng=rng,
                on_estop_confirmed=on_estop_confirmed,
            )
        return VirtualLink(
            port,
            on_message,
            on_lost,
            clock=clock,
            idle=idle,
            rng=rng,
            on_estop_confirmed=on_estop_confirmed,
        )

    @staticmethod
    def _handshake(link: BaseLink, url: str) -> protocol.Info:
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
            ended: dict[str, Any] = {"reason": reason}
            if self.interruption is not None:
                ended["interrupted"] = self.interruption.value
            tail: list[tuple[str, dict[str, Any], int | None]] = [
                *self._unwritten,
                ("session_end", ended, sid),
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
                        self.store.end_session(
                            self.session_id, reason, interrupted=self.interruption
                        )
            if self._owns_store:
                self.store.close()
            unregister(self)
            message = "The session is closed."
            if self._unwritten:
                message += (
                    f" {len(self._unwritten)} audit record(s) could not be written: "
                    f"{self.store_trouble or 'the audit store is unavailable'}"
                )
            self._publish(PenUpdate("closed", message))

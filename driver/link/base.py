"""What both drivers of the link share: the calls the session makes (request, send, the
e-stop, the heartbeat and the UI's lease), one turn of the reader (`poll`), all over one
sans-IO `HostProtocol`.

A driver adds how it reads the port, how a caller waits for the pen, and who turns `poll`:
`reader.Link` runs a reader thread (and on a local device or pty a heartbeat child process);
`virtual.VirtualLink` has no thread and lets time pass on a virtual clock whenever it waits.

Locks: `_lock` guards the machine and the waiters and is held only around calls into the
machine (microseconds: nothing under it blocks, writes or calls back); `_write_lock` keeps
frames whole on the port. Nobody takes `_write_lock` while holding `_lock`.
"""

from __future__ import annotations

import contextlib
import random
import threading
from collections.abc import Callable
from typing import ClassVar

from protocol import Message

from ..errors import Cancelled, LinkLost, NoAnswer, SessionClosed
from .sansio import Answered, EstopConfirmed, GiveUp, HostProtocol, Telemetry, Wait
from .timing import (
    ANSWER_TIMEOUT_S,
    HEARTBEAT_PERIOD_S,
    LINK_TIMEOUT_S,
    RESENDS,
    UI_LEASE_S,
    Clock,
    LinkStats,
)
from .transport import Port

#: How long an e-stop waits for another thread's write to finish before it writes anyway.
ESTOP_WRITE_WAIT_S = 0.005


class BaseLink:
    """Framed, acknowledged commands over an open port (see the module's docstring).

    `on_message(msg, seq)` is called from the turn of the reader for STATUS and EVENT
    messages; `on_lost(exc)` once, when the link is declared lost (silence, port error);
    `on_estop_confirmed()` when the pen confirms a pending e-stop.
    """

    #: whether a reader thread of its own turns `poll` (else the caller does)
    threaded: ClassVar[bool]

    def __init__(
        self,
        port: Port,
        on_message: Callable[[Message, int], None],
        on_lost: Callable[[BaseException], None],
        *,
        clock: Clock,
        answer_timeout: float = ANSWER_TIMEOUT_S,
        resends: int = RESENDS,
        heartbeat_period: float = HEARTBEAT_PERIOD_S,
        link_timeout: float = LINK_TIMEOUT_S,
        rng: random.Random | None = None,
        on_estop_confirmed: Callable[[], None] | None = None,
    ) -> None:
        self.port = port
        self._on_message = on_message
        self._on_lost = on_lost
        self._on_estop_confirmed = on_estop_confirmed
        self._clock = clock
        #: the host's side of the protocol, without I/O; a seeded `rng` makes a run repeat
        #: byte for byte (the first seq and the HELLO nonce come from it)
        self.machine = HostProtocol(
            rng=rng,
            answer_timeout=answer_timeout,
            resends=resends,
            heartbeat_period=heartbeat_period,
            link_timeout=link_timeout,
        )
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._waiters: dict[int, threading.Event] = {}
        self._closed = threading.Event()
        self.lost: BaseException | None = None

    # --- what the machine knows ----------------------------------------------------------------

    @property
    def stats(self) -> LinkStats:
        return self.machine.stats

    @property
    def rng(self) -> random.Random:
        return self.machine.rng

    @property
    def estop_pending(self) -> bool:
        """An e-stop was sent and the pen has not confirmed it yet (see `send_estop`)."""
        return self.machine.estop_pending

    @property
    def heartbeat_on(self) -> bool:
        return self.machine.heartbeat_on

    @property
    def answer_timeout(self) -> float:
        return self.machine.answer_timeout

    @property
    def resends(self) -> int:
        return self.machine.resends

    @property
    def link_timeout(self) -> float:
        return self.machine.link_timeout

    # --- what a driver adds --------------------------------------------------------------------

    def start(self) -> None:
        """Start turning (a driver without a thread has nothing to start)."""

    @property
    def alive(self) -> bool:
        raise NotImplementedError

    def pause(self, seconds: float) -> None:
        """Let `seconds` pass while the reader turns (the caller waits for the pen)."""
        raise NotImplementedError

    def _wait(self, event: threading.Event, timeout: float) -> bool:
        """Wait up to `timeout` seconds for `event`; whether it is set."""
        raise NotImplementedError

    def _read(self) -> bytes:
        """What the port has, waiting up to its read timeout for something."""
        n = self.port.in_waiting
        return self.port.read(n if n > 0 else 1)

    def _read_now(self) -> bytes:
        """What the port has, without waiting."""
        n = self.port.in_waiting
        return self.port.read(n) if n > 0 else b""

    def _port_write(self, data: bytes) -> None:
        self.port.write(data)

    def _backoff(self) -> None:
        """The port failed while an e-stop is pending: pause before the next try."""

    def _end(self) -> None:
        """Stop what the driver runs besides the port (called by `close`)."""

    # hooks for a heartbeat written by someone else (a child process); called under `_lock`
    def _heartbeat_started(self, now: float) -> None:
        pass

    def _heartbeat_stopped(self) -> None:
        pass

    def _lease_renewed(self, now: float) -> None:
        pass

    def _host_heartbeats(self, now: float) -> bool:
        """Whether the host heartbeats this turn itself (else renew the other writer's
        lease)."""
        return True

    # --- lifecycle -----------------------------------------------------------------------------

    def close(self) -> None:
        """Stop turning and close the port (idempotent)."""
        self._closed.set()
        with self._lock:
            self.machine.close()
            self._heartbeat_stopped()
        self._end()
        with contextlib.suppress(Exception):  # a broken port must not hide the real problem
            self.port.close()
        self._fail_waiters()

    def enable_heartbeat(self) -> None:
        now = self._clock()
        with self._lock:
            self.machine.enable_heartbeat(now)
            self._heartbeat_started(now)

    def stop_heartbeat(self) -> None:
        """Stop feeding the pen's watchdog (the pen will stop the needle by itself)."""
        with self._lock:
            self.machine.stop_heartbeat()
            self._heartbeat_stopped()

    def keepalive(self, timeout: float = UI_LEASE_S) -> None:
        """The UI is alive: from the first call on, it must call again within `timeout`
        seconds, or the heartbeat ends and the pen's watchdog stops the needle (a hung UI
        must not leave a needle running that nobody can see or stop). A bad `timeout` raises
        NotAllowed and changes nothing."""
        now = self._clock()
        with self._lock:
            self.machine.keepalive(timeout, now)
            if self.lost is None and not self._closed.is_set():
                self._lease_renewed(now)

    def expect_status(self) -> None:
        """From now on, a silence of `link_timeout` without STATUS means the link is lost."""
        now = self._clock()
        with self._lock:
            self.machine.expect_status(now)

    # --- sending -------------------------------------------------------------------------------

    def next_seq(self) -> int:
        with self._lock:
            return self.machine.next_seq()

    def _write(
        self, frame: bytes | Callable[[], bytes], gate: Callable[[], bool] | None = None
    ) -> None:
        """Write `frame` (or what it makes, asked under `_lock`) in one go, if `gate` says
        yes under the write lock."""
        with self._write_lock:
            if gate is not None and not gate():
                raise Cancelled("Not sent: a stop or an e-stop came first.")
            if isinstance(frame, bytes):
                data = frame
            else:
                with self._lock:
                    data = frame()
            self._port_write(data)
            self.stats.frames_out += 1

    def send(self, msg: Message, seq: int | None = None) -> int:
        """Send without waiting for an answer (STOP on the way out, HEARTBEAT)."""
        if seq is None:
            seq = self.next_seq()
        chosen = seq
        self._write(lambda: self.machine.send(msg, chosen))
        return seq

    def request(
        self,
        msg: Message,
        seq: int | None = None,
        *,
        gate: Callable[[], bool] | None = None,
    ) -> Message:
        """Send `msg` and return its ACK, NACK or INFO; resend up to `resends` times.

        `gate`, when given, is asked under the write lock before the first write and before
        every resend; when it says False nothing more is written and `Cancelled` is raised
        (a START overtaken by a STOP or an e-stop must not reach the pen after it).

        Raises NoAnswer after the last resend, LinkLost/SessionClosed if the link goes first.
        """
        self._check_usable()
        if seq is None:
            seq = self.next_seq()
        chosen = seq
        event = threading.Event()
        with self._lock:
            self._waiters[seq] = event
        try:
            try:
                self._write(lambda: self.machine.request(msg, chosen, self._clock()), gate)
            except Cancelled as exc:
                exc.sent = False
                raise
            self._await_answer(seq, event, gate)
        finally:
            with self._lock:
                self._waiters.pop(seq, None)
                answer = self.machine.answer(seq)
                self.machine.forget(seq)
        if answer is None:  # woken by a failure
            self._check_usable()
            raise SessionClosed("The session is closed.")
        return answer

    def _await_answer(
        self, seq: int, event: threading.Event, gate: Callable[[], bool] | None
    ) -> None:
        """Wait, resend and give up as the machine says, until the answer is in."""
        while not event.is_set():
            with self._lock:
                step = self.machine.follow_up(seq, self._clock())
            if step is None:  # answered, or no longer pending (lost or closed meanwhile)
                return
            if isinstance(step, Wait):
                if not self._wait(event, step.seconds):
                    self._check_usable()
                continue
            if isinstance(step, GiveUp):
                raise NoAnswer(
                    f"The pen did not answer {step.command.name} after {step.resends} "
                    f"resends ({step.waited * 1000:.0f} ms)."
                )
            try:
                self._write(step.data, gate)
            except Cancelled as exc:
                exc.sent = True  # an earlier copy may have reached the pen
                raise

    def send_estop(self) -> int:
        """ESTOP, written at once from the caller's thread; returns its seq without waiting.

        From now until the pen confirms it (an ACK of ESTOP or a STATUS in ESTOP) the e-stop is
        pending: the reader sends it again every `ESTOP_RESEND_S` (each copy with its own seq
        and a leading 0x00, so a partial frame cannot swallow it), also after the link was
        declared lost, and the heartbeat stays off, so at worst the pen's watchdog stops the
        needle. The write lock is waited for briefly only: nothing blocks an e-stop.
        """
        now = self._clock()
        with self._lock:
            seq, data = self.machine.send_estop(now)
            self._heartbeat_stopped()
        self._write_estop(data)
        return seq

    def _write_estop(self, data: bytes) -> None:
        got = self._write_lock.acquire(timeout=ESTOP_WRITE_WAIT_S)
        try:
            self._port_write(data)
            self.stats.frames_out += 1
            self.stats.estops_sent += 1
        finally:
            if got:
                self._write_lock.release()

    def _check_usable(self) -> None:
        if self.lost is not None:
            if isinstance(self.lost, LinkLost | SessionClosed):
                raise self.lost
            raise LinkLost(f"The link to the pen is lost: {self.lost}")
        if self._closed.is_set():
            raise SessionClosed("The session is closed.")

    # --- one turn of the reader ----------------------------------------------------------------

    def poll(self) -> None:
        """One turn of the reader: read what has arrived, dispatch it, send the heartbeat when
        due, and declare the link lost after `link_timeout` without STATUS. Never raises.

        After the link is lost, a pending e-stop keeps the reader turning: it goes on sending
        the e-stop and watching for the pen's confirmation until the port is closed."""
        if self._closed.is_set():
            return
        if self.lost is not None:
            if self.machine.estop_pending:
                self._estop_turn()
            return
        try:
            data = self._read()
            if data:
                self._receive(data)
            self._tick(self._clock())
            if self._silent():
                # A stall of this process (a full collection, a starved CPU) can fall between
                # the read above and this check: what the pen sent meanwhile is waiting unread.
                # Silence is the pen's only if nothing is waiting now.
                self._drain()
            if self._silent():
                raise LinkLost(
                    f"The link to the pen is lost: no telemetry for "
                    f"{self.link_timeout * 1000:.0f} ms."
                )
        except Exception as exc:
            if self._closed.is_set():
                return
            if not isinstance(exc, LinkLost):
                exc = LinkLost(f"The link to the pen is lost: {exc}")
            self._lose(exc)

    def _silent(self) -> bool:
        now = self._clock()
        with self._lock:
            return self.machine.silent(now)

    def _tick(self, now: float) -> None:
        with self._lock:
            heartbeat = self.lost is None and self._host_heartbeats(now)
            out = self.machine.tick(now, heartbeat=heartbeat)
        for item in out:
            if item.estop:
                self._write_estop(item.data)
            else:
                self._write(item.data)

    def _drain(self) -> None:
        """Read and dispatch whatever is waiting on the port, without waiting for more."""
        while data := self._read_now():
            self._receive(data)

    def _receive(self, data: bytes) -> None:
        now = self._clock()
        with self._lock:
            events = self.machine.receive_data(data, now)
            if not events:
                return
            waiters = {
                ev.seq: self._waiters.get(ev.seq) for ev in events if isinstance(ev, Answered)
            }
            if any(isinstance(ev, EstopConfirmed) and ev.heartbeat_on for ev in events):
                self._heartbeat_started(now)
        for ev in events:  # in the order the frames came
            if isinstance(ev, Telemetry):
                self._on_message(ev.message, ev.seq)
            elif isinstance(ev, Answered):
                waiter = waiters.get(ev.seq)
                if waiter is not None:
                    waiter.set()
            elif self._on_estop_confirmed is not None:
                with contextlib.suppress(Exception):
                    self._on_estop_confirmed()

    def _estop_turn(self) -> None:
        """The reader's turn after the link was lost, while an e-stop is pending."""
        try:
            data = self._read()
            if data:
                self._receive(data)
        except Exception:
            self._backoff()
        with contextlib.suppress(Exception):
            self._tick(self._clock())

    def _lose(self, exc: BaseException) -> None:
        self.lost = exc
        with self._lock:
            self.machine.lose()
            self._heartbeat_stopped()
        self._fail_waiters()
        self._on_lost(exc)

    def _fail_waiters(self) -> None:
        with self._lock:
            waiters = list(self._waiters.values())
        for w in waiters:
            w.set()


__all__ = ["ESTOP_WRITE_WAIT_S", "BaseLink"]

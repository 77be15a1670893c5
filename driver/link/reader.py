"""The host end of the serial link: one reader thread, seq-matched answers, resends, heartbeat.

In the style of pyserial's `serial.threaded`: the reader thread owns all reads, decodes frames
with the sans-IO `protocol.Decoder`, hands answers to the waiting caller by seq, and passes
STATUS and EVENT messages to a callback. The same thread sends the heartbeat, so a host whose
reader died stops feeding the pen's watchdog; and it declares the link lost when STATUS stops.
"""

from __future__ import annotations

import contextlib
import math
import random
import threading
import time
from collections.abc import Callable

import protocol
from protocol import Direction, Frame, InvalidFrame, Message, MsgType

from ..errors import Cancelled, LinkLost, NoAnswer, NotAllowed, SessionClosed
from .heartbeat import HOST_LEASE_S, HeartbeatProcess
from .timing import (
    ANSWER_TIMEOUT_S,
    ESTOP_RESEND_S,
    HEARTBEAT_FRAMES,
    HEARTBEAT_PERIOD_S,
    LINK_TIMEOUT_S,
    RESENDS,
    UI_LEASE_MAX_S,
    UI_LEASE_S,
    Clock,
    LinkStats,
    _answer_matches,
    _Waiter,
)
from .transport import FdPort, Port


class Link:
    """Framed, acknowledged commands over an open pyserial port.

    `on_message(msg)` is called from the reader thread for STATUS and EVENT messages;
    `on_lost(exc)` once, when the link is declared lost (silence, port error or close).

    With `idle` given, the link runs without a thread on a virtual clock (for QA and soak runs):
    the caller drives it with `poll()`, and whenever the link has to wait it calls
    `idle(seconds)`, which advances the virtual clock (and with it the simulated pen).
    """

    def __init__(
        self,
        port: Port,
        on_message: Callable[[Message, int], None],
        on_lost: Callable[[BaseException], None],
        *,
        clock: Clock = time.monotonic,
        answer_timeout: float = ANSWER_TIMEOUT_S,
        resends: int = RESENDS,
        heartbeat_period: float = HEARTBEAT_PERIOD_S,
        link_timeout: float = LINK_TIMEOUT_S,
        idle: Callable[[float], None] | None = None,
        rng: random.Random | None = None,
        on_estop_confirmed: Callable[[], None] | None = None,
    ) -> None:
        self.port = port
        self._idle = idle
        #: a local device or pty: the reader thread reads and writes its fd directly
        self._fd = FdPort.of(port) if idle is None else None
        self._on_message = on_message
        self._on_lost = on_lost
        self._clock = clock
        self.answer_timeout = answer_timeout
        self.resends = resends
        self.heartbeat_period = heartbeat_period
        self.link_timeout = link_timeout
        self.decoder = protocol.Decoder(Direction.HOST)
        self.stats = LinkStats()
        #: where the first seq and the HELLO nonce come from: a seeded `random.Random` makes a
        #: QA run repeat byte for byte; the default is the operating system's randomness
        self.rng: random.Random = rng if rng is not None else random.SystemRandom()
        self._seq = protocol.SeqCounter(self.rng.getrandbits(16))
        self._on_estop_confirmed = on_estop_confirmed
        #: an e-stop was sent and the pen has not confirmed it yet (see `send_estop`)
        self.estop_pending = False
        self._estop_next = 0.0
        self._seq_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._waiters: dict[int, _Waiter] = {}
        self._waiters_lock = threading.Lock()
        self._first_write = True
        self._heartbeat_on = False
        self._last_heartbeat = 0.0
        #: the child process that heartbeats on a local device or pty (see `start`)
        self.keeper: HeartbeatProcess | None = None
        #: when the UI's lease runs out (None: no UI keeps one)
        self._ui_deadline: float | None = None
        self._status_deadline: float | None = None
        self._last_status_seq: int | None = None
        self._stop = threading.Event()
        self.lost: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="needlepen-reader", daemon=True)

    # --- lifecycle ---------------------------------------------------------------------------

    @property
    def threaded(self) -> bool:
        return self._idle is None

    def start(self) -> None:
        if self.threaded:
            if self._fd is not None:
                frames = [
                    b"\x00" + protocol.encode(protocol.Heartbeat(), self.next_seq())
                    for _ in range(HEARTBEAT_FRAMES)
                ]
                self.keeper = HeartbeatProcess.start(self._fd.fd, frames, self.heartbeat_period)
            self._thread.start()

    @property
    def alive(self) -> bool:
        running = self._thread.is_alive() if self.threaded else not self._stop.is_set()
        return running and self.lost is None

    def close(self) -> None:
        """Stop the reader thread and close the port (idempotent)."""
        self._stop.set()
        self._heartbeat_off()
        if self.keeper is not None:
            self.keeper.close()
        if (
            self.threaded
            and self._thread.is_alive()
            and threading.current_thread() is not self._thread
        ):
            self._thread.join(timeout=1.0)
        with contextlib.suppress(Exception):  # a broken port must not hide the real problem
            self.port.close()
        self._fail_waiters(SessionClosed("The session is closed."))

    def enable_heartbeat(self) -> None:
        now = self._clock()
        self._last_heartbeat = now
        self._heartbeat_on = True
        if self.keeper is not None:
            self.keeper.renew(self._lease_until(now), now, force=True)
            self.keeper.set_on(True)

    @property
    def heartbeat_on(self) -> bool:
        return self._heartbeat_on

    def stop_heartbeat(self) -> None:
        """Stop feeding the pen's watchdog (the pen will stop the needle by itself)."""
        self._heartbeat_off()

    def _heartbeat_off(self) -> None:
        self._heartbeat_on = False
        if self.keeper is not None:
            self.keeper.set_on(False)

    def keepalive(self, timeout: float = UI_LEASE_S) -> None:
        """The UI is alive: from the first call on, it must call again within `timeout`
        seconds, or the heartbeat ends and the pen's watchdog stops the needle (a hung UI
        must not leave a needle running that nobody can see or stop)."""
        if (
            isinstance(timeout, bool)
            or not isinstance(timeout, int | float)
            or not math.isfinite(timeout)
            or not 0 < timeout <= UI_LEASE_MAX_S
        ):
            raise NotAllowed(
                f"A UI's keepalive timeout must be a number of seconds above 0 and at most "
                f"{UI_LEASE_MAX_S:g}."
            )
        now = self._clock()
        self._ui_deadline = now + timeout
        if self.keeper is not None and self.lost is None and not self._stop.is_set():
            self.keeper.renew(self._lease_until(now), now, force=True)

    def _lease_until(self, now: float) -> float:
        """Until when the heartbeat may go on without news from this process: HOST_LEASE_S
        from the reader's last turn, and never past the UI's lease."""
        until = now + HOST_LEASE_S
        ui = self._ui_deadline
        return until if ui is None else min(until, ui)

    def expect_status(self) -> None:
        """From now on, a silence of `link_timeout` without STATUS means the link is lost."""
        self._status_deadline = self._clock() + self.link_timeout + self.answer_timeout

    # --- sending -----------------------------------------------------------------------------

    def next_seq(self) -> int:
        with self._seq_lock:
            return self._seq.next()

    def _write(self, data: bytes, gate: Callable[[], bool] | None = None) -> None:
        with self._write_lock:
            if gate is not None and not gate():
                raise Cancelled("Not sent: a stop or an e-stop came first.")
            if self._first_write:
                data = b"\x00" + data
                self._first_write = False
            self._port_write(data)
            self.stats.frames_out += 1

    def send(self, msg: Message, seq: int | None = None) -> int:
        """Send without waiting for an answer (HEARTBEAT)."""
        if seq is None:
            seq = self.next_seq()
        self._write(protocol.encode(msg, seq))
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
        frame = protocol.encode(msg, seq)
        waiter = _Waiter(msg.TYPE)
        with self._waiters_lock:
            self._waiters[seq] = waiter
        try:
            for attempt in range(self.resends + 1):
                try:
                    if attempt:
                        self.stats.resends += 1
                        # flush any partial frame at the pen first
                        self._write(b"\x00" + frame, gate)
                    else:
                        self._write(frame, gate)
                except Cancelled as exc:
                    exc.sent = attempt > 0  # an earlier copy may have reached the pen
                    raise
                if self._wait(waiter.event, self.answer_timeout):
                    break
                self._check_usable()
            else:
                raise NoAnswer(
                    f"The pen did not answer {msg.TYPE.name} after {self.resends} resends "
                    f"({(self.resends + 1) * self.answer_timeout * 1000:.0f} ms)."
                )
        finally:
            with self._waiters_lock:
                self._waiters.pop(seq, None)
        if waiter.answer is None:  # woken by a failure
            self._check_usable()
            raise SessionClosed("The session is closed.")
        return waiter.answer

    def send_estop(self) -> int:
        """ESTOP, written at once from the caller's thread; returns its seq without waiting.

        From now until the pen confirms it (an ACK of ESTOP or a STATUS in ESTOP) the e-stop is
        pending: the reader sends it again every `ESTOP_RESEND_S` (each copy with its own seq
        and a leading 0x00, so a partial frame cannot swallow it), also after the link was
        declared lost, and the heartbeat stays off, so at worst the pen's watchdog stops the
        needle. The write lock is taken with a short timeout only: nothing blocks an e-stop.
        """
        self.estop_pending = True
        self._heartbeat_off()
        return self._write_estop()

    def _write_estop(self) -> int:
        seq = self.next_seq()
        frame = b"\x00" + protocol.encode(protocol.Estop(), seq)
        self._estop_next = self._clock() + ESTOP_RESEND_S
        got = self._write_lock.acquire(timeout=0.005)
        try:
            self._port_write(frame)
            self.stats.frames_out += 1
            self.stats.estops_sent += 1
        finally:
            if got:
                self._write_lock.release()
        return seq

    def _estop_confirmed(self) -> None:
        if not self.estop_pending:
            return
        self.estop_pending = False
        if self.lost is None and not self._stop.is_set():
            self.enable_heartbeat()
        if self._on_estop_confirmed is not None:
            with contextlib.suppress(Exception):
                self._on_estop_confirmed()

    def _port_write(self, data: bytes) -> None:
        if self._fd is not None:
            self._fd.write(data)
        else:
            self.port.write(data)

    def _wait(self, event: threading.Event, timeout: float) -> bool:
        if self._idle is None:
            return event.wait(timeout)
        deadline = self._clock() + timeout
        while True:
            self.poll()
            if event.is_set():
                return True
            left = deadline - self._clock()
            if left <= 0 or self.lost is not None:
                return event.is_set()
            self._idle(min(left, 0.001))

    def _check_usable(self) -> None:
        if self.lost is not None:
            if isinstance(self.lost, LinkLost | SessionClosed):
                raise self.lost
            raise LinkLost(f"The link to the pen is lost: {self.lost}")
        if self._stop.is_set():
            raise SessionClosed("The session is closed.")

    # --- the reader thread -------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set() and (self.lost is None or self.estop_pending):
            self.poll()

    def poll(self) -> None:
        """One turn of the reader: read what has arrived, dispatch it, send the heartbeat when
        due, and declare the link lost after `link_timeout` without STATUS. Never raises.

        After the link is lost, a pending e-stop keeps the reader turning: it goes on sending
        the e-stop and watching for the pen's confirmation until the port is closed."""
        if self._stop.is_set():
            return
        if self.lost is not None:
            if self.estop_pending:
                self._estop_turn()
            return
        try:
            if self._fd is not None:
                data = self._fd.read()
            else:
                n = self.port.in_waiting
                data = self.port.read(n if n > 0 else 1)
            if data:
                self._feed(data)
            now = self._clock()
            if self.estop_pending and now >= self._estop_next:
                self._write_estop()
            self._heartbeat_turn(now)
            if self._status_deadline is not None and now > self._status_deadline:
                # A stall of this process (a full collection, a starved CPU) can fall between
                # the read above and this check: what the pen sent meanwhile is waiting unread.
                # Silence is the pen's only if nothing is waiting now.
                self._drain()
            if self._status_deadline is not None and self._clock() > self._status_deadline:
                raise LinkLost(
                    f"The link to the pen is lost: no telemetry for "
                    f"{self.link_timeout * 1000:.0f} ms."
                )
        except Exception as exc:
            if self._stop.is_set():
                return
            if not isinstance(exc, LinkLost):
                exc = LinkLost(f"The link to the pen is lost: {exc}")
            self._lose(exc)

    def _drain(self) -> None:
        """Read and dispatch whatever is waiting on the port, without waiting for more."""
        while True:
            if self._fd is not None:
                data = self._fd.read(0.0)
            else:
                n = self.port.in_waiting
                data = self.port.read(n) if n > 0 else b""
            if not data:
                return
            self._feed(data)

    def _heartbeat_turn(self, now: float) -> None:
        """Renew the child's lease, or (no child, or not up yet) heartbeat from here."""
        keeper = self.keeper
        if keeper is not None and keeper.ready:
            keeper.renew(self._lease_until(now), now)
            return
        if not self._heartbeat_on or now - self._last_heartbeat < self.heartbeat_period:
            return
        if self._ui_deadline is not None and now > self._ui_deadline:
            return  # the UI hangs: let the pen's watchdog stop the needle
        self._last_heartbeat = now
        self.send(protocol.Heartbeat())

    def _estop_turn(self) -> None:
        """The reader's turn after the link was lost, while an e-stop is pending."""
        try:
            if self._fd is not None:
                data = self._fd.read()
            else:
                n = self.port.in_waiting
                data = self.port.read(n if n > 0 else 1)
            if data:
                self._feed(data)
        except Exception:
            if self._idle is None:
                time.sleep(ESTOP_RESEND_S / 4)  # a broken port: keep trying, gently
        if self.estop_pending and self._clock() >= self._estop_next:
            with contextlib.suppress(Exception):
                self._write_estop()

    def _lose(self, exc: BaseException) -> None:
        self.lost = exc
        self._heartbeat_off()
        self._fail_waiters(exc)
        self._on_lost(exc)

    def _fail_waiters(self, exc: BaseException) -> None:
        with self._waiters_lock:
            waiters = list(self._waiters.values())
        for w in waiters:
            w.event.set()

    def _feed(self, data: bytes) -> None:
        for item in self.decoder.feed(data):
            if isinstance(item, InvalidFrame):
                self.stats.invalid_frames += 1
                continue
            self._dispatch(item)

    def _dispatch(self, frame: Frame) -> None:
        msg = frame.message
        self.stats.frames_in += 1
        kind = msg.TYPE
        if kind is MsgType.STATUS or kind is MsgType.EVENT:
            # STATUS and EVENT are numbered by one counter of the pen's: a gap is a lost frame,
            # the same number again a duplicate (dropped), a number behind a late frame.
            last = self._last_status_seq
            if last is not None:
                if frame.seq == last:
                    self.stats.duplicates += 1
                    return
                gap = protocol.seq_gap(last, frame.seq)
                if gap < 0x8000:
                    self.stats.status_gaps += gap
                    self._last_status_seq = frame.seq
            else:
                self._last_status_seq = frame.seq
        if kind is MsgType.STATUS:
            if self._status_deadline is not None:
                self._status_deadline = self._clock() + self.link_timeout
            if (
                self.estop_pending
                and isinstance(msg, protocol.Status)
                and msg.state == protocol.State.ESTOP
            ):
                self._estop_confirmed()
            if self.lost is not None:
                return  # after the link was lost only the e-stop's confirmation matters
            self._on_message(msg, frame.seq)
        elif kind is MsgType.EVENT:
            if self.lost is None:
                self._on_message(msg, frame.seq)
        else:  # ACK, NACK, INFO: an answer to one of our commands
            if isinstance(msg, protocol.Ack) and msg.of_type == MsgType.ESTOP:
                self._estop_confirmed()
                return
            with self._waiters_lock:
                waiter = self._waiters.get(frame.seq)
            expected = _answer_matches(waiter.command, msg) if waiter else False
            if waiter is None or not expected or waiter.event.is_set():
                self.stats.stray_answers += 1
                return
            waiter.answer = msg
            waiter.event.set()

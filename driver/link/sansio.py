"""The host end of the link as a sans-IO state machine: bytes and time in, events and bytes out.

In the manner of h11's `Connection`, and of pyserial's `threaded.Protocol` kept apart from the
thread that pumps it: `HostProtocol` holds every rule of the wire on the host's side and no
port, thread or clock. A driver hands it what the port gave (`receive_data(data, now)`), turns
it (`tick(now)`) and writes the bytes it hands back. Two drivers exist: the threaded reader
(`reader.Link`: real ports, ptys, `sim://`) and the virtual-clock pump (`virtual.VirtualLink`).
Time is whatever the driver's clock says; the machine only compares the numbers it is given.

What it decides:
- sequence numbers (the first drawn from `rng`) and the leading 0x00 of the first frame out;
- which answer belongs to which request: same seq and the right type (ACK or NACK of the
  command, INFO for HELLO); anything else is a stray, counted and dropped;
- what happens to a request whose answer is late (`follow_up`): `Wait`, `Resend` (a leading
  0x00 flushes a partial frame at the pen) or `GiveUp` after `resends` resends;
- STATUS and EVENT share one counter of the pen's: a gap is a lost frame, the same number
  again a duplicate (dropped), a number behind a late frame;
- the heartbeat: every `heartbeat_period` while on, never past the UI's lease (`keepalive`);
- the e-stop: from `send_estop` until the pen confirms it (an ACK of ESTOP or a STATUS in
  ESTOP) it is pending, the heartbeat is off and `tick` sends a fresh copy every
  ESTOP_RESEND_S, also after the link was declared lost; `EstopConfirmed` when it is;
- the link check: after `expect_status`, `link_timeout` without STATUS makes `silent(now)`.

Not thread-safe: a driver with several threads holds one lock around every call. No call
blocks or calls back, so that lock is held for microseconds.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import protocol
from protocol import Direction, Frame, InvalidFrame, Message, MsgType

from ..errors import NotAllowed
from .timing import (
    ANSWER_TIMEOUT_S,
    ESTOP_RESEND_S,
    HEARTBEAT_PERIOD_S,
    HOST_LEASE_S,
    LINK_TIMEOUT_S,
    RESENDS,
    UI_LEASE_MAX_S,
    LinkStats,
)

# --- what the machine hands back (frozen values; don't subclass them) ----------------------


@dataclass(frozen=True, slots=True)
class Telemetry:
    """A STATUS or EVENT for the session (none after the link was declared lost)."""

    message: Message
    seq: int


@dataclass(frozen=True, slots=True)
class Answered:
    """The answer to the pending request `seq` arrived (also kept: `HostProtocol.answer`)."""

    seq: int
    message: Message


@dataclass(frozen=True, slots=True)
class EstopConfirmed:
    """The pen confirmed the pending e-stop; `heartbeat_on`: the heartbeat resumed with it
    (not after the link was lost or closed)."""

    heartbeat_on: bool


LinkEvent = Telemetry | Answered | EstopConfirmed


@dataclass(frozen=True, slots=True)
class Outgoing:
    """Bytes `tick` wants written: a heartbeat, or a copy of the pending e-stop (`estop`),
    which a driver writes even when its write lock is busy."""

    data: bytes
    estop: bool


@dataclass(frozen=True, slots=True)
class Wait:
    """The request's answer is not due yet: wait up to `seconds` more for it."""

    seconds: float


@dataclass(frozen=True, slots=True)
class Resend:
    """The answer is overdue: write `data` (copy number `attempt`, 1-based) and wait again."""

    seq: int
    attempt: int
    data: bytes


@dataclass(frozen=True, slots=True)
class GiveUp:
    """No answer after `resends` resends, `waited` seconds in all: the request failed."""

    seq: int
    command: MsgType
    resends: int
    waited: float


FollowUp = Wait | Resend | GiveUp


def answers(command: MsgType, msg: Message) -> bool:
    """Whether `msg` is an answer of the kind `command` gets (INFO to HELLO, ACK or NACK of
    the command's own type to anything else)."""
    if isinstance(msg, protocol.Info):
        return command is MsgType.HELLO
    if isinstance(msg, protocol.Ack | protocol.Nack):
        return msg.of_type == command
    return False


@dataclass(slots=True)
class _Pending:
    command: MsgType
    frame: bytes  # the encoded request, without a leading 0x00
    deadline: float
    attempts: int = 0  # resends so far
    answer: Message | None = None


class HostProtocol:
    """The host's side of the wire protocol, without I/O (see the module's docstring)."""

    def __init__(
        self,
        *,
        rng: random.Random | None = None,
        answer_timeout: float = ANSWER_TIMEOUT_S,
        resends: int = RESENDS,
        heartbeat_period: float = HEARTBEAT_PERIOD_S,
        link_timeout: float = LINK_TIMEOUT_S,
    ) -> None:
        #: where the first seq (and the session's HELLO nonce) come from: a seeded
        #: `random.Random` makes a run repeat byte for byte; the default is the operating
        #: system's randomness
        self.rng: random.Random = rng if rng is not None else random.SystemRandom()
        self.answer_timeout = answer_timeout
        self.resends = resends
        self.heartbeat_period = heartbeat_period
        self.link_timeout = link_timeout
        self.decoder = protocol.Decoder(Direction.HOST)
        self.stats = LinkStats()
        self._seq = protocol.SeqCounter(self.rng.getrandbits(16))
        self._pending: dict[int, _Pending] = {}
        self._first_out = True
        self.heartbeat_on = False
        self._last_heartbeat = 0.0
        #: when the UI's lease runs out (None: no UI keeps one)
        self.ui_deadline: float | None = None
        #: when STATUS is overdue (None: not watched yet, see `expect_status`)
        self.status_deadline: float | None = None
        self._last_status_seq: int | None = None
        #: an e-stop was sent and the pen has not confirmed it yet
        self.estop_pending = False
        self._estop_next = 0.0
        self.lost = False
        self.closed = False

    # --- sending -----------------------------------------------------------------------------

    def next_seq(self) -> int:
        return self._seq.next()

    def send(self, msg: Message, seq: int | None = None) -> bytes:
        """The bytes of `msg` (a fresh seq unless given)."""
        return self._out(protocol.encode(msg, self.next_seq() if seq is None else seq))

    def request(self, msg: Message, seq: int, now: float) -> bytes:
        """The bytes of `msg`, now pending: its answer is expected `answer_timeout` from
        `now` (see `follow_up`), matched by `seq` and by type."""
        if seq in self._pending:
            raise ValueError(f"seq {seq} is already pending")
        frame = protocol.encode(msg, seq)
        self._pending[seq] = _Pending(msg.TYPE, frame, now + self.answer_timeout)
        return self._out(frame)

    def _out(self, frame: bytes) -> bytes:
        """The first frame out gets a leading 0x00: it ends whatever partial frame the pen
        may hold from before."""
        if self._first_out:
            self._first_out = False
            return b"\x00" + frame
        return frame

    def follow_up(self, seq: int, now: float) -> FollowUp | None:
        """What to do about the pending request `seq` at `now`: None once it is answered (or
        is not pending), else `Wait`, `Resend` or `GiveUp` (see the classes)."""
        p = self._pending.get(seq)
        if p is None or p.answer is not None:
            return None
        if now < p.deadline:
            return Wait(p.deadline - now)
        if p.attempts >= self.resends:
            waited = (self.resends + 1) * self.answer_timeout
            return GiveUp(seq, p.command, self.resends, waited)
        p.attempts += 1
        p.deadline = now + self.answer_timeout
        self.stats.resends += 1
        return Resend(seq, p.attempts, b"\x00" + p.frame)

    def answer(self, seq: int) -> Message | None:
        p = self._pending.get(seq)
        return p.answer if p is not None else None

    def forget(self, seq: int) -> None:
        """The request `seq` is over (answered, given up or cancelled): a later answer to it
        is a stray."""
        self._pending.pop(seq, None)

    @property
    def pending(self) -> frozenset[int]:
        """The seqs of the requests still pending."""
        return frozenset(self._pending)

    def reserve_heartbeats(self, n: int) -> list[bytes]:
        """`n` HEARTBEAT frames, each with a leading 0x00 and a seq of its own taken from the
        host's counter, for someone else to write (the heartbeat child process)."""
        return [b"\x00" + protocol.encode(protocol.Heartbeat(), self.next_seq()) for _ in range(n)]

    def send_estop(self, now: float) -> tuple[int, bytes]:
        """An ESTOP frame (its seq and bytes, with a leading 0x00); the e-stop is pending from
        now until the pen confirms it, and the heartbeat is off meanwhile."""
        self.estop_pending = True
        self.heartbeat_on = False
        return self._estop_frame(now)

    def _estop_frame(self, now: float) -> tuple[int, bytes]:
        seq = self.next_seq()
        self._estop_next = now + ESTOP_RESEND_S
        return seq, b"\x00" + protocol.encode(protocol.Estop(), seq)

    # --- the heartbeat, the UI's lease, the link check ---------------------------------------

    def enable_heartbeat(self, now: float) -> None:
        """Heartbeat from now on (the first one a period from `now`)."""
        self._last_heartbeat = now
        self.heartbeat_on = True

    def stop_heartbeat(self) -> None:
        self.heartbeat_on = False

    def keepalive(self, timeout: float, now: float) -> None:
        """The UI is alive: it must call again within `timeout` seconds of `now`, or the
        heartbeat ends. A bad `timeout` raises NotAllowed and changes nothing."""
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
        self.ui_deadline = now + timeout

    def lease_until(self, now: float) -> float:
        """Until when a heartbeat may go on without news from the host: HOST_LEASE_S from
        `now`, and never past the UI's lease."""
        until = now + HOST_LEASE_S
        ui = self.ui_deadline
        return until if ui is None else min(until, ui)

    def expect_status(self, now: float) -> None:
        """From now on, `link_timeout` without STATUS makes the link silent (the first
        STATUS gets one `answer_timeout` more)."""
        self.status_deadline = now + self.link_timeout + self.answer_timeout

    def silent(self, now: float) -> bool:
        """STATUS is overdue at `now`: the link is lost, unless what the pen sent is still
        waiting unread (a driver reads everything waiting before it believes this)."""
        return self.status_deadline is not None and now > self.status_deadline

    def tick(self, now: float, *, heartbeat: bool = True) -> list[Outgoing]:
        """What is due at `now`: a copy of the pending e-stop, and a heartbeat (unless
        `heartbeat` is False: someone else, the child process, heartbeats)."""
        out: list[Outgoing] = []
        if self.closed:
            return out
        if self.estop_pending and now >= self._estop_next:
            out.append(Outgoing(self._estop_frame(now)[1], estop=True))
        if self.lost or not heartbeat or not self.heartbeat_on:
            return out
        if now - self._last_heartbeat < self.heartbeat_period:
            return out
        if self.ui_deadline is not None and now > self.ui_deadline:
            return out  # the UI hangs: let the pen's watchdog stop the needle
        self._last_heartbeat = now
        out.append(Outgoing(self.send(protocol.Heartbeat()), estop=False))
        return out

    # --- the end -----------------------------------------------------------------------------

    def lose(self) -> None:
        """The link is lost: no heartbeat, no telemetry, no answers any more; a pending
        e-stop goes on being sent (`tick`) and its confirmation is still heard."""
        self.lost = True
        self.heartbeat_on = False
        for p in self._pending.values():
            p.answer = None
        self._pending.clear()

    def close(self) -> None:
        """The driver closed the port: nothing more is sent or received."""
        self.closed = True
        self.heartbeat_on = False
        self._pending.clear()

    # --- receiving ---------------------------------------------------------------------------

    def receive_data(self, data: bytes, now: float) -> list[LinkEvent]:
        """Take the next bytes from the pen (any chunking; garbage is counted and skipped);
        return what they complete, in order."""
        events: list[LinkEvent] = []
        if self.closed:
            return events
        for item in self.decoder.feed(data):
            if isinstance(item, InvalidFrame):
                self.stats.invalid_frames += 1
                continue
            self._dispatch(item, now, events)
        return events

    def _dispatch(self, frame: Frame, now: float, events: list[LinkEvent]) -> None:
        msg = frame.message
        self.stats.frames_in += 1
        kind = msg.TYPE
        if kind is MsgType.STATUS or kind is MsgType.EVENT:
            if not self._count_unsolicited(frame.seq):
                return
            if kind is MsgType.STATUS:
                if self.status_deadline is not None:
                    self.status_deadline = now + self.link_timeout
                if isinstance(msg, protocol.Status) and msg.state == protocol.State.ESTOP:
                    self._estop_confirmed(now, events)
            if not self.lost:  # after the loss only the e-stop's confirmation matters
                events.append(Telemetry(msg, frame.seq))
            return
        # ACK, NACK, INFO: an answer to one of our commands
        if isinstance(msg, protocol.Ack) and msg.of_type == MsgType.ESTOP:
            self._estop_confirmed(now, events)
            return
        p = self._pending.get(frame.seq)
        if p is None or p.answer is not None or not answers(p.command, msg):
            self.stats.stray_answers += 1
            return
        p.answer = msg
        events.append(Answered(frame.seq, msg))

    def _count_unsolicited(self, seq: int) -> bool:
        """Count a STATUS or EVENT against the pen's counter; False for a duplicate."""
        last = self._last_status_seq
        if last is None:
            self._last_status_seq = seq
            return True
        if seq == last:
            self.stats.duplicates += 1
            return False
        gap = protocol.seq_gap(last, seq)
        if gap < 0x8000:  # ahead of the last one (a number behind it is a late frame)
            self.stats.status_gaps += gap
            self._last_status_seq = seq
        return True

    def _estop_confirmed(self, now: float, events: list[LinkEvent]) -> None:
        if not self.estop_pending:
            return
        self.estop_pending = False
        resume = not self.lost and not self.closed
        if resume:
            self.enable_heartbeat(now)
        events.append(EstopConfirmed(heartbeat_on=resume))


__all__ = [
    "Answered",
    "EstopConfirmed",
    "FollowUp",
    "GiveUp",
    "HostProtocol",
    "LinkEvent",
    "Outgoing",
    "Resend",
    "Telemetry",
    "Wait",
    "answers",
]

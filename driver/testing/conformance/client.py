"""A minimal ICD v1 host for the conformance suite: the `protocol` package and pyserial only.

It uses nothing of the driver or the simulator, so it checks a real pen exactly as it checks
the software one. One background thread reads the port, stamps every frame with its arrival
time and, while `keepalive` is on, sends HEARTBEAT whenever 100 ms passed without a valid
frame (as the driver does). The test thread sends commands and waits for what it expects.

The client also keeps the books a conformance run needs: how many answers each seq is owed
(every command except HEARTBEAT is answered exactly once, resends included), whether the pen
ever sent a frame that does not decode, and whether its own STATUS/EVENT counter skipped.
`violations()` lists what went wrong, one sentence each.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import protocol
from protocol import (
    Ack,
    Decoder,
    Direction,
    Event,
    EventCode,
    Frame,
    Heartbeat,
    Hello,
    Info,
    InvalidFrame,
    Message,
    MsgType,
    Nack,
    NackError,
    SeqCounter,
    SetTelemetry,
    State,
    Status,
)
from protocol.codec import encode_raw

from .books import STARVED_FRACTION, BookKeeping
from .received import (
    ConformanceError,
    LentPort,
    Predicate,
    Received,
    T,
    describe,
    describe_answer,
    is_event,
    is_status,
    status_where,
)

__all__ = [
    "ANSWER_TIMEOUT_S",
    "STARVED_FRACTION",
    "ConformanceError",
    "PenClient",
    "Predicate",
    "Received",
    "describe",
    "describe_answer",
    "is_event",
    "is_status",
    "status_where",
]

#: How long the suite waits for any answer. Generous on purpose: a bound on a behaviour (the
#: pen answers at all), not a performance figure. The driver itself resends after 50 ms.
ANSWER_TIMEOUT_S = 1.0
#: The host's heartbeat period (ICD: the host feeds the watchdog; the driver uses 100 ms).
HEARTBEAT_PERIOD_S = 0.100
#: How long one read of the port may block, so heartbeats stay on time.
READ_TIMEOUT_S = 0.005
BAUDRATE = 115200
#: The type of the probe: an intact frame of a type nobody defines (see `PenClient.probe`).
PROBE_TYPE = 0x7F


class PenClient(BookKeeping):
    """The host end of one open port. Start it with `start()`; `close()` releases the port."""

    def __init__(self, port: Any, label: str) -> None:
        self.port = port
        self.label = label
        self.decoder = Decoder(Direction.HOST)
        self.info: Info | None = None
        self.telemetry_hz = 0
        self._seq = SeqCounter(int.from_bytes(os.urandom(2), "little"))
        self._cond = threading.Condition()
        self._inbox: list[Received] = []
        self._write_lock = threading.Lock()
        self._keepalive = False
        self._last_valid_tx = time.monotonic()
        self._owed: Counter[int] = Counter()
        self._answered: Counter[int] = Counter()
        self._stray: list[str] = []
        self._pen_errors: list[str] = []
        #: index of the latest answer to a request (STATUS after it shows the pen after it)
        self.last_answer_index = -1
        self._error: BaseException | None = None
        #: our own silences: the longest gap (s) between two valid frames we wrote while the
        #: heartbeat was on, and when it ended (a starved test process shows here)
        self.longest_gap_s = 0.0
        self.longest_gap_at = 0.0
        #: decode drops, as (time, inbox index of the next frame, how many)
        self._drop_log: list[tuple[float, int, int]] = []
        #: drops forgiven because the pen was power-cycled (a frame cut on the wire)
        self.forgiven_drops = 0
        #: inbox index from which a frame cut by a port hand-over is forgiven (see `lend`)
        self._handover_from: int | None = None
        self._stop = threading.Event()
        self._thread = self._reader()

    def _reader(self) -> threading.Thread:
        return threading.Thread(target=self._run, name="conformance-reader", daemon=True)

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> PenClient:
        self._thread.start()
        return self

    def close(self) -> None:
        self.keepalive = False
        self._stop.set()
        self._thread.join(timeout=2.0)
        with contextlib.suppress(Exception):  # a failing close must not hide a test's result
            self.port.close()

    @contextlib.contextmanager
    def lend(self) -> Iterator[Any]:
        """Hand the open port to another host (the driver, for the host-compatibility checks)
        and take it back afterwards.

        While lent, this client neither reads nor writes, so the other host owns the line.
        Its frames are not in this client's books; on return a frame cut by the hand-over
        (half read by one host, half by the other) is forgiven, and the counter rule starts
        afresh.
        """
        self.keepalive = False
        self._stop.set()
        self._thread.join(timeout=2.0)
        try:
            yield LentPort(self.port)
        finally:
            with self._cond:
                self.decoder = Decoder(Direction.HOST)
                self._handover_from = len(self._inbox)
                self.info = None  # the other host opened its own session
            self._stop = threading.Event()
            self._thread = self._reader()
            self._thread.start()

    # --- the reader thread -----------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                waiting = self.port.in_waiting
                data = self.port.read(waiting if waiting > 0 else 1)
            except Exception as exc:
                with self._cond:
                    self._error = exc
                    self._cond.notify_all()
                return
            now = time.monotonic()
            if data:
                self._feed(bytes(data), now)
            if self._keepalive and now - self._last_valid_tx >= HEARTBEAT_PERIOD_S:
                with self._write_lock:
                    if self._keepalive:
                        self._write_locked(protocol.encode(Heartbeat(), self._seq.next()), True)

    def _feed(self, data: bytes, now: float) -> None:
        with self._cond:
            got = False
            # one frame at a time, so a drop is placed exactly between the frames around it
            pieces = data.split(b"\x00")
            for n, piece in enumerate(pieces):
                chunk = piece if n == len(pieces) - 1 else piece + b"\x00"
                if not chunk:
                    continue
                before = self.decoder.drops.total()
                items = self.decoder.feed(chunk)
                dropped = self.decoder.drops.total() - before
                if dropped:
                    self._drop_log.append((now, len(self._inbox), dropped))
                for item in items:
                    self._account(item)
                    self._inbox.append(Received(len(self._inbox), now, item))
                    got = True
            if got:
                self._cond.notify_all()

    def _account(self, item: Frame | InvalidFrame) -> None:
        if isinstance(item, InvalidFrame):
            self._pen_errors.append(
                f"The pen sent an intact frame the ICD does not define (type "
                f"0x{item.type_code:02x}, {item.payload_len} payload bytes, seq {item.seq})."
            )
            return
        msg = item.message
        if isinstance(msg, Ack | Nack | Info):
            self._answered[item.seq] += 1
            if self._answered[item.seq] > self._owed[item.seq]:
                self._stray.append(
                    f"The pen sent {describe_answer(msg)} with seq {item.seq}, which no "
                    "command of ours was waiting for (an answer too many)."
                )
            return
        # STATUS and EVENT carry the pen's own counter, judged in `violations` (rules.py).
        if isinstance(msg, Event) and msg.code == EventCode.BOOT:
            self.telemetry_hz = 0  # telemetry is off after boot

    # --- sending ---------------------------------------------------------------------------

    def next_seq(self) -> int:
        with self._write_lock:
            return self._seq.next()

    def set_next_seq(self, seq: int) -> None:
        """Make the next command use `seq` (the counter wraps from 65535 to 0 on its own)."""
        with self._write_lock:
            self._seq = SeqCounter(seq)

    def _write_locked(self, data: bytes, valid: bool) -> None:
        self.port.write(data)
        if valid:
            now = time.monotonic()
            if self._keepalive and now - self._last_valid_tx > self.longest_gap_s:
                self.longest_gap_s = now - self._last_valid_tx
                self.longest_gap_at = now
            self._last_valid_tx = now

    def send(self, msg: Message, seq: int | None = None, *, flush: bool = False) -> int:
        """Write `msg` (with a leading 0x00 if `flush`); an answer is owed unless HEARTBEAT."""
        with self._write_lock:
            if seq is None:
                seq = self._seq.next()
            if not isinstance(msg, Heartbeat):
                self._owe(seq)
            frame = protocol.encode(msg, seq)
            self._write_locked(b"\x00" + frame if flush else frame, True)
        return seq

    def send_raw(self, data: bytes, *, owed: Iterable[int] = (), valid: bool = False) -> None:
        """Write bytes as they are. `owed`: the seqs of the answers the pen owes for them (one
        per intact frame in `data`). `valid`: they hold a valid frame (which feeds the
        watchdog, so no heartbeat is due).
        """
        with self._write_lock:
            for seq in owed:
                self._owe(seq)
            self._write_locked(bytes(data), valid)

    def _owe(self, seq: int) -> None:
        with self._cond:
            self._owed[seq] += 1

    @property
    def keepalive(self) -> bool:
        return self._keepalive

    @keepalive.setter
    def keepalive(self, on: bool) -> None:
        with self._write_lock:
            if on and not self._keepalive:
                self._last_valid_tx = time.monotonic() - HEARTBEAT_PERIOD_S  # one at once
            self._keepalive = on

    def go_quiet(self) -> float:
        """Stop the heartbeat; return when the last valid frame was written (monotonic)."""
        with self._write_lock:
            self._keepalive = False
            return self._last_valid_tx

    # --- receiving -------------------------------------------------------------------------

    def mark(self) -> int:
        """The index the next frame from the pen will get (a place to wait from)."""
        with self._cond:
            return len(self._inbox)

    def received(self, since: int = 0, until: int | None = None) -> list[Received]:
        with self._cond:
            return self._inbox[since:until]

    def messages(self, kind: type[T], since: int = 0, until: int | None = None) -> list[T]:
        """The messages of one type received in [since, until)."""
        out: list[T] = []
        for r in self.received(since, until):
            msg = r.message
            if isinstance(msg, kind):
                out.append(msg)
        return out

    def wait_for(
        self, pred: Predicate, *, since: int, timeout: float = ANSWER_TIMEOUT_S, what: str
    ) -> Received:
        """The first frame from index `since` on that satisfies `pred`; fails after `timeout`."""
        deadline = time.monotonic() + timeout
        with self._cond:
            i = since
            while True:
                while i < len(self._inbox):
                    r = self._inbox[i]
                    i += 1
                    if pred(r):
                        return r
                if self._error is not None:
                    raise ConformanceError(
                        f"The port to the pen failed while waiting for {what}: {self._error}"
                    )
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ConformanceError(f"The pen sent no {what} within {timeout:g} s.")
                self._cond.wait(left)

    def pause(self, seconds: float) -> None:
        """Let time pass (the reader goes on reading and, if on, heartbeating)."""
        self._stop.wait(seconds)

    def answer_to(self, seq: int, *, since: int, timeout: float = ANSWER_TIMEOUT_S) -> Received:
        r = self.wait_for(
            lambda r: r.is_answer and r.seq == seq,
            since=since,
            timeout=timeout,
            what=f"answer with seq {seq}",
        )
        with self._cond:
            self.last_answer_index = max(self.last_answer_index, r.index)
        return r

    def request(
        self,
        msg: Message,
        seq: int | None = None,
        *,
        flush: bool = False,
        timeout: float = ANSWER_TIMEOUT_S,
    ) -> Message:
        """Send `msg`, return its answer (ACK, NACK or INFO with the same seq), checking that
        the answer fits the command (of_type, INFO only for HELLO)."""
        mark = self.mark()
        seq = self.send(msg, seq, flush=flush)
        try:
            answer = self.answer_to(seq, since=mark, timeout=timeout).message
        except ConformanceError:
            raise ConformanceError(
                f"The pen did not answer {describe(msg)} (seq {seq}) within {timeout:g} s; "
                "every command except HEARTBEAT is answered."
            ) from None
        if isinstance(answer, Ack | Nack) and answer.of_type != msg.TYPE:
            raise ConformanceError(
                f"The pen answered {describe(msg)} (seq {seq}) with {describe_answer(answer)}: "
                f"of_type should be 0x{int(msg.TYPE):02x}."
            )
        if isinstance(answer, Info) and msg.TYPE != MsgType.HELLO:
            raise ConformanceError(
                f"The pen answered {describe(msg)} (seq {seq}) with INFO, which only HELLO gets."
            )
        assert answer is not None
        if isinstance(answer, Ack) and isinstance(msg, SetTelemetry):
            self.telemetry_hz = msg.rate_hz
        return answer

    def ack(self, msg: Message, *, why: str = "") -> Ack:
        """`request` that must be ACKed."""
        answer = self.request(msg)
        if not isinstance(answer, Ack):
            raise ConformanceError(
                f"The pen answered {describe(msg)} with {describe_answer(answer)}, not ACK"
                + (f" ({why})." if why else ".")
            )
        return answer

    def nack(self, msg: Message, error: NackError, *, why: str = "") -> Nack:
        """`request` that must be refused with NACK `error`."""
        answer = self.request(msg)
        if not isinstance(answer, Nack) or answer.error != error:
            raise ConformanceError(
                f"The pen answered {describe(msg)} with {describe_answer(answer)}, not "
                f"NACK {error.name}" + (f" ({why})." if why else ".")
            )
        return answer

    def probe(self) -> Received:
        """Send an intact frame of an unknown type and wait for its NACK UNKNOWN_TYPE.

        The ICD says the pen does nothing else with it, so it changes nothing, and since the
        pen handles frames in order, its answer marks "everything sent before was handled":
        an answer to an earlier frame would have come first, and the next STATUS shows the
        pen after all of it.
        """
        seq = self.next_seq()
        mark = self.mark()
        self.send_raw(encode_raw(PROBE_TYPE, seq, b""), owed=[seq])
        r = self.answer_to(seq, since=mark)
        msg = r.message
        if not (isinstance(msg, Nack) and msg.error == NackError.UNKNOWN_TYPE):
            raise ConformanceError(
                f"The pen answered an intact frame of the unknown type 0x{PROBE_TYPE:02x} with "
                f"{describe_answer(msg)}, not NACK UNKNOWN_TYPE."
            )
        return r

    def answers(self, since: int, until: int | None = None) -> list[Received]:
        """The ACK, NACK and INFO frames received in [since, until)."""
        return [r for r in self.received(since, until) if r.is_answer]

    def status(self, since: int | None = None, timeout: float = ANSWER_TIMEOUT_S) -> Status:
        """The first STATUS after `since` (default: after the last answer, so it shows the
        pen after our last command). Telemetry must be on."""
        start = self.after_last_answer(timeout) if since is None else since
        r = self.wait_for(is_status, since=start, timeout=timeout, what="STATUS (telemetry)")
        st = r.status
        assert st is not None
        return st

    def wait_status(
        self,
        test: Callable[[Status], bool],
        *,
        since: int | None = None,
        timeout: float = ANSWER_TIMEOUT_S,
        what: str,
    ) -> Received:
        start = self.after_last_answer(timeout) if since is None else since
        return self.wait_for(status_where(test), since=start, timeout=timeout, what=what)

    def after_last_answer(self, timeout: float = ANSWER_TIMEOUT_S) -> int:
        """Where STATUS showing the pen after our last answered command starts.

        The first STATUS after an answer may be one that was waiting for the line while the
        command was handled (docs/PROTOCOL.md: answers go before a waiting STATUS, and at most
        one STATUS waits), so it can show the pen before the command; every STATUS after that
        one was made after the answer. On a line that is never busy the first one is already
        current, and skipping it costs one telemetry period."""
        first = self.wait_for(
            is_status,
            since=self.last_answer_index + 1,
            timeout=timeout,
            what="STATUS (telemetry)",
        )
        return first.index + 1

    # --- session helpers -------------------------------------------------------------------

    def hello(self, proto: int = protocol.PROTOCOL_VERSION, nonce: int | None = None) -> Info:
        """Open a session (HELLO); checks the INFO echoes our nonce and speaks our version."""
        if nonce is None:
            nonce = int.from_bytes(os.urandom(4), "little")
        answer = self.request(Hello(proto, nonce))
        if not isinstance(answer, Info):
            raise ConformanceError(
                f"The pen answered HELLO(proto={proto}) with {describe_answer(answer)}, not INFO."
            )
        if answer.nonce != nonce:
            raise ConformanceError(
                f"The pen's INFO echoed nonce {answer.nonce}, not the {nonce} of our HELLO."
            )
        if answer.proto != proto:
            raise ConformanceError(f"The pen's INFO says proto {answer.proto}, not {proto}.")
        self.info = answer
        return answer

    def session(self) -> Info:
        """The INFO of the session already open (the fixture opens one). No new HELLO: on a
        real pen a new session makes the cartridge used in this one SPENT, and every check
        that runs the needle would need another fresh cartridge."""
        if self.info is None:
            self.ensure_session()
        assert self.info is not None
        return self.info

    def ensure_session(self) -> None:
        """A session is open afterwards: probe with a harmless command, HELLO if needed."""
        answer = self.request(SetTelemetry(self.telemetry_hz))
        if isinstance(answer, Nack) and answer.error == NackError.NO_SESSION:
            self.telemetry_hz = 0
            self.hello()
        elif self.info is None:
            self.hello()

    def telemetry(self, hz: int) -> None:
        self.ack(SetTelemetry(hz))

    def state(self) -> State:
        return self.status().state

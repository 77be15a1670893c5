"""The wire between host and pen, with seeded faults: drop, corrupt, duplicate, delay, cut.

Sans-IO like the firmware: `send(data, now_ms)` puts bytes on the wire, `receive(now_ms)`
takes what has arrived by then. Faults act on whole frames (split at the 0x00 delimiter), so a
probability means "this share of the frames". Each direction draws from its own random
generator seeded from the run's seed, and every frame draws the same four numbers whatever the
probabilities are: the fate of the n-th frame a sender sends depends only on the seed, the
probabilities and n, so a run repeats exactly with the same seed even when real-time threads
interleave the two directions differently.

A delayed frame holds back the frames behind it (a serial line never reorders), and a cut
loses everything that would arrive while it lasts.
"""

from __future__ import annotations

import math
import random
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .faults import LinkFault, Sender

DELIMITER = 0x00
STATUS_TYPE = 0x83
#: 8N1: a start bit, 8 data bits and a stop bit per byte.
BITS_PER_BYTE = 10
#: Bytes without a 0x00 are passed on as one chunk once this many have piled up.
MAX_PARTIAL = 256
#: Cut windows remembered (for frames still in flight when a cut starts).
MAX_CUTS = 16


@dataclass(slots=True)
class ChannelStats:
    """What happened to the frames of one direction."""

    frames: int = 0
    dropped: int = 0
    corrupted: int = 0
    duplicated: int = 0
    delayed: int = 0
    lost_to_cut: int = 0
    #: STATUS frames replaced by a newer one before they went on the line (UART only)
    shed: int = 0


def is_status_frame(frame: bytes) -> bool:
    """A pen's STATUS frame, told from its first bytes: COBS code >= 3 puts ver and type as
    they are in frame[1] and frame[2] (both non-zero in every valid body)."""
    return len(frame) > 3 and frame[0] >= 3 and frame[2] == STATUS_TYPE


class Channel:
    """One direction of the link.

    With `byte_ms` > 0 it is a UART: frames go on the line one after another, each taking
    `byte_ms` per byte (10 bits a byte for 8N1), and arrive when their last byte has. With
    `shed_status` (the pen's side) answers and EVENTs waiting for the line go before a waiting
    STATUS, and at most one STATUS waits: a newer one replaces it (its seq is skipped, so the
    host counts one lost STATUS), so the line never fills with stale telemetry. A STATUS also
    waits while a host frame is coming in (`status_hold`), so the answer to it goes first.
    """

    def __init__(
        self, sender: Sender, seed: int, byte_ms: float = 0.0, shed_status: bool = False
    ) -> None:
        self.sender = sender
        self.byte_ms = float(byte_ms)
        self.shed_status = shed_status
        self._line_free = -math.inf
        #: frames waiting for the line: (ready time, frame, is a STATUS)
        self._waiting: list[tuple[float, bytes, bool]] = []
        #: (start, end) of the latest frames put on this line
        self.spans: deque[tuple[float, float]] = deque(maxlen=8)
        #: when a STATUS ready at t may start at the earliest (the pen's side: not while a
        #: host frame is coming in, so the answer to it goes first)
        self.status_hold: Callable[[float], float] | None = None
        self._rng = random.Random(f"needlepen-link:{seed}:{sender.value}")
        self.drop = 0.0
        self.corrupt = 0.0
        self.dup = 0.0
        self.delay = 0.0
        self.delay_ms = 0.0
        self.stats = ChannelStats()
        self._partial = bytearray()
        self._queue: deque[tuple[float, bytes]] = deque()
        self._last_release = -math.inf

    def set_fault(self, fault: LinkFault) -> None:
        if fault.kind == "drop":
            self.drop = fault.probability
        elif fault.kind == "corrupt":
            self.corrupt = fault.probability
        elif fault.kind == "dup":
            self.dup = fault.probability
        elif fault.kind == "delay":
            self.delay = fault.probability
            self.delay_ms = fault.delay_ms

    def clear_faults(self) -> None:
        self.drop = self.corrupt = self.dup = self.delay = 0.0
        self.delay_ms = 0.0

    def send(self, data: bytes, now_ms: float, cut: bool) -> None:
        """Put bytes on the wire at `now_ms`; `cut` says whether the link is cut right now."""
        self._partial += data
        while True:
            end = self._partial.find(DELIMITER)
            if end < 0:
                if len(self._partial) > MAX_PARTIAL:
                    chunk = bytes(self._partial)
                    self._partial.clear()
                    self._frame(chunk, now_ms, cut)
                return
            chunk = bytes(self._partial[: end + 1])
            del self._partial[: end + 1]
            self._frame(chunk, now_ms, cut)

    def _frame(self, frame: bytes, now_ms: float, cut: bool) -> None:
        self.stats.frames += 1
        rng = self._rng
        r_drop, r_corrupt, r_dup, r_delay = (rng.random(), rng.random(), rng.random(), rng.random())
        if cut:
            self.stats.lost_to_cut += 1
            return
        if r_drop < self.drop:
            self.stats.dropped += 1
            return
        if r_corrupt < self.corrupt:
            frame = self._flip(frame)
            self.stats.corrupted += 1
        release = now_ms
        if r_delay < self.delay and self.delay_ms > 0:
            release = now_ms + self.delay_ms
            self.stats.delayed += 1
        copies = 1
        if r_dup < self.dup:
            self.stats.duplicated += 1
            copies = 2
        if self.byte_ms > 0:
            status = self.shed_status and is_status_frame(frame)
            for _ in range(copies):
                self._wait_for_line(release, frame, status)
            self._schedule(now_ms)
            return
        release = max(release, self._last_release)  # the line stays in order
        self._last_release = release
        for _ in range(copies):
            self._queue.append((release, frame))

    def _wait_for_line(self, ready: float, frame: bytes, status: bool) -> None:
        if status:
            for i, (_, _, waiting_status) in enumerate(self._waiting):
                if waiting_status:  # a newer STATUS replaces the one still waiting
                    del self._waiting[i]
                    self.stats.shed += 1
                    break
        self._waiting.append((ready, frame, status))

    def _next_start(self) -> float:
        if not self._waiting:
            return math.inf
        return max(self._line_free, min(ready for ready, _, _ in self._waiting))

    def _schedule(self, now_ms: float) -> None:
        """Put waiting frames on the line, in turn, as far as the line is free by `now_ms`."""
        while True:
            start = self._next_start()
            if start > now_ms:
                return
            ready = [i for i, (t, _, _) in enumerate(self._waiting) if t <= start]
            first = next((i for i in ready if not self._waiting[i][2]), ready[0])
            _, frame, status = self._waiting[first]
            if status and self.status_hold is not None:
                hold = self.status_hold(start)
                if hold > start:  # a command is arriving: its answer may go first
                    self._waiting[first] = (hold, frame, status)
                    continue
            del self._waiting[first]
            done = start + len(frame) * self.byte_ms
            self._line_free = done
            self.spans.append((start, done))
            self._queue.append((done, frame))

    def _flip(self, frame: bytes) -> bytes:
        """Flip one bit, never in the trailing delimiter (a lost delimiter is a different
        fault: it merges two frames, which the CRC then rejects)."""
        body = bytearray(frame)
        span = len(body) - 1 if body and body[-1] == DELIMITER else len(body)
        if span <= 0:
            return frame
        index = self._rng.randrange(span)
        body[index] ^= 1 << self._rng.randrange(8)
        return bytes(body)

    def receive(self, now_ms: float, cuts: Sequence[tuple[float, float]] = ()) -> bytes:
        """Everything due by `now_ms`; frames that arrive while the link is cut are lost."""
        if self._waiting:
            self._schedule(now_ms)
        out = bytearray()
        queue = self._queue
        while queue and queue[0][0] <= now_ms:
            release, frame = queue.popleft()
            if any(start <= release < end for start, end in cuts):
                self.stats.lost_to_cut += 1
                continue
            out += frame
        return bytes(out)

    def next_release(self) -> float:
        """When something next happens on this line: a frame arrives or one goes on it."""
        arrival = self._queue[0][0] if self._queue else math.inf
        return min(arrival, self._next_start())

    @property
    def in_flight(self) -> int:
        return len(self._queue) + len(self._waiting)


def byte_time_ms(baud: int) -> float:
    """How long one byte takes on an 8N1 line at `baud`: 10 bits."""
    return BITS_PER_BYTE * 1000.0 / baud


def wire_time_ms(n_bytes: int, baud: int) -> float:
    """How long `n_bytes` take on an 8N1 line at `baud` (a 39-byte STATUS: 3.39 ms at 115200)."""
    return n_bytes * byte_time_ms(baud)


class Link:
    """Both directions of the wire, and the cut that silences them both."""

    def __init__(self, seed: int = 0, baud: int | None = None) -> None:
        self.seed = seed
        self.baud = baud
        byte_ms = byte_time_ms(baud) if baud else 0.0
        self.host_to_pen = Channel(Sender.HOST, seed, byte_ms)
        self.pen_to_host = Channel(Sender.PEN, seed, byte_ms, shed_status=True)
        self.pen_to_host.status_hold = self._host_frame_end
        #: Recent cut windows as (start_ms, end_ms); the newest last.
        self.cuts: list[tuple[float, float]] = []

    def _host_frame_end(self, t_ms: float) -> float:
        """The end of the host frame on the line at `t_ms` (-inf if none)."""
        return max(
            (end for start, end in self.host_to_pen.spans if start <= t_ms < end),
            default=-math.inf,
        )

    def channel(self, sender: Sender) -> Channel:
        return self.host_to_pen if sender is Sender.HOST else self.pen_to_host

    def apply(self, fault: LinkFault) -> None:
        for sender in fault.senders:
            self.channel(sender).set_fault(fault)

    def clear(self) -> None:
        """Remove every probability (a running cut stays)."""
        self.host_to_pen.clear_faults()
        self.pen_to_host.clear_faults()

    def cut(self, now_ms: float, duration_ms: float) -> None:
        """Cut the wire from `now_ms` for `duration_ms`: nothing gets through meanwhile."""
        self.cuts.append((now_ms, now_ms + duration_ms))
        del self.cuts[:-MAX_CUTS]

    def is_cut(self, now_ms: float) -> bool:
        return any(start <= now_ms < end for start, end in self.cuts)

    @property
    def cut_until(self) -> float:
        """When the latest cut ends (-inf if there was none)."""
        return max((end for _, end in self.cuts), default=-math.inf)

    def send(self, sender: Sender, data: bytes, now_ms: float) -> None:
        self.channel(sender).send(data, now_ms, self.is_cut(now_ms))

    def receive(self, sender: Sender, now_ms: float) -> bytes:
        """What the frames of `sender` deliver to the other end by `now_ms`."""
        return self.channel(sender).receive(now_ms, self.cuts)

    def next_release(self) -> float:
        return min(self.host_to_pen.next_release(), self.pen_to_host.next_release())

    def describe(self) -> str:
        parts = []
        for ch in (self.host_to_pen, self.pen_to_host):
            probs = [
                f"{name}={value:g}"
                for name, value in (("drop", ch.drop), ("corrupt", ch.corrupt), ("dup", ch.dup))
                if value
            ]
            if ch.delay:
                probs.append(f"delay={ch.delay:g}:{ch.delay_ms:g}ms")
            s = ch.stats
            parts.append(
                f"{ch.sender.value}->{'pen' if ch.sender is Sender.HOST else 'host'}: "
                f"{' '.join(probs) or 'clean'}; {s.frames} frames, {s.dropped} dropped, "
                f"{s.corrupted} corrupted, {s.duplicated} duplicated, {s.delayed} delayed, "
                f"{s.lost_to_cut} lost to cuts" + (f", {s.shed} STATUS shed" if s.shed else "")
            )
        line = f"UART {self.baud} baud 8N1 | " if self.baud else ""
        return line + " | ".join(parts)

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
from collections.abc import Sequence
from dataclasses import dataclass

from .faults import LinkFault, Sender

DELIMITER = 0x00
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


class Channel:
    """One direction of the link."""

    def __init__(self, sender: Sender, seed: int) -> None:
        self.sender = sender
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
        release = max(release, self._last_release)  # the line stays in order
        self._last_release = release
        self._queue.append((release, frame))
        if r_dup < self.dup:
            self.stats.duplicated += 1
            self._queue.append((release, frame))

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
        return self._queue[0][0] if self._queue else math.inf

    @property
    def in_flight(self) -> int:
        return len(self._queue)


class Link:
    """Both directions of the wire, and the cut that silences them both."""

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self.host_to_pen = Channel(Sender.HOST, seed)
        self.pen_to_host = Channel(Sender.PEN, seed)
        #: Recent cut windows as (start_ms, end_ms); the newest last.
        self.cuts: list[tuple[float, float]] = []

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
                f"{s.lost_to_cut} lost to cuts"
            )
        return " | ".join(parts)

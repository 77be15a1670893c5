"""What a Pen tells its subscribers: typed updates, and a bounded stream of them."""

from __future__ import annotations

import contextlib
import queue
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import protocol

from ..safety import Decision

if TYPE_CHECKING:
    from .core import PenCore

__all__ = ["PenUpdate", "Subscriber", "UpdateKind", "UpdateStream"]

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

    def __init__(self, pen: PenCore, maxsize: int = 256) -> None:
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

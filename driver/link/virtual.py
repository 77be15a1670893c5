"""The virtual-clock driver of the link: no thread, time passes only when the link waits.

For QA and soak runs against the in-process simulator (`simulator.virtual`): the caller turns
the reader with `poll()`, and whenever the link has to wait (for an answer, or in `pause`) it
turns the reader itself and calls `idle(seconds)`, which advances the virtual clock and with
it the simulated pen. The same `HostProtocol` decides everything the threaded `Link` does, so
a run here shows what the threaded link does in real time, repeatably and at once.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable

from protocol import Message

from .base import BaseLink
from .timing import ANSWER_TIMEOUT_S, HEARTBEAT_PERIOD_S, LINK_TIMEOUT_S, RESENDS, Clock
from .transport import Port

#: The longest single step of virtual time while the link waits (the pen's telemetry at
#: 200 Hz comes every 5 ms; finer steps keep every frame's timing visible).
STEP_S = 0.001


class VirtualLink(BaseLink):
    """The link turned by its caller on the virtual clock `clock`, advanced by `idle`."""

    threaded = False

    def __init__(
        self,
        port: Port,
        on_message: Callable[[Message, int], None],
        on_lost: Callable[[BaseException], None],
        *,
        clock: Clock,
        idle: Callable[[float], None],
        answer_timeout: float = ANSWER_TIMEOUT_S,
        resends: int = RESENDS,
        heartbeat_period: float = HEARTBEAT_PERIOD_S,
        link_timeout: float = LINK_TIMEOUT_S,
        rng: random.Random | None = None,
        on_estop_confirmed: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(
            port,
            on_message,
            on_lost,
            clock=clock,
            answer_timeout=answer_timeout,
            resends=resends,
            heartbeat_period=heartbeat_period,
            link_timeout=link_timeout,
            rng=rng,
            on_estop_confirmed=on_estop_confirmed,
        )
        self._idle = idle

    @property
    def alive(self) -> bool:
        return not self._closed.is_set() and self.lost is None

    def pause(self, seconds: float) -> None:
        self._wait(threading.Event(), seconds)

    def _wait(self, event: threading.Event, timeout: float) -> bool:
        deadline = self._clock() + timeout
        while True:
            self.poll()
            if event.is_set():
                return True
            left = deadline - self._clock()
            if left <= 0 or self.lost is not None:
                return event.is_set()
            self._idle(min(left, STEP_S))


__all__ = ["STEP_S", "VirtualLink"]

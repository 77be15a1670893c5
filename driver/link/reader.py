"""The threaded driver of the link: one reader thread turns the sans-IO `HostProtocol`.

In the style of pyserial's `serial.threaded.ReaderThread`: the reader thread owns all reads,
hands answers to the waiting caller by seq, and passes STATUS and EVENT messages to a
callback; callers wait on an event. The reader sends the heartbeat, so a host whose reader
died stops feeding the pen's watchdog, and it declares the link lost when STATUS stops. On a
local device or pty the heartbeat comes from a small child process instead (heartbeat.py),
under a lease the reader renews every turn.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable

from protocol import Message

from .base import BaseLink
from .heartbeat import HeartbeatProcess
from .timing import (
    ANSWER_TIMEOUT_S,
    ESTOP_RESEND_S,
    HEARTBEAT_FRAMES,
    HEARTBEAT_PERIOD_S,
    LINK_TIMEOUT_S,
    RESENDS,
    Clock,
)
from .transport import FdPort, Port


class Link(BaseLink):
    """Framed, acknowledged commands over an open pyserial port, turned by a reader thread.

    `on_message(msg, seq)` is called from the reader thread for STATUS and EVENT messages;
    `on_lost(exc)` once, when the link is declared lost (silence, port error or close).
    """

    threaded = True

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
        #: a local device or pty: the reader thread reads and writes its fd directly
        self._fd = FdPort.of(port)
        #: the child process that heartbeats on a local device or pty (see `start`)
        self.keeper: HeartbeatProcess | None = None
        self._halt = threading.Event()
        self._thread = threading.Thread(target=self._run, name="needlepen-reader", daemon=True)

    # --- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        if self._fd is not None:
            with self._lock:
                frames = self.machine.reserve_heartbeats(HEARTBEAT_FRAMES)
            period = self.machine.heartbeat_period
            self.keeper = HeartbeatProcess.start(self._fd.fd, frames, period)
        self._thread.start()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive() and self.lost is None

    def stop_reading(self) -> None:
        """End the reader thread and leave the rest as it is: the port open, the heartbeat
        child running, its lease no longer renewed. What a host whose reader died looks like
        to the pen (for drills and tests); `close` still ends everything."""
        self._halt.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout=1.0)

    def _end(self) -> None:
        if self.keeper is not None:
            self.keeper.close()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout=1.0)

    def _run(self) -> None:
        while (
            not self._closed.is_set()
            and not self._halt.is_set()
            and (self.lost is None or self.machine.estop_pending)
        ):
            self.poll()

    # --- waiting, reading, writing -------------------------------------------------------------

    def pause(self, seconds: float) -> None:
        time.sleep(seconds)

    def _wait(self, event: threading.Event, timeout: float) -> bool:
        return event.wait(timeout)

    def _read(self) -> bytes:
        if self._fd is not None:
            return self._fd.read()
        return super()._read()

    def _read_now(self) -> bytes:
        if self._fd is not None:
            return self._fd.read(0.0)
        return super()._read_now()

    def _port_write(self, data: bytes) -> None:
        if self._fd is not None:
            self._fd.write(data)
        else:
            self.port.write(data)

    def _backoff(self) -> None:
        time.sleep(ESTOP_RESEND_S / 4)  # a broken port: keep trying, gently

    # --- the heartbeat child (called under `_lock`) --------------------------------------------

    def _heartbeat_started(self, now: float) -> None:
        if self.keeper is not None:
            self.keeper.renew(self.machine.lease_until(now), now, force=True)
            self.keeper.set_on(True)

    def _heartbeat_stopped(self) -> None:
        if self.keeper is not None:
            self.keeper.set_on(False)

    def _lease_renewed(self, now: float) -> None:
        if self.keeper is not None:
            self.keeper.renew(self.machine.lease_until(now), now, force=True)

    def _host_heartbeats(self, now: float) -> bool:
        keeper = self.keeper
        if keeper is not None and keeper.ready:
            keeper.renew(self.machine.lease_until(now), now)
            return False
        return True


__all__ = ["Link"]

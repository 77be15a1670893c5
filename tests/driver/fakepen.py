"""A scripted pen on a kernel pty, for handshake edge cases the simulator never produces."""

from __future__ import annotations

import contextlib
import os
import threading
import tty
from collections.abc import Callable

import protocol
from protocol import Direction, Frame, Message

Script = Callable[[int, Message], list[bytes]]


class FakePen:
    """Answers each decoded host frame with whatever `script(seq, message)` returns."""

    def __init__(self, script: Script) -> None:
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        self.path = os.ttyname(self.slave)
        self.script = script
        self.received: list[Message] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        decoder = protocol.Decoder(Direction.PEN)
        while not self._stop.is_set():
            try:
                data = os.read(self.master, 4096)
            except OSError:
                return
            for item in decoder.feed(data):
                if isinstance(item, Frame):
                    self.received.append(item.message)
                    for out in self.script(item.seq, item.message):
                        os.write(self.master, out)

    def close(self) -> None:
        self._stop.set()
        for fd in (self.slave, self.master):
            with contextlib.suppress(OSError):
                os.close(fd)


def info(nonce: int, proto: int = 1) -> Message:
    return protocol.Info(
        proto,
        nonce,
        protocol.DeviceClass.PROFESSIONAL,
        1,
        0,
        0,
        42,
        7,
        250,
        3000,
        50,
        25,
        150,
        300,
    )

"""The minimal ICD host: it knows only the `protocol` package (no driver), so it checks a pen
(the simulator's firmware or anything behind a pyserial port) by the ICD alone.

One host, two drivers: `IcdHost` numbers, encodes and decodes; `VirtualHost` drives a
simulator `Firmware` on a virtual clock (nothing sleeps, every frame the pen sends is seen in
order); `PortHost` talks over any real-time pyserial port (sim://, a kernel pty, socket://),
waiting with generous timeouts for what it expects.

The conformance suite's `PenClient` (driver.testing.conformance.client) is the threaded host
with the books a conformance run keeps (answers owed per seq, its own heartbeat).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from protocol import (
    DEPTH_TOLERANCE_UM,
    Ack,
    Decoder,
    Direction,
    Event,
    EventCode,
    Frame,
    Heartbeat,
    Hello,
    Info,
    Message,
    MsgType,
    Nack,
    SeqCounter,
    SetDepth,
    Status,
    encode,
)
from simulator.firmware import Firmware, PenConfig

__all__ = ["ANSWERS", "IcdHost", "PortHost", "VirtualHost", "is_answer"]

#: The messages that answer a command (every command but HEARTBEAT gets exactly one).
ANSWERS = (Ack, Nack, Info)


def is_answer(frame: Frame) -> bool:
    return isinstance(frame.message, ANSWERS)


class IcdHost:
    """What both drivers share: the seq counter, the encoder and the decoder of pen frames."""

    def __init__(self) -> None:
        self.decoder = Decoder(Direction.HOST)
        self.seq = SeqCounter()

    def number(self, seq: int | None) -> int:
        """`seq`, or the next number of the host's counter."""
        return self.seq.next() if seq is None else seq

    def decode(self, data: bytes) -> list[Frame]:
        """The valid frames in `data` (what does not decode is counted by the decoder)."""
        return [f for f in self.decoder.feed(data) if isinstance(f, Frame)]

    @staticmethod
    def events(frames: list[Frame]) -> list[Event]:
        return [f.message for f in frames if isinstance(f.message, Event)]

    @staticmethod
    def codes(frames: list[Frame]) -> list[EventCode]:
        return [e.code for e in IcdHost.events(frames)]

    @staticmethod
    def statuses(frames: list[Frame]) -> list[Status]:
        return [f.message for f in frames if isinstance(f.message, Status)]


class VirtualHost(IcdHost):
    """Drives a `Firmware` with a virtual clock and decodes everything it sends."""

    def __init__(
        self, fw: Firmware | None = None, config: PenConfig | None = None, seed: int = 0
    ) -> None:
        super().__init__()
        self.fw = fw if fw is not None else Firmware(config, seed=seed)
        self.now = self.fw.now_ms
        self.received: list[Frame] = []
        self.collect()

    def collect(self) -> list[Frame]:
        """The frames the pen sent since the last look (also appended to `received`)."""
        frames = self.decode(self.fw.take_output())
        self.received.extend(frames)
        return frames

    def send_raw(self, data: bytes) -> list[Frame]:
        self.fw.feed(data)
        return self.collect()

    def send(self, msg: Message, seq: int | None = None) -> list[Frame]:
        """Send `msg` now and return every frame the pen sent in reply (answers and events)."""
        return self.send_raw(encode(msg, self.number(seq)))

    def ask(self, msg: Message, seq: int | None = None) -> Message:
        """Send `msg` and return its one answer (asserting there is exactly one)."""
        number = self.number(seq)
        frames = self.send_raw(encode(msg, number))
        answers = [f for f in frames if is_answer(f)]
        assert len(answers) == 1, f"expected one answer to {msg}, got {answers}"
        assert answers[0].seq == number
        return answers[0].message

    def hello(self, nonce: int = 1) -> Info:
        answer = self.ask(Hello(1, nonce))
        assert isinstance(answer, Info), answer
        return answer

    def settle_depth(self, depth_um: int) -> list[Frame]:
        """SET_DEPTH `depth_um` (asserting the ACK), then heartbeat until the actuator is
        within tolerance of it, so a START is accepted; returns the frames meanwhile."""
        assert self.ask(SetDepth(depth_um)) == Ack(MsgType.SET_DEPTH)
        out: list[Frame] = []
        for _ in range(100):
            if abs(self.fw.depth_actual_um - depth_um) <= DEPTH_TOLERANCE_UM:
                return out
            out.extend(self.advance(10))
            out.extend(self.send(Heartbeat()))
        raise AssertionError(f"the actuator did not reach {depth_um} µm within 1 s")

    def advance(self, ms: float, heartbeat_every: float | None = None) -> list[Frame]:
        """Let `ms` of pen time pass (sending HEARTBEATs every `heartbeat_every` ms if given)."""
        end = self.now + ms
        out: list[Frame] = []
        while True:
            step_end = end if heartbeat_every is None else min(end, self.now + heartbeat_every)
            self.fw.tick(step_end)
            self.now = step_end
            out.extend(self.collect())
            if self.now >= end:
                return out
            out.extend(self.send(Heartbeat()))


class PortHost(IcdHost):
    """An ICD-only host over a real-time pyserial port (sim://, a pty or socket://)."""

    def __init__(self, port: Any) -> None:
        super().__init__()
        self.port = port
        self.inbox: list[Frame] = []
        self.first = True

    def send(self, msg: Message, seq: int | None = None) -> int:
        number = self.number(seq)
        data = encode(msg, number)
        if self.first:  # the ICD: flush line noise before the first frame
            data = b"\x00" + data
            self.first = False
        self.port.write(data)
        return number

    def pump(self) -> list[Frame]:
        waiting = self.port.in_waiting
        data = self.port.read(waiting or 1)
        frames = self.decode(data)
        self.inbox.extend(frames)
        return frames

    def wait_for(self, match: Callable[[Frame], bool], timeout: float = 1.0) -> Frame:
        deadline = time.monotonic() + timeout
        while True:
            for i, frame in enumerate(self.inbox):
                if match(frame):
                    del self.inbox[: i + 1]
                    return frame
            if time.monotonic() > deadline:
                raise AssertionError(f"no matching frame within {timeout} s; inbox {self.inbox}")
            self.pump()

    def request(self, msg: Message, timeout: float = 1.0) -> Message:
        number = self.send(msg)
        return self.wait_for(lambda f: is_answer(f) and f.seq == number, timeout).message

    def hello(self, nonce: int = 7) -> Info:
        answer = self.request(Hello(1, nonce))
        assert isinstance(answer, Info), answer
        assert answer.nonce == nonce
        return answer

    def event(self, code: EventCode, timeout: float = 1.0) -> Event:
        frame = self.wait_for(
            lambda f: isinstance(f.message, Event) and f.message.code == code, timeout
        )
        assert isinstance(frame.message, Event)
        return frame.message

    def status(
        self, match: Callable[[Status], bool] = lambda s: True, timeout: float = 1.0
    ) -> Status:
        frame = self.wait_for(lambda f: isinstance(f.message, Status) and match(f.message), timeout)
        assert isinstance(frame.message, Status)
        return frame.message

    def settle_depth(self, depth_um: int, timeout: float = 1.0) -> Status:
        """SET_DEPTH `depth_um`, then heartbeat until a STATUS shows the actuator within
        tolerance of it (telemetry must be on), so a START is accepted."""
        assert self.request(SetDepth(depth_um)) == Ack(MsgType.SET_DEPTH)
        deadline = time.monotonic() + timeout
        while True:
            self.send(Heartbeat())
            try:
                return self.status(
                    lambda s: (
                        s.depth_set_um == depth_um
                        and abs(s.depth_actual_um - depth_um) <= DEPTH_TOLERANCE_UM
                    ),
                    timeout=0.05,
                )
            except AssertionError:
                if time.monotonic() > deadline:
                    raise

    def fresh_status(self, timeout: float = 1.0) -> Status:
        """The next STATUS sent after everything received so far."""
        self.pump()
        self.inbox.clear()
        return self.status(timeout=timeout)

    def keep_alive(self, seconds: float) -> None:
        """Send HEARTBEATs every 100 ms for `seconds`, reading all the while."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.send(Heartbeat())
            stop = min(end, time.monotonic() + 0.1)
            while time.monotonic() < stop:
                self.pump()

    def drain(self, seconds: float = 0.05) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.pump()
        self.inbox.clear()

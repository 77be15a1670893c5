"""Test hosts that know only the ICD: one on a virtual clock, one over any pyserial port."""

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

ANSWERS = (Ack, Nack, Info)


def is_answer(frame: Frame) -> bool:
    return isinstance(frame.message, ANSWERS)


class VirtualHost:
    """Drives a `Firmware` with a virtual clock and decodes everything it sends."""

    def __init__(
        self, fw: Firmware | None = None, config: PenConfig | None = None, seed: int = 0
    ) -> None:
        self.fw = fw if fw is not None else Firmware(config, seed=seed)
        self.decoder = Decoder(Direction.HOST)
        self.seq = SeqCounter()
        self.now = self.fw.now_ms
        self.received: list[Frame] = []
        self.collect()

    def collect(self) -> list[Frame]:
        frames = [f for f in self.decoder.feed(self.fw.take_output()) if isinstance(f, Frame)]
        self.received.extend(frames)
        return frames

    def send_raw(self, data: bytes) -> list[Frame]:
        self.fw.feed(data)
        return self.collect()

    def send(self, msg: Message, seq: int | None = None) -> list[Frame]:
        """Send `msg` now and return every frame the pen sent in reply (answers and events)."""
        number = self.seq.next() if seq is None else seq
        return self.send_raw(encode(msg, number))

    def ask(self, msg: Message, seq: int | None = None) -> Message:
        """Send `msg` and return its one answer (asserting there is exactly one)."""
        number = self.seq.next() if seq is None else seq
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

    @staticmethod
    def events(frames: list[Frame]) -> list[Event]:
        return [f.message for f in frames if isinstance(f.message, Event)]

    @staticmethod
    def codes(frames: list[Frame]) -> list[EventCode]:
        return [e.code for e in VirtualHost.events(frames)]

    @staticmethod
    def statuses(frames: list[Frame]) -> list[Status]:
        return [f.message for f in frames if isinstance(f.message, Status)]


class PortHost:
    """An ICD-only host over a real-time pyserial port (sim://, a pty or socket://)."""

    def __init__(self, port: Any) -> None:
        self.port = port
        self.decoder = Decoder(Direction.HOST)
        self.seq = SeqCounter()
        self.inbox: list[Frame] = []
        self.first = True

    def send(self, msg: Message, seq: int | None = None) -> int:
        number = self.seq.next() if seq is None else seq
        data = encode(msg, number)
        if self.first:  # the ICD: flush line noise before the first frame
            data = b"\x00" + data
            self.first = False
        self.port.write(data)
        return number

    def pump(self) -> list[Frame]:
        waiting = self.port.in_waiting
        data = self.port.read(waiting or 1)
        frames = [f for f in self.decoder.feed(data) if isinstance(f, Frame)]
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

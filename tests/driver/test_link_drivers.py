"""One set of tests over both drivers of the link (python-can style: one test class, several
transports): the threaded `Link` and the virtual-clock `VirtualLink`, each around the same
sans-IO `HostProtocol`, against a small in-memory pen. Waits are generous bounds, never
timing assertions (the threaded driver runs in real time on a loaded machine)."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest

import protocol
from driver.errors import Cancelled, LinkLost, NoAnswer
from driver.link import RESENDS, BaseLink, Link, VirtualLink
from protocol import Ack, Direction, Frame, Info, MsgType, SetDepth
from tests.helpers import wait_for


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def now(self) -> float:
        return self.t

    def advance(self, dt: float) -> None:
        self.t += dt


@dataclass
class MemoryPen:
    """A port whose far end answers like a pen: INFO to HELLO, ACK to commands (unless
    `silent`), ACK to an e-stop after `ignore_estops` copies."""

    read_wait: float
    silent: bool = False
    ignore_estops: int = 0
    got: list[tuple[bytes, Frame]] = field(default_factory=list)  # (bytes written, frame)
    _rx: bytearray = field(default_factory=bytearray)
    _cond: threading.Condition = field(default_factory=threading.Condition)
    _decoder: protocol.Decoder = field(default_factory=lambda: protocol.Decoder(Direction.PEN))

    @property
    def in_waiting(self) -> int:
        with self._cond:
            return len(self._rx)

    def read(self, size: int = 1) -> bytes:
        with self._cond:
            if not self._rx and self.read_wait:
                self._cond.wait(self.read_wait)
            data = bytes(self._rx[:size])
            del self._rx[:size]
            return data

    def write(self, data: bytes, /) -> int:
        with self._cond:
            for item in self._decoder.feed(data):
                assert isinstance(item, Frame)
                self.got.append((data, item))
                self._answer(item)
            self._cond.notify_all()
        return len(data)

    def _answer(self, f: Frame) -> None:
        kind = f.message.TYPE
        if kind is MsgType.HEARTBEAT:
            return
        if kind is MsgType.ESTOP:
            if self.ignore_estops > 0:
                self.ignore_estops -= 1
                return
        elif self.silent:
            return
        if isinstance(f.message, protocol.Hello):
            answer: protocol.Message = Info(1, f.message.nonce, protocol.DeviceClass.HOME,
                                            1, 0, 0, 1, 1, 250, 950, 50, 25, 150, 300)  # fmt: skip
        else:
            answer = Ack(kind)
        self._rx += protocol.encode(answer, f.seq)

    def frames(self, kind: MsgType) -> list[tuple[bytes, Frame]]:
        with self._cond:
            return [(d, f) for d, f in self.got if f.message.TYPE is kind]

    def close(self) -> None:
        pass


@dataclass
class Rig:
    link: BaseLink
    pen: MemoryPen
    lost: list[BaseException]
    confirmed: list[bool]

    def until(self, cond: Callable[[], object], what: str) -> None:
        """Let time pass until `cond` holds: real time for the threaded link, virtual time
        (turning the reader) for the other."""
        if self.link.threaded:
            wait_for(cond, 5.0, what)
            return
        for _ in range(5000):
            if cond():
                return
            self.link.pause(0.001)
        raise AssertionError(f"{what} did not happen within 5 s of virtual time")


@pytest.fixture(params=["threaded", "virtual"])
def rig(request: pytest.FixtureRequest) -> Iterator[Rig]:
    lost: list[BaseException] = []
    confirmed: list[bool] = []

    def on_message(msg: protocol.Message, seq: int) -> None:
        pass

    def on_estop_confirmed() -> None:
        confirmed.append(True)

    link: BaseLink
    if request.param == "threaded":
        pen = MemoryPen(read_wait=0.005)
        link = Link(pen, on_message, lost.append, rng=random.Random(3),
                    on_estop_confirmed=on_estop_confirmed)  # fmt: skip
    else:
        pen = MemoryPen(read_wait=0.0)
        clock = Clock()
        link = VirtualLink(pen, on_message, lost.append, clock=clock.now, idle=clock.advance,
                           rng=random.Random(3), on_estop_confirmed=on_estop_confirmed)  # fmt: skip
    link.start()
    yield Rig(link, pen, lost, confirmed)
    link.close()


def test_a_request_gets_its_answer_matched_by_seq(rig: Rig) -> None:
    answer = rig.link.request(protocol.Hello(1, 77))
    assert isinstance(answer, Info) and answer.nonce == 77
    assert rig.link.request(SetDepth(500), 4242) == Ack(MsgType.SET_DEPTH)
    assert rig.pen.frames(MsgType.SET_DEPTH)[0][1].seq == 4242
    assert rig.link.stats.stray_answers == 0


def test_a_silent_pen_is_no_answer_after_the_resends_each_flushed_first(rig: Rig) -> None:
    rig.pen.silent = True
    with pytest.raises(NoAnswer, match=r"^The pen did not answer SET_DEPTH after 3 resends"):
        rig.link.request(SetDepth(500))
    copies = rig.pen.frames(MsgType.SET_DEPTH)
    assert len(copies) == RESENDS + 1 and len({f.seq for _, f in copies}) == 1
    assert all(data[0] == 0 for data, _ in copies[1:])
    assert rig.link.stats.resends == RESENDS


def test_a_gate_that_says_no_first_sends_nothing(rig: Rig) -> None:
    with pytest.raises(Cancelled) as err:
        rig.link.request(SetDepth(500), gate=lambda: False)
    assert err.value.sent is False and rig.pen.frames(MsgType.SET_DEPTH) == []


def test_a_gate_that_says_no_before_a_resend_says_a_copy_went_out(rig: Rig) -> None:
    rig.pen.silent = True
    answers = iter([True])
    with pytest.raises(Cancelled) as err:
        rig.link.request(SetDepth(500), gate=lambda: next(answers, False))
    assert err.value.sent is True and len(rig.pen.frames(MsgType.SET_DEPTH)) == 1


def test_an_unconfirmed_estop_is_resent_until_the_pen_acks_it(rig: Rig) -> None:
    rig.link.request(protocol.Hello(1, 1))
    rig.link.enable_heartbeat()
    rig.pen.ignore_estops = 2
    first = rig.link.send_estop()
    assert rig.link.estop_pending and not rig.link.heartbeat_on
    rig.until(lambda: not rig.link.estop_pending, "the pen's ACK of the e-stop")
    copies = rig.pen.frames(MsgType.ESTOP)
    assert len(copies) >= 3 and copies[0][1].seq == first
    assert len({f.seq for _, f in copies}) == len(copies)  # each copy its own seq
    assert all(data[0] == 0 for data, _ in copies)
    assert rig.confirmed == [True] and rig.link.heartbeat_on


def test_silence_after_expect_status_loses_the_link_once(rig: Rig) -> None:
    rig.link.request(protocol.Hello(1, 1))
    rig.link.expect_status()  # the memory pen sends no STATUS at all
    rig.until(lambda: rig.lost, "the link check")
    assert len(rig.lost) == 1 and isinstance(rig.lost[0], LinkLost)
    assert str(rig.lost[0]) == "The link to the pen is lost: no telemetry for 300 ms."
    assert not rig.link.alive
    with pytest.raises(LinkLost):
        rig.link.request(SetDepth(500))

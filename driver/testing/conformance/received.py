"""What the conformance client receives, and how tests pick frames out of it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import protocol
from protocol import Ack, Event, EventCode, Frame, Info, InvalidFrame, Message, Nack, Status

T = TypeVar("T", bound=Message)
Predicate = Callable[["Received"], bool]


class ConformanceError(AssertionError):
    """The pen did not do what the ICD promises (or did not answer): one sentence."""


@dataclass(frozen=True, slots=True)
class Received:
    """One frame from the pen, in arrival order, with its arrival time (time.monotonic())."""

    index: int
    t: float
    frame: Frame | InvalidFrame

    @property
    def message(self) -> Message | None:
        return self.frame.message if isinstance(self.frame, Frame) else None

    @property
    def seq(self) -> int:
        return self.frame.seq

    @property
    def is_answer(self) -> bool:
        return isinstance(self.message, Ack | Nack | Info)

    @property
    def status(self) -> Status | None:
        msg = self.message
        return msg if isinstance(msg, Status) else None

    @property
    def event(self) -> Event | None:
        msg = self.message
        return msg if isinstance(msg, Event) else None


def describe(msg: Message) -> str:
    """`SET_DEPTH(depth_um=500)`: a message as a failure sentence names it."""
    fields = ", ".join(f"{n}={int(v)}" for n, v in zip(msg.FIELDS, msg.values(), strict=True))
    return f"{msg.TYPE.name}({fields})" if fields else msg.TYPE.name


def describe_answer(msg: Message | None) -> str:
    if isinstance(msg, Nack):
        return f"NACK {msg.error.name} (detail {msg.detail})"
    if isinstance(msg, Ack):
        return f"ACK of {protocol.message_type_name(msg.of_type)}"
    if isinstance(msg, Info):
        return "INFO"
    return "nothing" if msg is None else msg.TYPE.name


def is_status(r: Received) -> bool:
    return isinstance(r.frame, Frame) and type(r.frame.message) is Status


def is_event(code: EventCode) -> Predicate:
    def match(r: Received) -> bool:
        ev = r.event
        return ev is not None and ev.code == code

    return match


def status_where(test: Callable[[Status], bool]) -> Predicate:
    def match(r: Received) -> bool:
        st = r.status
        return st is not None and test(st)

    return match


class LentPort:
    """The client's port as another host sees it while lent: everything but `close`, which
    the lender keeps for itself (the driver closes its port when its session ends)."""

    def __init__(self, port: Any) -> None:
        self._port = port

    @property
    def in_waiting(self) -> int:
        return int(self._port.in_waiting)

    def read(self, size: int = 1) -> bytes:
        return bytes(self._port.read(size))

    def write(self, data: bytes, /) -> int | None:
        n: int | None = self._port.write(data)
        return n

    def close(self) -> None:
        """The lender closes the port, not the borrower."""

"""What the firmware reports about itself besides the wire: the commands it applied (test
truth), its log records and why the needle stopped."""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from protocol import Message, Nack, State


class StopCause(enum.IntEnum):
    """EVENT STOPPED's detail: why the needle stopped."""

    COMMAND = 0  # STOP from the host
    ESTOP = 1
    WATCHDOG = 2
    FAULT = 3
    NEW_SESSION = 4  # HELLO during a session
    BATTERY_EMPTY = 5


@dataclass(frozen=True, slots=True)
class Applied:
    """One command the firmware executed (answered by running it, not from the window)."""

    t_ms: float
    seq: int
    type_code: int
    message: Message | None  # None for an intact frame it could not understand
    answer: Message

    @property
    def accepted(self) -> bool:
        return not isinstance(self.answer, Nack)


@dataclass(frozen=True, slots=True)
class LogRecord:
    """What the JSON log prints: a command applied, an EVENT or a state change.

    `t_ms` is pen time (the firmware's clock); `state` is the state after the step that
    produced the record; `fields` holds the relevant values (depth_um, rate_hz, detail, ...).
    """

    t_ms: float
    event: str
    state: State
    fields: Mapping[str, object]


Listener = Callable[[LogRecord], None]

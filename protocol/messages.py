"""The 14 messages of ICD v1 as immutable typed values.

Field names and units are the ICD's (µm, Hz, mA, tenths of °C, ms). Each class knows its type
code, its direction and its fixed payload layout; `protocol.codec` turns them into frames.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass, fields
from typing import Any, ClassVar, TypeVar

from .enums import (
    CartridgeState,
    DeviceClass,
    Direction,
    EventCode,
    Fault,
    MsgType,
    NackError,
    State,
)

#: struct codes of the ICD's wire types, with their inclusive ranges.
WIRE_RANGES: dict[str, tuple[int, int]] = {
    "B": (0, 0xFF),
    "H": (0, 0xFFFF),
    "I": (0, 0xFFFF_FFFF),
    "h": (-0x8000, 0x7FFF),
}
WIRE_NAMES = {"B": "u8", "H": "u16", "I": "u32", "h": "i16"}


class Message:
    """Base of all messages. Subclasses are frozen, slotted dataclasses."""

    __slots__ = ()

    TYPE: ClassVar[MsgType]
    #: the end that receives it: Direction.PEN for host-to-pen commands, HOST for the rest.
    DIRECTION: ClassVar[Direction]
    #: struct layout of the payload, one code per field, little-endian.
    LAYOUT: ClassVar[str] = ""
    #: enumerated fields: the value must be a member of the enum to be encodable.
    ENUMS: ClassVar[dict[str, type[enum.IntEnum]]] = {}
    #: bit-set fields: any value of the wire range is encodable; decoded into the flag type.
    FLAGS: ClassVar[dict[str, type[enum.IntFlag]]] = {}
    # Filled in by __init_subclass__ / _finish():
    FIELDS: ClassVar[tuple[str, ...]] = ()
    STRUCT: ClassVar[struct.Struct]
    PAYLOAD_LEN: ClassVar[int] = 0

    @classmethod
    def _finish(cls) -> None:
        cls.FIELDS = tuple(f.name for f in fields(cls))  # type: ignore[arg-type]
        if len(cls.FIELDS) != len(cls.LAYOUT):
            raise TypeError(f"{cls.__name__}: layout does not match its fields")
        if not set(cls.ENUMS) | set(cls.FLAGS) <= set(cls.FIELDS):
            raise TypeError(f"{cls.__name__}: ENUMS or FLAGS name a field it does not have")
        cls.STRUCT = struct.Struct("<" + cls.LAYOUT)
        cls.PAYLOAD_LEN = cls.STRUCT.size

    def values(self) -> tuple[Any, ...]:
        """The field values in wire order."""
        return tuple(getattr(self, name) for name in self.FIELDS)

    @property
    def name(self) -> str:
        """The ICD name of the message type, e.g. "SET_DEPTH"."""
        return self.TYPE.name


_M = TypeVar("_M", bound=type[Message])


def _register(cls: _M) -> _M:
    cls._finish()
    MESSAGE_TYPES[cls.TYPE] = cls
    return cls


MESSAGE_TYPES: dict[int, type[Message]] = {}


# --- host -> pen ---------------------------------------------------------------------------


@_register
@dataclass(frozen=True, slots=True)
class Hello(Message):
    """Opens a session; the pen answers INFO echoing the nonce."""

    TYPE = MsgType.HELLO
    DIRECTION = Direction.PEN
    LAYOUT = "BI"
    proto: int
    nonce: int


@_register
@dataclass(frozen=True, slots=True)
class Heartbeat(Message):
    """Keeps the pen's watchdog fed; never answered."""

    TYPE = MsgType.HEARTBEAT
    DIRECTION = Direction.PEN


@_register
@dataclass(frozen=True, slots=True)
class SetDepth(Message):
    """depth_um: needle depth set-point in micrometres (the pen refuses what it cannot do)."""

    TYPE = MsgType.SET_DEPTH
    DIRECTION = Direction.PEN
    LAYOUT = "H"
    depth_um: int


@_register
@dataclass(frozen=True, slots=True)
class SetRate(Message):
    """rate_hz: stamp rate set-point in hertz (stamps per second)."""

    TYPE = MsgType.SET_RATE
    DIRECTION = Direction.PEN
    LAYOUT = "H"
    rate_hz: int


@_register
@dataclass(frozen=True, slots=True)
class Start(Message):
    """Starts the needle (IDLE to RUNNING) if every precondition holds."""

    TYPE = MsgType.START
    DIRECTION = Direction.PEN


@_register
@dataclass(frozen=True, slots=True)
class Stop(Message):
    """Stops the needle (RUNNING to IDLE); always obeyed and ACKed."""

    TYPE = MsgType.STOP
    DIRECTION = Direction.PEN


@_register
@dataclass(frozen=True, slots=True)
class Estop(Message):
    """Stops the motor and retracts the needle at once, from any state; latches ESTOP."""

    TYPE = MsgType.ESTOP
    DIRECTION = Direction.PEN


@_register
@dataclass(frozen=True, slots=True)
class Reset(Message):
    """what: 1 clears a latched fault, 2 releases the e-stop (see `ResetWhat`)."""

    TYPE = MsgType.RESET
    DIRECTION = Direction.PEN
    LAYOUT = "B"
    what: int


@_register
@dataclass(frozen=True, slots=True)
class SetTelemetry(Message):
    """rate_hz: 0 turns STATUS off, 1..200 streams it."""

    TYPE = MsgType.SET_TELEMETRY
    DIRECTION = Direction.PEN
    LAYOUT = "H"
    rate_hz: int


# --- pen -> host ---------------------------------------------------------------------------


@_register
@dataclass(frozen=True, slots=True)
class Ack(Message):
    """of_type: the type code of the command this answers (the seq is the command's)."""

    TYPE = MsgType.ACK
    DIRECTION = Direction.HOST
    LAYOUT = "B"
    of_type: int


@_register
@dataclass(frozen=True, slots=True)
class Nack(Message):
    """of_type: the refused command's type code; detail carries the limit that was broken
    where there is one (e.g. the device's max depth in µm for OUT_OF_RANGE), else 0."""

    TYPE = MsgType.NACK
    DIRECTION = Direction.HOST
    LAYOUT = "BBH"
    ENUMS: ClassVar[dict[str, type[enum.IntEnum]]] = {"error": NackError}
    of_type: int
    error: NackError
    detail: int = 0


@_register
@dataclass(frozen=True, slots=True)
class Info(Message):
    """The answer to HELLO: the nonce echoed, who the pen is and the limits it enforces.

    Depths in µm, rates in Hz, watchdog in ms; boot_id changes on every boot.
    """

    TYPE = MsgType.INFO
    DIRECTION = Direction.HOST
    LAYOUT = "BIBBBBIIHHHHHH"
    ENUMS: ClassVar[dict[str, type[enum.IntEnum]]] = {"device_class": DeviceClass}
    proto: int
    nonce: int
    device_class: DeviceClass
    fw_major: int
    fw_minor: int
    fw_patch: int
    serial: int
    boot_id: int
    depth_min_um: int
    depth_max_um: int
    depth_step_um: int
    rate_min_hz: int
    rate_max_hz: int
    watchdog_ms: int


@_register
@dataclass(frozen=True, slots=True)
class Status(Message):
    """Telemetry (up to 200 Hz): depths in µm, rates in Hz, stamps since boot, motor current
    in mA, temperature in tenths of °C, battery in %, uptime in ms. `faults` is a bit set."""

    TYPE = MsgType.STATUS
    DIRECTION = Direction.HOST
    LAYOUT = "BHHHHHIHhBIBI"
    ENUMS: ClassVar[dict[str, type[enum.IntEnum]]] = {
        "state": State,
        "cartridge_state": CartridgeState,
    }
    FLAGS: ClassVar[dict[str, type[enum.IntFlag]]] = {"faults": Fault}
    state: State
    faults: Fault
    depth_set_um: int
    depth_actual_um: int
    rate_set_hz: int
    rate_actual_hz: int
    stamps: int
    motor_ma: int
    temp_dc: int
    battery_pct: int
    cartridge_id: int
    cartridge_state: CartridgeState
    uptime_ms: int


@_register
@dataclass(frozen=True, slots=True)
class Event(Message):
    """Something happened on the pen; detail depends on code (fault bit, cartridge id, ...)."""

    TYPE = MsgType.EVENT
    DIRECTION = Direction.HOST
    LAYOUT = "BH"
    ENUMS: ClassVar[dict[str, type[enum.IntEnum]]] = {"code": EventCode}
    code: EventCode
    detail: int = 0


#: Messages each end may receive.
HOST_TO_PEN: tuple[type[Message], ...] = tuple(
    c for c in MESSAGE_TYPES.values() if c.DIRECTION is Direction.PEN
)
PEN_TO_HOST: tuple[type[Message], ...] = tuple(
    c for c in MESSAGE_TYPES.values() if c.DIRECTION is Direction.HOST
)

"""The ICD's enumerations: message types, pen states, fault bits, NACK errors, events."""

from __future__ import annotations

import enum


class MsgType(enum.IntEnum):
    """Message type codes (`type` byte). 0x01..0x09 host to pen, 0x80..0x84 pen to host."""

    HELLO = 0x01
    HEARTBEAT = 0x02
    SET_DEPTH = 0x03
    SET_RATE = 0x04
    START = 0x05
    STOP = 0x06
    ESTOP = 0x07
    RESET = 0x08
    SET_TELEMETRY = 0x09
    ACK = 0x80
    NACK = 0x81
    INFO = 0x82
    STATUS = 0x83
    EVENT = 0x84


class Direction(enum.Enum):
    """Which end a decoder sits at: the host decodes pen-to-host types, the pen host-to-pen."""

    HOST = "host"
    PEN = "pen"


class State(enum.IntEnum):
    NO_SESSION = 0
    IDLE = 1
    RUNNING = 2
    FAULT = 3
    ESTOP = 4


class Fault(enum.IntFlag):
    """Bits of STATUS.faults."""

    OVERTEMP = 1 << 0
    MOTOR_STALL = 1 << 1
    DEPTH_ERROR = 1 << 2
    BATTERY_LOW = 1 << 3
    WATCHDOG = 1 << 4
    CARTRIDGE_REMOVED = 1 << 5


class CartridgeState(enum.IntEnum):
    NONE = 0
    FRESH = 1
    IN_USE = 2
    SPENT = 3


class DeviceClass(enum.IntEnum):
    HOME = 0
    PROFESSIONAL = 1


class NackError(enum.IntEnum):
    UNKNOWN_TYPE = 1
    BAD_LENGTH = 2
    BAD_STATE = 3
    OUT_OF_RANGE = 4
    NO_SESSION = 5
    NO_CARTRIDGE = 6
    CARTRIDGE_USED = 7
    FAULT_LATCHED = 8
    ESTOP_LATCHED = 9
    UNSUPPORTED_VERSION = 10
    BATTERY_LOW = 11


class EventCode(enum.IntEnum):
    BOOT = 1
    FAULT_RAISED = 2
    FAULT_CLEARED = 3
    WATCHDOG_TRIPPED = 4
    ESTOP = 5
    CARTRIDGE_INSERTED = 6
    CARTRIDGE_REMOVED = 7
    STARTED = 8
    STOPPED = 9


class ResetWhat(enum.IntEnum):
    """RESET.what values. The field stays a plain int on the wire so a pen can NACK others."""

    CLEAR_FAULT = 1
    RELEASE_ESTOP = 2

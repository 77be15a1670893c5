"""Frames of ICD v1: encoding, and a streaming, direction-aware decoder.

    body  = ver:u8 | type:u8 | seq:u16 | payload | crc:u32      (at most 64 bytes)
    frame = COBS(body) | 0x00

Sans-IO: bytes in, typed values out. The decoder never raises on input bytes; it drops and
counts bad frames by reason and resynchronises at the next 0x00.
"""

from __future__ import annotations

import enum
import struct
import zlib
from collections import Counter
from dataclasses import dataclass

from . import cobs
from .enums import CartridgeState, Direction, Fault, MsgType, NackError, State
from .errors import CobsError, EncodeError
from .messages import MESSAGE_TYPES, WIRE_NAMES, WIRE_RANGES, Message, Status

PROTOCOL_VERSION = 1
HEADER = struct.Struct("<BBH")
CRC = struct.Struct("<I")
HEADER_LEN = HEADER.size
CRC_LEN = CRC.size
MIN_BODY = HEADER_LEN + CRC_LEN
MAX_BODY = 64
#: The longest COBS encoding of a MAX_BODY body (one code byte per 254 data bytes, plus one).
MAX_ENCODED = MAX_BODY + MAX_BODY // 254 + 1
SEQ_MOD = 1 << 16
DELIMITER = b"\x00"


class DropReason(enum.Enum):
    """Why the decoder dropped a frame."""

    COBS = "cobs"  # not a valid COBS encoding
    LENGTH = "length"  # body too short or too long (including a runaway frame with no 0x00)
    CRC = "crc"  # CRC-32 mismatch
    VERSION = "version"  # ver is not 1
    UNKNOWN_TYPE = "unknown_type"  # intact, but no such type for this direction
    BAD_LENGTH = "bad_length"  # intact, but the payload length does not match its type
    BAD_VALUE = "bad_value"  # intact, but an enumerated field holds a value the ICD lacks


@dataclass(frozen=True, slots=True)
class Frame:
    """An intact, understood frame: its sequence number and its message."""

    seq: int
    message: Message


@dataclass(frozen=True, slots=True)
class InvalidFrame:
    """An intact frame (COBS, length, CRC and version all good) that cannot be understood.

    The pen answers these with NACK `error` (UNKNOWN_TYPE or BAD_LENGTH) carrying `seq`;
    the host drops them (they are counted too).
    """

    seq: int
    type_code: int
    payload_len: int
    error: NackError
    reason: DropReason


Decoded = Frame | InvalidFrame


def _check(msg: Message) -> tuple[object, ...]:
    """Validate every field against its wire range and enum; return the values to pack."""
    cls = type(msg)
    values = msg.values()
    for name, code, value in zip(cls.FIELDS, cls.LAYOUT, values, strict=True):
        lo, hi = WIRE_RANGES[code]
        if isinstance(value, bool) or not isinstance(value, int):
            raise EncodeError(cls.__name__, name, value, f"must be an integer ({WIRE_NAMES[code]})")
        if not lo <= value <= hi:
            raise EncodeError(cls.__name__, name, value, f"{WIRE_NAMES[code]} range is {lo}..{hi}")
        enum_type = cls.ENUMS.get(name)
        if enum_type is not None and value not in enum_type._value2member_map_:
            allowed = ", ".join(f"{m.value} {m.name}" for m in enum_type)
            raise EncodeError(cls.__name__, name, value, f"must be one of {allowed}")
    return values


def encode_body(msg: Message, seq: int) -> bytes:
    """The frame body (version to CRC) of `msg` numbered `seq`."""
    if isinstance(seq, bool) or not isinstance(seq, int) or not 0 <= seq < SEQ_MOD:
        raise EncodeError(type(msg).__name__, "seq", seq, "u16 range is 0..65535")
    values = _check(msg)
    head = HEADER.pack(PROTOCOL_VERSION, msg.TYPE, seq) + msg.STRUCT.pack(*values)
    return head + CRC.pack(zlib.crc32(head))


def encode(msg: Message, seq: int) -> bytes:
    """The complete frame of `msg` numbered `seq`: COBS(body) followed by the 0x00 delimiter."""
    return cobs.encode(encode_body(msg, seq)) + DELIMITER


def _status_from(values: tuple[int, ...]) -> Message:
    (state, faults, d_set, d_act, r_set, r_act, stamps, ma, temp, batt, cid, cstate, up) = values
    return Status(
        STATES[state],
        Fault(faults),
        d_set,
        d_act,
        r_set,
        r_act,
        stamps,
        ma,
        temp,
        batt,
        cid,
        CARTRIDGE_STATES[cstate],
        up,
    )


STATES: dict[int, State] = {m.value: m for m in State}
CARTRIDGE_STATES: dict[int, CartridgeState] = {m.value: m for m in CartridgeState}


class Decoder:
    """Streaming decoder for one end of the link.

    `feed()` accepts any chunking and returns what completed, in order. Bad frames are dropped
    and counted in `drops` by `DropReason`; a stream without 0x00 never buffers more than one
    maximal frame.
    """

    def __init__(self, direction: Direction) -> None:
        self.direction = direction
        self.drops: Counter[DropReason] = Counter()
        self.frames = 0
        self._buf = b""
        self._overflow = False
        self._types: dict[int, type[Message]] = {
            code: cls for code, cls in MESSAGE_TYPES.items() if cls.DIRECTION is direction
        }

    @property
    def dropped(self) -> int:
        """All frames dropped so far, whatever the reason."""
        return sum(self.drops.values())

    def reset(self) -> None:
        """Forget any partial frame (the counters are kept)."""
        self._buf = b""
        self._overflow = False

    def feed(self, data: bytes) -> list[Decoded]:
        out: list[Decoded] = []
        buf = self._buf + bytes(data) if self._buf else bytes(data)
        start = 0
        find = buf.find
        while True:
            end = find(0, start)
            if end < 0:
                break
            if self._overflow:
                self._overflow = False  # the runaway frame ends here; it was counted already
            elif end > start:
                self._frame(buf[start:end], out)
            start = end + 1
        rest = buf[start:]
        if self._overflow:
            rest = b""
        elif len(rest) > MAX_ENCODED:
            self.drops[DropReason.LENGTH] += 1
            self._overflow = True
            rest = b""
        self._buf = rest
        return out

    def _frame(self, encoded: bytes, out: list[Decoded]) -> None:
        if len(encoded) > MAX_ENCODED:
            self.drops[DropReason.LENGTH] += 1
            return
        try:
            body = cobs.decode(encoded)
        except CobsError:
            self.drops[DropReason.COBS] += 1
            return
        n = len(body)
        if n < MIN_BODY or n > MAX_BODY:
            self.drops[DropReason.LENGTH] += 1
            return
        (crc,) = CRC.unpack_from(body, n - CRC_LEN)
        if zlib.crc32(memoryview(body)[: n - CRC_LEN]) != crc:
            self.drops[DropReason.CRC] += 1
            return
        ver, type_code, seq = HEADER.unpack_from(body)
        if ver != PROTOCOL_VERSION:
            self.drops[DropReason.VERSION] += 1
            return
        payload_len = n - MIN_BODY
        cls = self._types.get(type_code)
        if cls is None:
            self.drops[DropReason.UNKNOWN_TYPE] += 1
            out.append(
                InvalidFrame(
                    seq, type_code, payload_len, NackError.UNKNOWN_TYPE, DropReason.UNKNOWN_TYPE
                )
            )
            return
        if payload_len != cls.PAYLOAD_LEN:
            self.drops[DropReason.BAD_LENGTH] += 1
            out.append(
                InvalidFrame(
                    seq, type_code, payload_len, NackError.BAD_LENGTH, DropReason.BAD_LENGTH
                )
            )
            return
        values = cls.STRUCT.unpack_from(body, HEADER_LEN)
        try:
            if cls is Status:
                msg = _status_from(values)
            elif cls.ENUMS:
                msg = cls(
                    *(
                        cls.ENUMS[name](v) if name in cls.ENUMS else v
                        for name, v in zip(cls.FIELDS, values, strict=True)
                    )
                )
            else:
                msg = cls(*values)
        except (KeyError, ValueError):
            self.drops[DropReason.BAD_VALUE] += 1
            return
        self.frames += 1
        out.append(Frame(seq, msg))


def message_type_name(type_code: int) -> str:
    """The ICD name of a type code, or its hex value when there is none."""
    try:
        return MsgType(type_code).name
    except ValueError:
        return f"0x{type_code:02x}"

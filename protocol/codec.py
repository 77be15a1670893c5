"""Payloads of ICD v1: typed messages to frame bodies and back, and the streaming decoder.

Sans-IO: bytes in, typed values out. `protocol.framing` cuts the stream and checks COBS,
length, CRC and version; this module packs and unpacks the payloads. The decoder never raises
on input bytes; it drops and counts bad frames by reason and resynchronises at the next 0x00.

Construction is plain: a table per message type gives its struct layout and, for each
enumerated or bit-set field, a dict from wire value to member; the message is `cls(*values)`.
That decodes STATUS far faster than the 200/s the link needs (see `make bench`).
"""

from __future__ import annotations

import enum
import operator
import struct
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .enums import Direction, MsgType, NackError
from .errors import EncodeError
from .framing import (
    HEADER,
    MIN_BODY,
    PROTOCOL_VERSION,
    SEQ_MOD,
    Deframer,
    DropReason,
    seal,
    wrap,
)
from .messages import MESSAGE_TYPES, WIRE_NAMES, WIRE_RANGES, Message


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


# --- encoding --------------------------------------------------------------------------------


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


def _check_seq(msg_name: str, seq: object) -> int:
    if isinstance(seq, bool) or not isinstance(seq, int) or not 0 <= seq < SEQ_MOD:
        raise EncodeError(msg_name, "seq", seq, "u16 range is 0..65535")
    return seq


@dataclass(frozen=True, slots=True)
class _Packer:
    """What the encoder's fast path needs to know about one message class."""

    get: Callable[[Any], tuple[Any, ...]]  # the field values in wire order
    head: struct.Struct  # ver, type, seq and the payload in one struct
    plain_types: frozenset[type]  # value types that need no isinstance check
    enum_checks: tuple[tuple[int, frozenset[int]], ...]  # (field index, allowed values)


def _packer(cls: type[Message]) -> _Packer:
    n = len(cls.FIELDS)
    get: Callable[[Any], tuple[Any, ...]]
    if n == 0:
        get = _no_values
    elif n == 1:
        one = operator.attrgetter(cls.FIELDS[0])
        get = lambda msg: (one(msg),)  # noqa: E731
    else:
        get = operator.attrgetter(*cls.FIELDS)
    plain: set[type] = {int, *cls.ENUMS.values(), *cls.FLAGS.values()}
    checks = tuple(
        (cls.FIELDS.index(name), frozenset(m.value for m in enum_type))
        for name, enum_type in cls.ENUMS.items()
    )
    return _Packer(get, struct.Struct("<BBH" + cls.LAYOUT), frozenset(plain), checks)


def _no_values(msg: object) -> tuple[Any, ...]:
    return ()


_PACKERS: dict[type[Message], _Packer] = {cls: _packer(cls) for cls in MESSAGE_TYPES.values()}


def encode_body(msg: Message, seq: int) -> bytes:
    """The frame body (version to CRC) of `msg` numbered `seq`.

    Raises `EncodeError` (and emits nothing) if `seq` or any field is outside its wire range,
    is not an integer, or an enumerated field holds a value the ICD lacks.
    """
    packer = _PACKERS.get(type(msg))
    if packer is None:
        raise EncodeError(type(msg).__name__, "type", msg, "only the 14 messages of ICD v1 encode")
    values = packer.get(msg)
    # Fast path: plain ints of the right types; struct checks the ranges, we check the enums.
    if (
        type(seq) is int
        and 0 <= seq < SEQ_MOD
        and set(map(type, values)) <= packer.plain_types
        and all(values[i] in allowed for i, allowed in packer.enum_checks)
    ):
        try:
            head = packer.head.pack(PROTOCOL_VERSION, msg.TYPE, seq, *values)
        except struct.error:
            pass  # out of range: the slow path below says which field
        else:
            return seal(head)
    _check_seq(type(msg).__name__, seq)
    values = _check(msg)
    return seal(packer.head.pack(PROTOCOL_VERSION, msg.TYPE, seq, *values))


def encode(msg: Message, seq: int) -> bytes:
    """The complete frame of `msg` numbered `seq`: COBS(body) followed by the 0x00 delimiter."""
    return wrap(encode_body(msg, seq))


def encode_raw(
    type_code: int, seq: int, payload: bytes, *, version: int = PROTOCOL_VERSION
) -> bytes:
    """A well-formed frame (COBS, CRC, delimiter) around arbitrary content.

    For tests and conformance suites that must send what a confused or newer peer would (an
    unknown type, a wrong payload length, another version, an enumerated value the ICD lacks).
    The driver never uses it. Only the header fields are checked, against u8/u16.
    """
    for field, value, hi in (("version", version, 0xFF), ("type", type_code, 0xFF)):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= hi:
            raise EncodeError("frame", field, value, "u8 range is 0..255")
    _check_seq("frame", seq)
    head = HEADER.pack(version, type_code, seq) + bytes(payload)
    return wrap(seal(head))


# --- decoding --------------------------------------------------------------------------------


#: How the decoder types one enumerated or bit-set field: (its index in the message, the
#: lookup from wire value to member made once, a fallback). For a bit set the fallback builds
#: a value the lookup lacks (reserved bits are kept); for an enumeration it is None, and a
#: value the lookup lacks makes the frame BAD_VALUE.
_Typed = tuple[int, Callable[[int], Any], Callable[[int], Any] | None]


@dataclass(frozen=True, slots=True)
class _Unpacker:
    """What the decoder needs to know about one message class."""

    cls: type[Message]
    body_len: int
    unpack: Callable[[bytes, int], tuple[Any, ...]]  # seq and the payload, from offset 2
    typed: tuple[_Typed, ...]

    def frame(self, body: bytes) -> Frame | None:
        """The Frame of an intact body of the right length; None for a value the ICD lacks."""
        seq, *values = self.unpack(body, 2)
        for index, lookup, fallback in self.typed:
            raw = values[index]
            member = lookup(raw)
            if member is None:
                if fallback is None:
                    return None
                member = fallback(raw)
            values[index] = member
        return Frame(seq, self.cls(*values))


def _flag_members(flag: type[enum.IntFlag]) -> dict[int, Any]:
    """Every combination of a bit set's defined bits, keyed by its wire value."""
    known = 0
    for member in flag:
        known |= member.value
    return {v: flag(v) for v in range(known + 1) if v & ~known == 0}


def _unpacker(cls: type[Message]) -> _Unpacker:
    typed: list[_Typed] = []
    for i, name in enumerate(cls.FIELDS):
        if name in cls.ENUMS:
            typed.append((i, {m.value: m for m in cls.ENUMS[name]}.get, None))
        elif name in cls.FLAGS:
            flag = cls.FLAGS[name]
            typed.append((i, _flag_members(flag).get, flag))
    unpack = struct.Struct("<H" + cls.LAYOUT).unpack_from
    return _Unpacker(cls, MIN_BODY + cls.PAYLOAD_LEN, unpack, tuple(typed))


#: type code -> unpacker, for each direction of travel.
_TABLES: dict[Direction, dict[int, _Unpacker]] = {
    direction: {
        code: _unpacker(cls) for code, cls in MESSAGE_TYPES.items() if cls.DIRECTION is direction
    }
    for direction in Direction
}


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
        self._deframer = Deframer(self.drops)
        self._table = _TABLES[direction]

    @property
    def dropped(self) -> int:
        """All frames dropped so far, whatever the reason."""
        return sum(self.drops.values())

    @property
    def buffered(self) -> int:
        """Bytes of an unfinished frame held for the next feed (never more than MAX_ENCODED)."""
        return self._deframer.buffered

    def reset(self) -> None:
        """Forget any partial frame (the counters are kept)."""
        self._deframer.reset()

    def feed(self, data: bytes | bytearray | memoryview) -> list[Decoded]:
        """Take the next bytes of the stream; return the frames they completed, in order."""
        out: list[Decoded] = []
        table = self._table
        for body in self._deframer.feed(data):
            unpacker = table.get(body[1])
            if unpacker is None:
                out.append(self._invalid(body, NackError.UNKNOWN_TYPE, DropReason.UNKNOWN_TYPE))
            elif len(body) != unpacker.body_len:
                out.append(self._invalid(body, NackError.BAD_LENGTH, DropReason.BAD_LENGTH))
            else:
                frame = unpacker.frame(body)
                if frame is None:
                    self.drops[DropReason.BAD_VALUE] += 1
                else:
                    out.append(frame)
                    self.frames += 1
        return out

    def _invalid(self, body: bytes, error: NackError, reason: DropReason) -> InvalidFrame:
        self.drops[reason] += 1
        _, type_code, seq = HEADER.unpack_from(body)
        return InvalidFrame(seq, type_code, len(body) - MIN_BODY, error, reason)


def message_type_name(type_code: int) -> str:
    """The ICD name of a type code, or its hex value when there is none."""
    try:
        return MsgType(type_code).name
    except ValueError:
        return f"0x{type_code:02x}"

"""Frames of ICD v1: encoding, and a streaming, direction-aware decoder.

    body  = ver:u8 | type:u8 | seq:u16 | payload | crc:u32      (at most 64 bytes)
    frame = COBS(body) | 0x00

Sans-IO: bytes in, typed values out. The decoder never raises on input bytes; it drops and
counts bad frames by reason and resynchronises at the next 0x00.

The decoder is the host's hot path (STATUS at up to 200 Hz, and whole captured sessions when a
log is replayed), so it is written for speed; `protocol.cobs.decode` and the message
constructors are the plain reference it is tested against (tests/protocol/test_decoder.py).
"""

from __future__ import annotations

import enum
import operator
import struct
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import cobs
from .enums import Direction, MsgType, NackError
from .errors import EncodeError
from .messages import MESSAGE_TYPES, WIRE_NAMES, WIRE_RANGES, Message

# The `cobs` package's C extension undoes COBS about five times faster than the inline Python
# loop below; it is used when it is installed and compiled, and the results are the same.
_cobs_c_decode: Callable[[bytes], bytes] | None
try:
    from cobs.cobs import _cobs_ext

    _cobs_c_decode = _cobs_ext.decode
    _CobsCError: type[Exception] = _cobs_ext.DecodeError
except ImportError:  # pure-Python fallback
    _cobs_c_decode = None
    _CobsCError = ValueError

PROTOCOL_VERSION = 1
HEADER = struct.Struct("<BBH")
CRC = struct.Struct("<I")
HEADER_LEN = HEADER.size
CRC_LEN = CRC.size
MIN_BODY = HEADER_LEN + CRC_LEN
MAX_BODY = 64
#: The longest COBS encoding of a MAX_BODY body: 65 bytes (one code byte per started 254).
MAX_ENCODED = cobs.max_encoded_length(MAX_BODY)
SEQ_MOD = 1 << 16
DELIMITER = b"\x00"
#: CRC-32/ISO-HDLC of any data followed by its own CRC (little-endian) is this constant, so a
#: receiver can check a body in one pass without unpacking the CRC.
CRC_RESIDUE = 0x2144DF1C


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
        seq.__class__ is int
        and 0 <= seq < SEQ_MOD
        and set(map(type, values)) <= packer.plain_types
        and all(values[i] in allowed for i, allowed in packer.enum_checks)
    ):
        try:
            head = packer.head.pack(PROTOCOL_VERSION, msg.TYPE, seq, *values)
        except struct.error:
            pass  # out of range: the slow path below says which field
        else:
            return head + CRC.pack(zlib.crc32(head))
    _check_seq(type(msg).__name__, seq)
    values = _check(msg)
    head = packer.head.pack(PROTOCOL_VERSION, msg.TYPE, seq, *values)
    return head + CRC.pack(zlib.crc32(head))


def encode(msg: Message, seq: int) -> bytes:
    """The complete frame of `msg` numbered `seq`: COBS(body) followed by the 0x00 delimiter."""
    # COBS for a body of at most 64 bytes (no 0xFF blocks): each run between zeros gets its
    # length + 1 in front. Equal to cobs.encode(body) + DELIMITER (tested).
    out = bytearray()
    for run in encode_body(msg, seq).split(DELIMITER):
        out.append(len(run) + 1)
        out += run
    out.append(0)
    return bytes(out)


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
    return cobs.encode(head + CRC.pack(zlib.crc32(head))) + DELIMITER


# --- decoding --------------------------------------------------------------------------------
#
# The decoder builds each message through a "twin": a plain slotted class with the same slots
# as the frozen dataclass. Its fields are stored with ordinary attribute writes and then the
# object's __class__ is switched to the real class, which Python allows because the two have
# the same layout. The result is an ordinary frozen instance, equal to what the constructor
# gives (the tests compare them), at a quarter of the cost of the frozen __init__.

_FrameDecoder = Callable[[bytes | bytearray], Frame | None]


def _twin(cls: type) -> type:
    """A mutable class with the layout of the frozen, slotted `cls` (checked here, at import,
    so a change to the message classes that breaks the layout fails loudly and at once)."""
    base = cls.__mro__[1]
    slots = tuple(cls.__dict__.get("__slots__", ()))
    twin = type(f"_{cls.__name__}Twin", (base,), {"__slots__": slots})
    probe = twin()
    try:
        probe.__class__ = cls
    except TypeError as exc:
        raise TypeError(f"{cls.__name__} is not a slotted class the decoder can build") from exc
    if "__dict__" in dir(probe) or twin.__basicsize__ != cls.__basicsize__:
        raise TypeError(f"{cls.__name__} has a layout the decoder cannot build")
    return twin


_FRAME_TWIN = _twin(Frame)


def _decoder_source(cls: type[Message]) -> tuple[str, dict[str, Any]]:
    """Source and namespace of the function that turns an intact body of `cls` into a Frame."""
    names = [f"v{i}" for i in range(len(cls.FIELDS))]
    env: dict[str, Any] = {
        "_unpack": struct.Struct("<H" + cls.LAYOUT).unpack_from,
        "_cls": cls,
        "_twin": _twin(cls),
        "_Frame": Frame,
        "_FrameTwin": _FRAME_TWIN,
    }
    lines = [f"def _decode_{cls.__name__}(body):"]
    lines.append(f"    (seq, {''.join(n + ', ' for n in names)}) = _unpack(body, 2)")
    for i, name in enumerate(cls.FIELDS):
        if name in cls.ENUMS:
            env[f"_members{i}"] = {m.value: m for m in cls.ENUMS[name]}
            lines.append(f"    v{i} = _members{i}.get(v{i})")
            lines.append(f"    if v{i} is None:")
            lines.append("        return None")
        elif name in cls.FLAGS:
            flag = cls.FLAGS[name]
            env[f"_flag{i}"] = flag
            known = 0
            for member in flag:
                known |= member.value
            # Every combination of defined bits, made once; reserved bits are kept, uncached.
            env[f"_flags{i}"] = {v: flag(v) for v in range(known + 1) if v & ~known == 0}
            lines.append(f"    f{i} = _flags{i}.get(v{i})")
            lines.append(f"    v{i} = _flag{i}(v{i}) if f{i} is None else f{i}")
    lines.append("    m = _twin()")
    lines.extend(f"    m.{name} = v{i}" for i, name in enumerate(cls.FIELDS))
    lines.append("    m.__class__ = _cls")
    lines.append("    f = _FrameTwin()")
    lines.append("    f.seq = seq")
    lines.append("    f.message = m")
    lines.append("    f.__class__ = _Frame")
    lines.append("    return f")
    return "\n".join(lines) + "\n", env


def _make_decoder(cls: type[Message]) -> _FrameDecoder:
    source, env = _decoder_source(cls)
    exec(compile(source, f"<protocol.codec decoder of {cls.__name__}>", "exec"), env)
    decoder: _FrameDecoder = env[f"_decode_{cls.__name__}"]
    return decoder


#: type code -> (body length, decoder) for each direction of travel.
_TABLES: dict[Direction, dict[int, tuple[int, _FrameDecoder]]] = {
    direction: {
        code: (MIN_BODY + cls.PAYLOAD_LEN, _make_decoder(cls))
        for code, cls in MESSAGE_TYPES.items()
        if cls.DIRECTION is direction
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
        self._buf = b""
        self._overflow = False
        self._table = _TABLES[direction]

    @property
    def dropped(self) -> int:
        """All frames dropped so far, whatever the reason."""
        return sum(self.drops.values())

    @property
    def buffered(self) -> int:
        """Bytes of an unfinished frame held for the next feed (never more than MAX_ENCODED)."""
        return len(self._buf)

    def reset(self) -> None:
        """Forget any partial frame (the counters are kept)."""
        self._buf = b""
        self._overflow = False

    def feed(self, data: bytes | bytearray | memoryview) -> list[Decoded]:
        """Take the next bytes of the stream; return the frames they completed, in order."""
        buf = self._buf + data if self._buf else bytes(data)
        segments = buf.split(DELIMITER)
        rest = segments.pop()  # the bytes after the last 0x00: a frame still arriving
        if self._overflow:
            if segments:
                # The runaway frame ends at this 0x00; it was counted when it overflowed.
                segments[0] = b""
                self._overflow = False
            else:
                rest = b""
        if len(rest) > MAX_ENCODED:
            self.drops[DropReason.LENGTH] += 1
            self._overflow = True
            rest = b""
        self._buf = rest
        out: list[Decoded] = []
        if not segments:
            return out
        # Each complete frame, delimiter removed. Written inline for speed; see the module doc.
        table = self._table
        crc32 = zlib.crc32
        append = out.append
        good = 0
        for seg in segments:
            n = len(seg)
            if n == 0:
                continue  # an empty frame: a sender's flush
            if n > MAX_ENCODED:
                self.drops[DropReason.LENGTH] += 1
                continue
            body: bytes | bytearray
            if _cobs_c_decode is not None:
                try:
                    body = _cobs_c_decode(seg)
                except _CobsCError:
                    self.drops[DropReason.COBS] += 1
                    continue
            else:
                # COBS: every code byte after the first stands for a 0x00 in the body. A frame
                # of at most MAX_ENCODED bytes cannot hold a 0xFF block, so this equals
                # cobs.decode().
                work = bytearray(seg)
                i = seg[0]
                while i < n:
                    work[i] = 0
                    i += seg[i]
                if i != n:
                    self.drops[DropReason.COBS] += 1
                    continue
                del work[0]
                body = work
            blen = len(body)
            if blen < MIN_BODY:
                self.drops[DropReason.LENGTH] += 1
                continue
            if crc32(body) != CRC_RESIDUE:
                self.drops[DropReason.CRC] += 1
                continue
            if body[0] != PROTOCOL_VERSION:
                self.drops[DropReason.VERSION] += 1
                continue
            entry = table.get(body[1])
            if entry is None:
                self._invalid(body, NackError.UNKNOWN_TYPE, DropReason.UNKNOWN_TYPE, out)
                continue
            length, decode = entry
            if blen != length:
                self._invalid(body, NackError.BAD_LENGTH, DropReason.BAD_LENGTH, out)
                continue
            frame = decode(body)
            if frame is None:
                self.drops[DropReason.BAD_VALUE] += 1
                continue
            append(frame)
            good += 1
        self.frames += good
        return out

    def _invalid(
        self, body: bytes | bytearray, error: NackError, reason: DropReason, out: list[Decoded]
    ) -> None:
        self.drops[reason] += 1
        _, type_code, seq = HEADER.unpack_from(body)
        out.append(InvalidFrame(seq, type_code, len(body) - MIN_BODY, error, reason))


def message_type_name(type_code: int) -> str:
    """The ICD name of a type code, or its hex value when there is none."""
    try:
        return MsgType(type_code).name
    except ValueError:
        return f"0x{type_code:02x}"

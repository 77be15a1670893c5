"""Framing of ICD v1: how a frame body travels as bytes, and how a stream is cut back into bodies.

    body  = ver:u8 | type:u8 | seq:u16 | payload | crc:u32      (at most 64 bytes)
    frame = COBS(body) | 0x00

This module knows nothing of the payloads (`protocol.codec` does): it seals a body with its
CRC, wraps it in COBS and the delimiter, and on the way in cuts a stream at each 0x00 (so a
receiver resynchronises at the next delimiter whatever came before), undoes COBS, and checks
the length, the CRC (by its residue) and the version. COBS is the `cobs` package's, through
its public API (`protocol.cobs` states the contract; the stream path calls the package
directly, as segments are never empty there). What fails is dropped and counted by
`DropReason`; nothing here raises on the peer's bytes.
"""

from __future__ import annotations

import enum
import struct
import zlib
from collections import Counter

from cobs.cobs import DecodeError as _CobsDecodeError
from cobs.cobs import decode as _cobs_decode

from . import cobs

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

_crc32 = zlib.crc32


class DropReason(enum.Enum):
    """Why the decoder dropped a frame."""

    COBS = "cobs"  # not a valid COBS encoding
    LENGTH = "length"  # body too short or too long (including a runaway frame with no 0x00)
    CRC = "crc"  # CRC-32 mismatch
    VERSION = "version"  # ver is not 1
    UNKNOWN_TYPE = "unknown_type"  # intact, but no such type for this direction
    BAD_LENGTH = "bad_length"  # intact, but the payload length does not match its type
    BAD_VALUE = "bad_value"  # intact, but an enumerated field holds a value the ICD lacks


def seal(head: bytes) -> bytes:
    """The body: `head` (version, type, seq and payload) followed by its CRC-32."""
    return head + CRC.pack(zlib.crc32(head))


def wrap(body: bytes) -> bytes:
    """The frame of `body`: its COBS encoding followed by the 0x00 delimiter."""
    return cobs.encode(body) + DELIMITER


class Deframer:
    """Cuts a byte stream into intact frame bodies, resynchronising at every 0x00.

    `feed()` accepts any chunking and returns the bodies it completed, in order; what fails
    the framing checks is counted in `drops`. A stream without 0x00 never buffers more than
    one maximal frame: the runaway frame is counted once (LENGTH) and skipped up to the next
    0x00.
    """

    def __init__(self, drops: Counter[DropReason] | None = None) -> None:
        self.drops: Counter[DropReason] = Counter() if drops is None else drops
        self._buf = b""
        self._overflow = False

    @property
    def buffered(self) -> int:
        """Bytes of an unfinished frame held for the next feed (never more than MAX_ENCODED)."""
        return len(self._buf)

    def reset(self) -> None:
        """Forget any partial frame (the counters are kept)."""
        self._buf = b""
        self._overflow = False

    def segments(self, data: bytes | bytearray | memoryview) -> list[bytes]:
        """The frames (delimiter removed, empty ones left out) that `data` completed."""
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
        return [seg for seg in segments if seg]  # an empty frame is a sender's flush

    def feed(self, data: bytes | bytearray | memoryview) -> list[bytes]:
        """The intact bodies (COBS undone, length, CRC and version good) `data` completed.

        A frame is dropped (and counted) when it is longer than MAX_ENCODED, not COBS, its body
        is shorter than MIN_BODY, its CRC does not match or its version is not ours.
        """
        drops = self.drops
        bodies = []
        for segment in self.segments(data):
            if len(segment) > MAX_ENCODED:
                drops[DropReason.LENGTH] += 1
                continue
            try:
                body = _cobs_decode(segment)
            except _CobsDecodeError:
                drops[DropReason.COBS] += 1
                continue
            if len(body) < MIN_BODY:
                drops[DropReason.LENGTH] += 1
            elif _crc32(body) != CRC_RESIDUE:
                drops[DropReason.CRC] += 1
            elif body[0] != PROTOCOL_VERSION:
                drops[DropReason.VERSION] += 1
            else:
                bodies.append(body)
        return bodies

"""Consistent Overhead Byte Stuffing (Cheshire and Baker, 1999), as the ICD's framing uses it.

The one implementation is the `cobs` package (its public `cobs.cobs` API, a C extension where
it is compiled); this module only states the framing's contract on top of it:

* `encode` never emits a 0x00, so 0x00 can delimit frames;
* `decode` is its inverse and raises `CobsError` (one of ours, not the package's) for bytes
  that are not a COBS encoding: an empty input, a 0x00 inside, or a block that runs past the
  end.

The encoding is the common minimal one (as in Wikipedia's examples and the package): a run of
254 non-zero bytes at the very end is a 0xFF block with nothing after it. A frame body is at
most 64 bytes, so frames never hold a 0xFF block; tests/protocol/test_cobs.py checks the
general case against the reference vectors.
"""

from __future__ import annotations

from cobs.cobs import DecodeError as _PackageDecodeError
from cobs.cobs import decode as _package_decode
from cobs.cobs import encode as _package_encode
from cobs.cobs import max_encoded_length as _package_max_encoded_length

from .errors import CobsError


def encode(data: bytes | bytearray | memoryview) -> bytes:
    """COBS-encode `data` (without the trailing 0x00 delimiter)."""
    encoded: bytes = _package_encode(bytes(data))
    return encoded


def decode(data: bytes | bytearray | memoryview) -> bytes:
    """Decode one COBS block sequence (no 0x00 inside, delimiter already removed)."""
    if not data:
        raise CobsError("an empty input is not a COBS encoding")
    try:
        decoded: bytes = _package_decode(bytes(data))
    except _PackageDecodeError as exc:
        raise CobsError(f"not a COBS encoding: {exc}") from None
    return decoded


def max_encoded_length(n: int) -> int:
    """The longest COBS encoding of `n` bytes: one code byte per started 254 (at least one)."""
    length: int = _package_max_encoded_length(n)
    return length

"""Consistent Overhead Byte Stuffing (Cheshire and Baker, 1999), as the ICD's framing uses it.

`encode` never emits a 0x00, so 0x00 can delimit frames; `decode` is its inverse and raises
`CobsError` for bytes that are not a COBS encoding (a 0x00 inside, or a block that runs past
the end). The encoding is the common minimal one (as in Wikipedia's examples and the `cobs`
package): a run of 254 non-zero bytes at the very end is a 0xFF block with nothing after it.

A frame body is at most 64 bytes, so frames never hold a 0xFF block; the general case is kept
for the unit vectors and for anyone reusing this module. The decoder's hot path in
`protocol.codec` relies on that bound and is tested against `decode`.
"""

from __future__ import annotations

from .errors import CobsError


def encode(data: bytes) -> bytes:
    """COBS-encode `data` (without the trailing 0x00 delimiter)."""
    out = bytearray()
    chunks = bytes(data).split(b"\x00")
    last = len(chunks) - 1
    for index, chunk in enumerate(chunks):
        # A zero-free run longer than 254 bytes is cut into 0xFF blocks that imply no zero.
        while len(chunk) >= 254:
            out.append(0xFF)
            out += chunk[:254]
            chunk = chunk[254:]
            if not chunk and index == last:
                return bytes(out)  # the data ends with a full block: no code byte after it
        out.append(len(chunk) + 1)
        out += chunk
    return bytes(out)


def decode(data: bytes) -> bytes:
    """Decode one COBS block sequence (no 0x00 inside, delimiter already removed)."""
    out = bytearray()
    i = 0
    n = len(data)
    if n == 0:
        raise CobsError("an empty input is not a COBS encoding")
    while i < n:
        code = data[i]
        if code == 0:
            raise CobsError(f"0x00 inside a COBS block at offset {i}")
        end = i + code
        if end > n:
            raise CobsError(f"block at offset {i} runs past the end ({code} > {n - i})")
        block = data[i + 1 : end]
        if 0 in block:
            raise CobsError("0x00 inside a COBS block")
        out += block
        i = end
        if code != 0xFF and i < n:
            out.append(0)
    return bytes(out)


def max_encoded_length(n: int) -> int:
    """The longest COBS encoding of `n` bytes: one code byte per started 254 (at least one)."""
    return n + max(1, (n + 253) // 254)

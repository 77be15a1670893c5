"""Consistent Overhead Byte Stuffing (Cheshire and Baker, 1999), as the ICD's framing uses it.

`encode` never emits a 0x00, so 0x00 can delimit frames; `decode` is its exact inverse and
raises `CobsError` for anything `encode` could not have produced.
"""

from __future__ import annotations

from .errors import CobsError


def encode(data: bytes) -> bytes:
    """COBS-encode `data` (without the trailing 0x00 delimiter)."""
    out = bytearray()
    for chunk in bytes(data).split(b"\x00"):
        # A zero-free run longer than 254 bytes is cut into 0xFF blocks that imply no zero.
        while len(chunk) >= 254:
            out.append(0xFF)
            out += chunk[:254]
            chunk = chunk[254:]
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

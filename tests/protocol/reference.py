"""A slow, obvious decoder written from the ICD alone, to check protocol.codec against.

It shares no code with protocol/ (its own COBS, its own field tables typed from ICD.md), so a
mistake would have to be made twice, the same way, to go unnoticed.
"""

from __future__ import annotations

import struct
import zlib
from collections import Counter
from typing import Literal

# type code -> (name, receiver, [(field, struct code)]) straight from ICD.md's tables.
ICD: dict[int, tuple[str, Literal["pen", "host"], list[tuple[str, str]]]] = {
    0x01: ("HELLO", "pen", [("proto", "B"), ("nonce", "I")]),
    0x02: ("HEARTBEAT", "pen", []),
    0x03: ("SET_DEPTH", "pen", [("depth_um", "H")]),
    0x04: ("SET_RATE", "pen", [("rate_hz", "H")]),
    0x05: ("START", "pen", []),
    0x06: ("STOP", "pen", []),
    0x07: ("ESTOP", "pen", []),
    0x08: ("RESET", "pen", [("what", "B")]),
    0x09: ("SET_TELEMETRY", "pen", [("rate_hz", "H")]),
    0x80: ("ACK", "host", [("of_type", "B")]),
    0x81: ("NACK", "host", [("of_type", "B"), ("error", "B"), ("detail", "H")]),
    0x82: (
        "INFO",
        "host",
        [
            ("proto", "B"),
            ("nonce", "I"),
            ("device_class", "B"),
            ("fw_major", "B"),
            ("fw_minor", "B"),
            ("fw_patch", "B"),
            ("serial", "I"),
            ("boot_id", "I"),
            ("depth_min_um", "H"),
            ("depth_max_um", "H"),
            ("depth_step_um", "H"),
            ("rate_min_hz", "H"),
            ("rate_max_hz", "H"),
            ("watchdog_ms", "H"),
        ],
    ),
    0x83: (
        "STATUS",
        "host",
        [
            ("state", "B"),
            ("faults", "H"),
            ("depth_set_um", "H"),
            ("depth_actual_um", "H"),
            ("rate_set_hz", "H"),
            ("rate_actual_hz", "H"),
            ("stamps", "I"),
            ("motor_ma", "H"),
            ("temp_dc", "h"),
            ("battery_pct", "B"),
            ("cartridge_id", "I"),
            ("cartridge_state", "B"),
            ("uptime_ms", "I"),
        ],
    ),
    0x84: ("EVENT", "host", [("code", "B"), ("detail", "H")]),
}

#: Enumerated pen-to-host fields and the values the ICD defines for them.
ENUMERATED: dict[tuple[int, str], range] = {
    (0x81, "error"): range(1, 12),
    (0x82, "device_class"): range(0, 2),
    (0x83, "state"): range(0, 5),
    (0x83, "cartridge_state"): range(0, 4),
    (0x84, "code"): range(1, 10),
}

MAX_BODY = 64
MAX_ENCODED = 65  # COBS of 64 bytes: one code byte more

Output = tuple[object, ...]


def cobs_decode(data: bytes) -> bytes | None:
    """Plain COBS decoding; None if `data` is not a valid encoding."""
    if not data:
        return None
    out = bytearray()
    i = 0
    while i < len(data):
        code = data[i]
        if code == 0 or i + code > len(data):
            return None
        out += data[i + 1 : i + code]
        i += code
        if code != 0xFF and i < len(data):
            out.append(0)
    return bytes(out)


def layout(type_code: int) -> str:
    return "<" + "".join(code for _, code in ICD[type_code][2])


def decode_segment(seg: bytes, receiver: str, drops: Counter[str]) -> Output | None:
    """One frame without its delimiter: ("frame", seq, type, values) or ("invalid", seq,
    type, payload_len, reason), or None (dropped and counted in `drops`, or empty)."""
    if not seg:
        return None
    if len(seg) > MAX_ENCODED:
        drops["length"] += 1
        return None
    body = cobs_decode(seg)
    if body is None:
        drops["cobs"] += 1
        return None
    if not 8 <= len(body) <= MAX_BODY:
        drops["length"] += 1
        return None
    if zlib.crc32(body[:-4]) != int.from_bytes(body[-4:], "little"):
        drops["crc"] += 1
        return None
    ver, type_code, seq = body[0], body[1], int.from_bytes(body[2:4], "little")
    if ver != 1:
        drops["version"] += 1
        return None
    payload = body[4:-4]
    if type_code not in ICD or ICD[type_code][1] != receiver:
        drops["unknown_type"] += 1
        return ("invalid", seq, type_code, len(payload), "unknown_type")
    if len(payload) != struct.calcsize(layout(type_code)):
        drops["bad_length"] += 1
        return ("invalid", seq, type_code, len(payload), "bad_length")
    values = struct.unpack(layout(type_code), payload)
    for (name, _), value in zip(ICD[type_code][2], values, strict=True):
        allowed = ENUMERATED.get((type_code, name))
        if allowed is not None and value not in allowed:
            drops["bad_value"] += 1
            return None
    return ("frame", seq, type_code, values)


def decode_stream(stream: bytes, receiver: str) -> tuple[list[Output], Counter[str]]:
    """Everything a receiver should make of a whole stream, and what it should count."""
    drops: Counter[str] = Counter()
    out: list[Output] = []
    *complete, tail = stream.split(b"\x00")
    for seg in complete:
        item = decode_segment(seg, receiver, drops)
        if item is not None:
            out.append(item)
    if len(tail) > MAX_ENCODED:
        drops["length"] += 1  # a runaway frame is counted as soon as it is too long
    return out, drops


def shape(item: object) -> Output:
    """A protocol.codec output in the reference's shape, to compare the two."""
    from protocol import Frame, InvalidFrame

    if isinstance(item, Frame):
        values = tuple(int(v) for v in item.message.values())
        return ("frame", item.seq, int(item.message.TYPE), values)
    assert isinstance(item, InvalidFrame)
    return ("invalid", item.seq, item.type_code, item.payload_len, item.reason.value)

"""Codec throughput: encode and decode of STATUS and SET_DEPTH frames, in frames per second,
against pymavlink's MAVLink 2 codec on ATTITUDE (a telemetry message of similar size) measured
in the same run. Target: our decode is at least as fast as pymavlink's (1x). The decoder is
written plainly (the `cobs` package's public API, table-driven enum lookup, `cls(*values)`);
the link needs 200 STATUS frames/s, so the figure is headroom, not a goal in itself.

Both decoders get the same stream cut the same way: 4 KiB reads (a port's buffer after a busy
moment, or a log replay) and one frame per read (a 200 Hz stream read as it arrives).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from protocol import (
    CartridgeState,
    Decoder,
    Direction,
    Fault,
    Message,
    SetDepth,
    State,
    Status,
    encode,
)

from .common import Row, best_rate, chunks, interleaved

FRAMES = 20_000
READ = 4096
TARGET = 1.0
BENCH = "codec"


def status_messages(n: int, rng: random.Random) -> list[Message]:
    """A plausible treatment: RUNNING at 200 Hz with values moving as they would."""
    out: list[Message] = []
    stamps = 0
    cartridge = rng.getrandbits(32)
    for i in range(n):
        depth = rng.randrange(250, 3001, 50)
        rate = rng.randrange(25, 151)
        stamps += rate // 200 + 1
        out.append(
            Status(
                State.RUNNING,
                Fault(0) if rng.random() > 0.01 else Fault.OVERTEMP,
                depth,
                depth + rng.randrange(-40, 41),
                rate,
                rate - rng.randrange(0, 3),
                stamps,
                rng.randrange(100, 800),
                rng.randrange(200, 450),
                rng.randrange(10, 101),
                cartridge,
                CartridgeState.IN_USE,
                60_000 + 5 * i,
            )
        )
    return out


def depth_messages(n: int, rng: random.Random) -> list[Message]:
    return [SetDepth(rng.randrange(250, 3001, 50)) for _ in range(n)]


def _ours(messages: list[Message], direction: Direction) -> dict[str, Callable[[], float]]:
    frames = [encode(m, i & 0xFFFF) for i, m in enumerate(messages)]
    stream = b"".join(frames)
    reads = chunks(stream, READ)

    def encode_all() -> None:
        for i, m in enumerate(messages):
            encode(m, i & 0xFFFF)

    def decode(pieces: list[bytes]) -> Callable[[], None]:
        def run() -> None:
            decoder = Decoder(direction)
            feed = decoder.feed
            for piece in pieces:
                feed(piece)

        return run

    # Correctness first: a fast decoder that loses frames would be no figure at all.
    decoder = Decoder(direction)
    got = [f for r in reads for f in decoder.feed(r)]
    if [f.message for f in got] != messages or decoder.dropped:  # type: ignore[union-attr]
        raise RuntimeError("our decoder did not give back the messages it was fed")
    n = len(messages)
    return {
        "encode": lambda: best_rate(encode_all, n, 3),
        "decode_reads": lambda: best_rate(decode(reads), n, 3),
        "decode_frames": lambda: best_rate(decode(frames), n, 3),
    }


def _peer(n: int, rng: random.Random) -> dict[str, Callable[[], float]]:
    from pymavlink.dialects.v20 import common as mavlink2

    mav = mavlink2.MAVLink(None, srcSystem=1, srcComponent=1)
    messages: list[Any] = [
        mavlink2.MAVLink_attitude_message(
            60_000 + 5 * i,
            rng.uniform(-3.14, 3.14),
            rng.uniform(-1.5, 1.5),
            rng.uniform(-3.14, 3.14),
            rng.uniform(-1, 1),
            rng.uniform(-1, 1),
            rng.uniform(-1, 1),
        )
        for i in range(n)
    ]
    frames = [bytes(m.pack(mav)) for m in messages]
    stream = b"".join(frames)
    reads = chunks(stream, READ)

    def encode_all() -> None:
        for m in messages:
            m.pack(mav)

    def decode(pieces: list[bytes]) -> Callable[[], None]:
        def run() -> None:
            parser = mavlink2.MAVLink(None)
            parse = parser.parse_buffer
            for piece in pieces:
                parse(piece)

        return run

    parser = mavlink2.MAVLink(None)
    got = [m for r in reads for m in (parser.parse_buffer(r) or [])]
    if len(got) != n or any(g.get_type() != "ATTITUDE" for g in got):
        raise RuntimeError("pymavlink did not give back the ATTITUDE messages it was fed")
    return {
        "encode": lambda: best_rate(encode_all, n, 3),
        "decode_reads": lambda: best_rate(decode(reads), n, 3),
        "decode_frames": lambda: best_rate(decode(frames), n, 3),
        "size": lambda: float(len(frames[0])),
    }


def run() -> list[Row]:
    rng = random.Random(20240601)
    status = status_messages(FRAMES, rng)
    depth = depth_messages(FRAMES, rng)
    measures: dict[str, Callable[[], float]] = {}
    for label, msgs, direction in (
        ("STATUS", status, Direction.HOST),
        ("SET_DEPTH", depth, Direction.PEN),
    ):
        for key, fn in _ours(msgs, direction).items():
            measures[f"{label}.{key}"] = fn
    peer_name = "pymavlink ATTITUDE"
    try:
        for key, fn in _peer(FRAMES, rng).items():
            measures[f"peer.{key}"] = fn
    except ImportError:
        peer_name = "pymavlink (not installed: make bench installs it)"
    figures = interleaved(measures.items(), rounds=3)
    peer_size = figures.get("peer.size")
    sizes = {
        "STATUS": len(encode(status[0], 0)),
        "SET_DEPTH": len(encode(depth[0], 0)),
    }

    def peer(key: str) -> float | None:
        return figures.get(f"peer.{key}")

    rows: list[Row] = []
    for label in ("STATUS", "SET_DEPTH"):
        size = f"{sizes[label]} B frames" + (
            f" vs {peer_size:.0f} B" if peer_size is not None else ""
        )
        rows.append(
            Row(
                BENCH,
                f"{label} encode",
                figures[f"{label}.encode"],
                "frames/s",
                f"{peer_name} pack",
                peer("encode"),
                note=size,
            )
        )
        for key, how in (("decode_reads", "4 KiB reads"), ("decode_frames", "one frame per read")):
            rows.append(
                Row(
                    BENCH,
                    f"{label} decode, {how}",
                    figures[f"{label}.{key}"],
                    "frames/s",
                    f"{peer_name} parse_buffer",
                    peer(key),
                    target_ratio=TARGET,
                )
            )
    return rows

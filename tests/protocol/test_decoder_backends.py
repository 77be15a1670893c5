"""The decoder undoes COBS with the `cobs` package's C extension when it is compiled, and with
an inline Python loop otherwise: both must give exactly the same frames and drop counts."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

import protocol
import protocol.codec as codec
from protocol import Direction

from .strategies import frames_of, numbered


def decode_all(direction: Direction, data: bytes) -> tuple[list[object], dict[str, int]]:
    d = protocol.Decoder(direction)
    out = d.feed(data)
    return out, {r.value: n for r, n in d.drops.items()}


@given(
    direction=st.sampled_from(list(Direction)),
    items=st.lists(numbered(Direction.HOST) | numbered(Direction.PEN), max_size=8),
    noise=st.lists(st.binary(max_size=80), max_size=8),
)
def test_c_and_python_cobs_paths_agree(direction, items, noise):
    frames = frames_of(items)
    stream = b"".join(f + n for f, n in zip(frames, noise + [b""] * len(frames), strict=False))
    stream += b"".join(noise) + b"\x00"
    fast = decode_all(direction, stream)
    saved = codec._cobs_c_decode
    codec._cobs_c_decode = None
    try:
        slow = decode_all(direction, stream)
    finally:
        codec._cobs_c_decode = saved
    assert fast == slow

"""Valid frames of both directions between bursts of line noise, fed as one stream: the
decoder gives exactly what the independent reference decoder (tests/protocol/reference.py)
makes of it, frames and drop counts alike. (The decoder has one COBS path, the `cobs`
package's public API; this is the check that it and the framing around it agree with a plain
reading of the ICD.)"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

import protocol
from driver.testing.strategies import frames_of, numbered
from protocol import Direction

from . import reference


def decode_all(direction: Direction, data: bytes) -> tuple[list[object], dict[str, int]]:
    d = protocol.Decoder(direction)
    out = [reference.shape(item) for item in d.feed(data)]
    return out, {r.value: n for r, n in d.drops.items() if n}


@given(
    direction=st.sampled_from(list(Direction)),
    items=st.lists(numbered(Direction.HOST) | numbered(Direction.PEN), max_size=8),
    noise=st.lists(st.binary(max_size=80), max_size=8),
)
def test_frames_between_noise_decode_as_the_reference_says(direction, items, noise):
    frames = frames_of(items)
    stream = b"".join(f + n for f, n in zip(frames, noise + [b""] * len(frames), strict=False))
    stream += b"".join(noise) + b"\x00"
    want, drops = reference.decode_stream(stream, direction.value)
    assert decode_all(direction, stream) == (want, dict(drops))

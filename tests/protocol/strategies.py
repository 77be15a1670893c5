"""Hypothesis strategies for ICD v1 messages and streams, shared by the protocol tests (and
free for other suites to import).

Every field ranges over its whole wire range; hypothesis favours the edges (0, the maximum,
-32768 for i16), which is where codecs break.
"""

from __future__ import annotations

from itertools import pairwise

from hypothesis import strategies as st

from protocol import (
    HOST_TO_PEN,
    MESSAGE_TYPES,
    PEN_TO_HOST,
    Direction,
    Message,
    encode,
)
from protocol.messages import WIRE_RANGES

seqs = st.integers(min_value=0, max_value=0xFFFF)


def _field(cls: type[Message], name: str, code: str) -> st.SearchStrategy[object]:
    if name in cls.ENUMS:
        return st.sampled_from(list(cls.ENUMS[name]))
    lo, hi = WIRE_RANGES[code]
    ints = st.integers(min_value=lo, max_value=hi)
    if name in cls.FLAGS:
        return ints.map(cls.FLAGS[name])
    return ints


def messages_of(cls: type[Message]) -> st.SearchStrategy[Message]:
    """Any encodable `cls` message, over the full range of every field."""
    fields = {
        name: _field(cls, name, code) for name, code in zip(cls.FIELDS, cls.LAYOUT, strict=True)
    }
    return st.builds(cls, **fields)


ALL_TYPES = tuple(MESSAGE_TYPES.values())
any_message = st.sampled_from(ALL_TYPES).flatmap(messages_of)


def messages_to(direction: Direction) -> st.SearchStrategy[Message]:
    """Messages the end at `direction` receives."""
    classes = HOST_TO_PEN if direction is Direction.PEN else PEN_TO_HOST
    return st.sampled_from(classes).flatmap(messages_of)


def numbered(direction: Direction) -> st.SearchStrategy[tuple[int, Message]]:
    return st.tuples(seqs, messages_to(direction))


def streams(
    direction: Direction, min_size: int = 1, max_size: int = 12
) -> st.SearchStrategy[list[tuple[int, Message]]]:
    return st.lists(numbered(direction), min_size=min_size, max_size=max_size)


def frames_of(items: list[tuple[int, Message]]) -> list[bytes]:
    return [encode(msg, seq) for seq, msg in items]


directions = st.sampled_from(list(Direction))


@st.composite
def cuts(draw: st.DrawFn, data: bytes) -> list[bytes]:
    """`data` cut into pieces at arbitrary places: single bytes, empty pieces, or all at once."""
    if not data:
        return [b""]
    points = draw(st.lists(st.integers(min_value=0, max_value=len(data)), max_size=len(data) + 2))
    bounds = [0, *sorted(points), len(data)]
    return [data[a:b] for a, b in pairwise(bounds)]

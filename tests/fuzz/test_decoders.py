"""Bounded fuzzing of both decoders inside `make test`: the atheris targets of targets.py fed
by hypothesis (garbage, damaged streams of valid frames, bit flips), plus the property that a
damaged frame costs only itself."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from driver.testing.strategies import streams
from protocol import Decoder, Direction, Frame, encode
from tests.fuzz.targets import check_decoder, decoder_host, decoder_pen, seeds

DIRECTIONS = [Direction.HOST, Direction.PEN]


@given(data=st.binary(max_size=400))
@example(data=b"")
@example(data=b"\x00" * 70)
@example(data=b"\xff" * 300)  # a runaway frame: longer than any frame, no delimiter
@example(data=b"\x01" * 66 + b"\x00")
def test_host_decoder_survives_any_bytes(data: bytes) -> None:
    decoder_host(data)


@given(data=st.binary(max_size=400))
@example(data=b"\x02\x01\x00")
def test_pen_decoder_survives_any_bytes(data: bytes) -> None:
    decoder_pen(data)


@pytest.mark.parametrize("direction", DIRECTIONS, ids=lambda d: d.name.lower())
def test_seed_corpus_decodes_cleanly(direction: Direction) -> None:
    """The corpus the atheris runs start from is made of good frames (or is the fuzz of
    nothing): each seed decodes without a drop."""
    name = "decoder_host" if direction is Direction.HOST else "decoder_pen"
    for seed in seeds(name):
        check_decoder(direction, seed)
        decoder = Decoder(direction)
        assert decoder.feed(seed) and not decoder.dropped


@st.composite
def damaged_streams(draw: st.DrawFn, direction: Direction) -> tuple[list[Frame], list[bool], bytes]:
    """A stream of valid frames where some frames' bytes (never their delimiter) are damaged:
    bits flipped, bytes inserted or deleted, or replaced by garbage."""
    items = draw(streams(direction, min_size=1, max_size=8))
    frames = [Frame(seq, msg) for seq, msg in items]
    damaged: list[bool] = []
    wire = bytearray()
    for seq, msg in items:
        raw = encode(msg, seq)
        body = bytearray(raw[:-1])  # keep the 0x00 that ends it
        how = draw(st.sampled_from(["keep", "keep", "flip", "insert", "delete", "garbage"]))
        if how == "flip":
            i = draw(st.integers(0, len(body) - 1))
            body[i] ^= 1 << draw(st.integers(0, 7))
        elif how == "insert":
            i = draw(st.integers(0, len(body)))
            body[i:i] = draw(st.binary(min_size=1, max_size=8))
        elif how == "delete" and len(body) > 1:
            i = draw(st.integers(0, len(body) - 1))
            del body[i : i + draw(st.integers(1, 4))]
        elif how == "garbage":
            body = bytearray(draw(st.binary(min_size=1, max_size=70)))
        damaged.append(bytes(body) != raw[:-1])
        wire += body + b"\x00"
    return frames, damaged, bytes(wire)


@pytest.mark.parametrize("direction", DIRECTIONS, ids=lambda d: d.name.lower())
@given(data=st.data())
def test_a_damaged_frame_costs_only_itself(direction: Direction, data: st.DataObject) -> None:
    frames, damaged, wire = data.draw(damaged_streams(direction))
    check_decoder(direction, wire)
    got = [f for f in Decoder(direction).feed(wire) if isinstance(f, Frame)]
    intact = [f for f, bad in zip(frames, damaged, strict=True) if not bad]
    it = iter(got)
    assert all(any(g == f for g in it) for f in intact), "an intact frame was lost"
    assert all(g in frames for g in got), "damage produced a frame nobody sent"


@pytest.mark.parametrize("direction", DIRECTIONS, ids=lambda d: d.name.lower())
@given(data=st.data())
def test_one_flipped_bit_is_never_accepted(direction: Direction, data: st.DataObject) -> None:
    """CRC-32 over COBS: a single bit error anywhere in a frame (its delimiter included) is
    dropped; nothing else is decoded in its place, and the next frame still comes through."""
    seq, msg = data.draw(streams(direction, min_size=1, max_size=1))[0]
    raw = bytearray(encode(msg, seq))
    i = data.draw(st.integers(0, len(raw) - 1))
    raw[i] ^= 1 << data.draw(st.integers(0, 7))
    after = encode(msg, (seq + 1) & 0xFFFF)
    got = Decoder(direction).feed(b"\x00" + bytes(raw) + b"\x00" + after)
    frames = [f for f in got if isinstance(f, Frame)]
    assert frames == [Frame((seq + 1) & 0xFFFF, msg)]

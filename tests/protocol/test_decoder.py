"""The streaming decoder: each drop reason and its counter, direction awareness, the frames
it reports for the pen to NACK, bounded buffering, and equality with the reference decoder."""

from __future__ import annotations

import dataclasses
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from driver.testing.strategies import any_message, directions, messages_to, seqs
from protocol import (
    MAX_ENCODED,
    CartridgeState,
    CobsError,
    Decoder,
    Direction,
    DropReason,
    Estop,
    Event,
    EventCode,
    Fault,
    Frame,
    Heartbeat,
    Hello,
    InvalidFrame,
    Message,
    MsgType,
    Nack,
    NackError,
    Reset,
    SetDepth,
    SetTelemetry,
    State,
    Status,
    encode,
)
from protocol import cobs as cobs_module
from protocol.codec import encode_raw

from . import reference

STATUS = Status(
    State.RUNNING, Fault(0), 1500, 1490, 120, 119, 1, 420, 318, 86, 7, CartridgeState.IN_USE, 9
)


def only(decoder: Decoder, data: bytes) -> list[object]:
    return list(decoder.feed(data))


# --- drop reasons ---------------------------------------------------------------------------


def test_bad_crc_is_dropped_and_counted() -> None:
    frame = bytearray(encode(SetDepth(1500), 3))
    frame[-2] ^= 0x40
    d = Decoder(Direction.PEN)
    assert d.feed(bytes(frame)) == []
    assert d.drops == {DropReason.CRC: 1}
    assert d.dropped == 1 and d.frames == 0


def test_bad_cobs_is_dropped_and_counted() -> None:
    d = Decoder(Direction.PEN)
    assert d.feed(b"\x09\x01\x02\x00") == []
    assert d.drops == {DropReason.COBS: 1}


@pytest.mark.parametrize("body_len", [0, 1, 7])
def test_too_short_bodies_are_dropped_as_length(body_len: int) -> None:
    d = Decoder(Direction.PEN)
    assert d.feed(cobs_module.encode(bytes(range(1, body_len + 1))) + b"\x00") == []
    assert d.drops == {DropReason.LENGTH: 1}


def test_too_long_body_is_dropped_as_length() -> None:
    d = Decoder(Direction.PEN)
    frame = encode_raw(MsgType.SET_DEPTH, 1, bytes(57))  # body 65 > 64
    assert d.feed(frame) == []
    assert d.drops == {DropReason.LENGTH: 1}
    frame = encode_raw(MsgType.SET_DEPTH, 1, bytes(56))  # body 64: intact, but wrong length
    (bad,) = d.feed(frame)
    assert isinstance(bad, InvalidFrame) and bad.reason is DropReason.BAD_LENGTH


def test_other_version_is_dropped_and_counted() -> None:
    d = Decoder(Direction.PEN)
    assert d.feed(encode_raw(MsgType.SET_DEPTH, 1, b"\xdc\x05", version=2)) == []
    assert d.feed(encode_raw(MsgType.SET_DEPTH, 1, b"\xdc\x05", version=0)) == []
    assert d.drops == {DropReason.VERSION: 2}


def test_unknown_type_is_reported_with_its_seq_for_the_pen_to_nack() -> None:
    d = Decoder(Direction.PEN)
    (bad,) = d.feed(encode_raw(0x0A, 0xBEEF, b"\x01\x02"))
    assert bad == InvalidFrame(0xBEEF, 0x0A, 2, NackError.UNKNOWN_TYPE, DropReason.UNKNOWN_TYPE)
    assert d.drops == {DropReason.UNKNOWN_TYPE: 1}
    assert d.frames == 0


def test_wrong_payload_length_is_reported_with_its_seq_for_the_pen_to_nack() -> None:
    d = Decoder(Direction.PEN)
    (bad,) = d.feed(encode_raw(MsgType.SET_DEPTH, 77, b"\xdc\x05\x00"))
    assert bad == InvalidFrame(
        77, MsgType.SET_DEPTH, 3, NackError.BAD_LENGTH, DropReason.BAD_LENGTH
    )
    (bad,) = d.feed(encode_raw(MsgType.START, 78, b"\x00"))
    assert bad.payload_len == 1 and bad.error is NackError.BAD_LENGTH  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("receiver", "msg"),
    [
        (Direction.PEN, STATUS),
        (Direction.PEN, Nack(1, NackError.BAD_STATE)),
        (Direction.HOST, SetDepth(1)),
    ],
)
def test_each_end_decodes_only_what_travels_towards_it(receiver: Direction, msg: Message) -> None:
    d = Decoder(receiver)
    (bad,) = d.feed(encode(msg, 5))
    assert isinstance(bad, InvalidFrame)
    assert (bad.seq, bad.type_code, bad.reason) == (5, msg.TYPE, DropReason.UNKNOWN_TYPE)


@pytest.mark.parametrize(
    ("type_code", "payload", "field"),
    [
        (
            MsgType.STATUS,
            struct.pack("<BHHHHHIHhBIBI", 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0),
            "state",
        ),
        (
            MsgType.STATUS,
            struct.pack("<BHHHHHIHhBIBI", 255, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0),
            "state",
        ),
        (
            MsgType.STATUS,
            struct.pack("<BHHHHHIHhBIBI", 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0),
            "cartridge_state",
        ),
        (MsgType.NACK, struct.pack("<BBH", 3, 0, 0), "error"),
        (MsgType.NACK, struct.pack("<BBH", 3, 12, 0), "error"),
        (MsgType.EVENT, struct.pack("<BH", 0, 0), "code"),
        (MsgType.EVENT, struct.pack("<BH", 10, 0), "code"),
        (
            MsgType.INFO,
            struct.pack("<BIBBBBIIHHHHHH", 1, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
            "device_class",
        ),
    ],
)
def test_pen_to_host_values_the_icd_lacks_are_dropped_as_bad_value(
    type_code: int, payload: bytes, field: str
) -> None:
    d = Decoder(Direction.HOST)
    assert d.feed(encode_raw(type_code, 1, payload)) == []
    assert d.drops == {DropReason.BAD_VALUE: 1}
    # ...and the next frame is unaffected.
    assert d.feed(encode(STATUS, 2)) == [Frame(2, STATUS)]


def test_host_to_pen_values_are_passed_on_for_the_pen_to_judge() -> None:
    d = Decoder(Direction.PEN)
    msgs = [Reset(99), Hello(7, 0), SetTelemetry(201), SetDepth(65535)]
    out = d.feed(b"".join(encode(m, i) for i, m in enumerate(msgs)))
    assert out == [Frame(i, m) for i, m in enumerate(msgs)]


def test_empty_frames_are_ignored_and_not_counted() -> None:
    d = Decoder(Direction.PEN)
    assert d.feed(b"\x00" * 10) == []
    assert d.feed(b"\x00" + encode(Estop(), 1) + b"\x00\x00") == [Frame(1, Estop())]
    assert d.dropped == 0 and d.frames == 1


# --- streaming ------------------------------------------------------------------------------


def test_one_byte_at_a_time() -> None:
    d = Decoder(Direction.HOST)
    stream = encode(STATUS, 1) + encode(Event(EventCode.BOOT), 2)
    out = [f for b in stream for f in d.feed(bytes([b]))]
    assert out == [Frame(1, STATUS), Frame(2, Event(EventCode.BOOT))]


def test_accepts_bytearray_and_memoryview() -> None:
    d = Decoder(Direction.PEN)
    frame = encode(SetDepth(700), 4)
    assert d.feed(bytearray(frame[:3])) == []
    assert d.feed(memoryview(frame)[3:]) == [Frame(4, SetDepth(700))]


def test_a_stream_without_zero_never_grows_the_buffer() -> None:
    d = Decoder(Direction.PEN)
    for _ in range(64):
        assert d.feed(b"\x01" * 16_384) == []
        assert d.buffered <= MAX_ENCODED
    assert d.drops == {DropReason.LENGTH: 1}  # one runaway frame, counted once
    assert d.feed(b"\x01" * 3 + b"\x00" + encode(Heartbeat(), 9)) == [Frame(9, Heartbeat())]
    assert d.drops == {DropReason.LENGTH: 1}
    assert d.buffered == 0


def test_one_megabyte_without_zero_in_one_chunk() -> None:
    d = Decoder(Direction.HOST)
    assert d.feed(b"\xaa" * 1_000_000) == []
    assert d.buffered == 0
    assert d.feed(b"\x00" + encode(STATUS, 1)) == [Frame(1, STATUS)]
    assert d.drops == {DropReason.LENGTH: 1}


def test_longest_frame_just_fits_and_one_more_byte_overflows() -> None:
    d = Decoder(Direction.PEN)
    assert d.feed(b"\x02" * MAX_ENCODED) == []
    assert d.buffered == MAX_ENCODED and d.dropped == 0
    assert d.feed(b"\x02") == []
    assert d.buffered == 0 and d.drops == {DropReason.LENGTH: 1}


def test_reset_forgets_a_partial_frame_but_keeps_the_counters() -> None:
    d = Decoder(Direction.PEN)
    d.feed(b"\x09\x01\x00")
    frame = encode(SetDepth(800), 1)
    d.feed(frame[:5])
    d.reset()
    assert d.buffered == 0
    assert d.feed(frame[5:]) == []  # the tail alone is not a frame
    assert d.drops == {DropReason.COBS: 2}  # the first garbage, then the orphaned tail
    assert d.feed(frame) == [Frame(1, SetDepth(800))]


# --- decoded values are ordinary frozen messages ------------------------------------------


@given(any_message, seqs)
def test_decoded_messages_are_indistinguishable_from_constructed_ones(
    msg: Message, seq: int
) -> None:
    d = Decoder(msg.DIRECTION)
    (frame,) = d.feed(encode(msg, seq))
    assert type(frame) is Frame
    assert type(frame.message) is type(msg)
    assert frame == Frame(seq, msg)
    assert hash(frame) == hash(Frame(seq, msg))
    assert repr(frame.message) == repr(type(msg)(*msg.values()))
    assert dataclasses.astuple(frame.message) == dataclasses.astuple(msg)  # type: ignore[call-overload]
    for name in msg.ENUMS:
        assert type(getattr(frame.message, name)) is msg.ENUMS[name]
    for name in msg.FLAGS:
        assert type(getattr(frame.message, name)) is msg.FLAGS[name]
    with pytest.raises(dataclasses.FrozenInstanceError):
        frame.seq = 1  # type: ignore[misc]
    for name in msg.FIELDS:
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(frame.message, name, 0)
    # No new attributes either (CPython 3.11 says so with a TypeError for a frozen slotted
    # dataclass, decoded or constructed alike).
    with pytest.raises((AttributeError, TypeError)):
        frame.message.extra = 1  # type: ignore[attr-defined]


# --- the fast path equals the reference -------------------------------------------------------


def _segment() -> st.SearchStrategy[bytes]:
    """Segments near the limits: valid frames, corrupted frames, random COBS-ish bytes."""
    frames = st.tuples(any_message, seqs).map(lambda m: encode(m[0], m[1])[:-1])
    raw = st.builds(
        lambda t, s, p, v: encode_raw(t, s, p, version=v)[:-1],
        st.integers(0, 255),
        seqs,
        st.binary(max_size=60),
        st.sampled_from([1, 1, 1, 0, 2, 255]),
    )
    noise = st.binary(min_size=1, max_size=80).map(lambda b: b.replace(b"\x00", b"\x01"))
    return st.one_of(frames, raw, noise)


@given(st.lists(_segment(), max_size=8), directions)
def test_fast_decoder_equals_the_reference_decoder(
    segments: list[bytes], receiver: Direction
) -> None:
    stream = b"".join(s + b"\x00" for s in segments)
    d = Decoder(receiver)
    got = [reference.shape(f) for f in d.feed(stream)]
    want, drops = reference.decode_stream(stream, receiver.value)
    assert got == want
    assert {r.value: n for r, n in d.drops.items() if n} == dict(drops)


@given(st.binary(min_size=1, max_size=MAX_ENCODED).map(lambda b: b.replace(b"\x00", b"\x02")))
def test_the_decoder_drops_as_cobs_exactly_what_the_cobs_module_refuses(seg: bytes) -> None:
    # Wrap the segment's decoding (if any) in a frame-shaped check: the decoder drops as COBS
    # exactly the segments protocol.cobs refuses.
    d = Decoder(Direction.PEN)
    d.feed(seg + b"\x00")
    try:
        cobs_module.decode(seg)
    except CobsError:
        assert d.drops == {DropReason.COBS: 1}
    else:
        assert DropReason.COBS not in d.drops


@given(messages_to(Direction.HOST), seqs)
def test_counters_count_frames(msg: Message, seq: int) -> None:
    d = Decoder(Direction.HOST)
    d.feed(encode(msg, seq) * 3)
    assert d.frames == 3 and d.dropped == 0


def test_decoded_messages_are_built_by_their_own_constructor() -> None:
    # Plain construction: the decoder makes each message with cls(*values), so a decoded value
    # is an ordinary frozen instance (its exact class, hashable, immutable, replaceable).
    (frame,) = Decoder(Direction.HOST).feed(encode(STATUS, 7))
    assert isinstance(frame, Frame)
    assert type(frame) is Frame and type(frame.message) is Status
    assert frame == Frame(7, STATUS) and hash(frame) == hash(Frame(7, STATUS))
    assert dataclasses.replace(frame.message, battery_pct=85) == dataclasses.replace(
        STATUS, battery_pct=85
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        frame.message.battery_pct = 1  # type: ignore[misc]

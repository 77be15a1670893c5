"""ICD "Framing": what the pen does with damaged, foreign, confused and oddly cut frames.

- A frame that fails COBS, is too short or too long, has a bad CRC or an unknown version is
  dropped without an answer and changes nothing.
- An intact frame of an unknown type gets NACK UNKNOWN_TYPE, one with the wrong payload
  length NACK BAD_LENGTH, both with its seq, and nothing else happens.
- Empty frames are ignored; the pen resynchronises at the next 0x00 after any garbage.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from driver.testing.conformance.client import PenClient
from driver.testing.conformance.strategies import (
    HOST_TYPES,
    MAX_PAYLOAD,
    PAYLOAD_LEN,
    live,
    payloads,
    unknown_types,
)
from protocol import (
    Estop,
    Hello,
    Info,
    Message,
    MsgType,
    Nack,
    NackError,
    Reset,
    SetDepth,
    SetRate,
    SetTelemetry,
    Start,
    State,
    Status,
    Stop,
    cobs,
    encode,
    encode_body,
)
from protocol.codec import encode_raw


def baseline(pen: PenClient) -> tuple[Info, int, int]:
    """Put the pen at a known, non-default depth and rate; return (INFO, depth, rate)."""
    info = pen.info
    assert info is not None
    depth = info.depth_min_um + info.depth_step_um
    rate = info.rate_min_hz + 1
    pen.ack(SetDepth(depth))
    pen.ack(SetRate(rate))
    return info, depth, rate


def harmful(info: Info) -> list[Message]:
    """Commands whose execution would show in STATUS (or in the answers)."""
    return [
        SetDepth(info.depth_max_um),
        SetRate(info.rate_max_hz),
        Estop(),
        Start(),
        Hello(1, 0x0BADF00D),
        SetTelemetry(0),
        Reset(2),
        Stop(),
    ]


def assert_unchanged(pen: PenClient, depth: int, rate: int, what: str) -> Status:
    """After a probe: still IDLE at our depth and rate, and telemetry still on."""
    st = pen.status()
    assert st.state == State.IDLE, f"{what} changed the pen's state to {st.state.name}"
    assert st.depth_set_um == depth, f"{what} changed the depth set-point to {st.depth_set_um}"
    assert st.rate_set_hz == rate, f"{what} changed the rate set-point to {st.rate_set_hz}"
    return st


def assert_ignored(pen: PenClient, data: bytes, depth: int, rate: int, what: str) -> None:
    mark = pen.mark()
    pen.send_raw(data)
    probe = pen.probe()
    stray = pen.answers(mark, probe.index)
    assert not stray, f"the pen answered {what}: {[r.message for r in stray]}"
    assert_unchanged(pen, depth, rate, what)


@live()
@given(data=st.data())
def test_a_frame_with_a_bad_crc_is_dropped_without_an_answer(
    pen: PenClient, data: st.DataObject
) -> None:
    info, depth, rate = baseline(pen)
    msg = data.draw(st.sampled_from(harmful(info)), label="command")
    body = bytearray(encode_body(msg, pen.next_seq()))
    bits = data.draw(st.sets(st.integers(0, len(body) * 8 - 1), min_size=1, max_size=3))
    for bit in bits:  # CRC-32 catches every error of up to 3 bits
        body[bit // 8] ^= 1 << (bit % 8)
    frame = b"\x00" + cobs.encode(bytes(body)) + b"\x00"
    assert_ignored(pen, frame, depth, rate, f"{msg.name} with {len(bits)} flipped bit(s)")


@live()
@given(data=st.data(), version=st.integers(0, 0xFF).filter(lambda v: v != 1))
def test_a_frame_of_another_version_is_dropped_without_an_answer(
    pen: PenClient, data: st.DataObject, version: int
) -> None:
    info, depth, rate = baseline(pen)
    msg = data.draw(st.sampled_from(harmful(info)), label="command")
    payload = encode_body(msg, 0)[4:-4]
    frame = encode_raw(int(msg.TYPE), pen.next_seq(), payload, version=version)
    assert_ignored(pen, b"\x00" + frame, depth, rate, f"{msg.name} of version {version}")


@live()
@given(
    length=st.integers(MAX_PAYLOAD + 1, MAX_PAYLOAD + 40),
    kind=st.sampled_from(sorted(HOST_TYPES)),
)
def test_a_frame_longer_than_64_bytes_is_dropped_without_an_answer(
    pen: PenClient, length: int, kind: int
) -> None:
    _, depth, rate = baseline(pen)
    frame = encode_raw(kind, pen.next_seq(), bytes(range(1, length + 1)))
    assert_ignored(pen, b"\x00" + frame, depth, rate, f"a {length + 8}-byte body")


@live()
@given(body=st.binary(min_size=1, max_size=7))
def test_a_frame_shorter_than_a_header_and_crc_is_dropped(pen: PenClient, body: bytes) -> None:
    _, depth, rate = baseline(pen)
    assert_ignored(pen, b"\x00" + cobs.encode(body) + b"\x00", depth, rate, "a short body")


@live()
@given(kind=unknown_types, payload=payloads)
def test_an_unknown_type_is_nacked_unknown_type_with_its_seq(
    pen: PenClient, kind: int, payload: bytes
) -> None:
    _, depth, rate = baseline(pen)
    seq = pen.next_seq()
    mark = pen.mark()
    pen.send_raw(encode_raw(kind, seq, payload), owed=[seq])
    answer = pen.answer_to(seq, since=mark).message
    assert isinstance(answer, Nack), f"type 0x{kind:02x} was answered {answer}, not NACK"
    assert answer.error == NackError.UNKNOWN_TYPE
    assert answer.of_type == kind
    assert_unchanged(pen, depth, rate, f"an intact frame of unknown type 0x{kind:02x}")


@live()
@given(data=st.data())
def test_a_wrong_payload_length_is_nacked_bad_length_and_not_executed(
    pen: PenClient, data: st.DataObject
) -> None:
    _, depth, rate = baseline(pen)
    kind = data.draw(st.sampled_from(sorted(HOST_TYPES)), label="type")
    length = data.draw(
        st.integers(0, MAX_PAYLOAD).filter(lambda n: n != PAYLOAD_LEN[kind]), label="length"
    )
    # Content that would be harmful if read as the type's fields: depth and rate at the
    # limits, an ESTOP or START with a stray byte, RESET 2 and HELLO 1.
    pattern = data.draw(st.sampled_from([b"\x01\x02", b"\xff"]), label="pattern")
    payload = (pattern * length)[:length]
    assert len(payload) == length
    seq = pen.next_seq()
    mark = pen.mark()
    pen.send_raw(encode_raw(kind, seq, payload), owed=[seq])
    answer = pen.answer_to(seq, since=mark).message
    name = MsgType(kind).name
    assert isinstance(answer, Nack), f"{name} with {length} payload bytes got {answer}"
    assert answer.error == NackError.BAD_LENGTH, f"{name} with {length} bytes: {answer}"
    assert answer.of_type == kind
    assert_unchanged(pen, depth, rate, f"{name} with {length} payload bytes")


@live()
@given(zeros=st.integers(1, 40), data=st.data())
def test_empty_frames_are_ignored(pen: PenClient, zeros: int, data: st.DataObject) -> None:
    info, depth, rate = baseline(pen)
    assert_ignored(pen, b"\x00" * zeros, depth, rate, f"{zeros} empty frames")
    new_depth = data.draw(st.sampled_from([info.depth_min_um, info.depth_max_um]))
    seq = pen.next_seq()
    mark = pen.mark()
    pen.send(SetDepth(new_depth), seq)  # counts one answer owed
    pen.send_raw(b"\x00" * zeros)
    pen.answer_to(seq, since=mark)
    probe = pen.probe()
    assert len(pen.answers(mark, probe.index)) == 1, "one frame among empty ones: one answer"
    assert pen.status().depth_set_um == new_depth


@live()
@given(garbage=st.binary(min_size=1, max_size=300), data=st.data())
def test_the_pen_resynchronises_after_garbage(
    pen: PenClient, garbage: bytes, data: st.DataObject
) -> None:
    info, _, _ = baseline(pen)
    new_depth = data.draw(st.sampled_from([info.depth_min_um, info.depth_max_um]))
    mark = pen.mark()
    pen.send_raw(garbage)
    answer = pen.request(SetDepth(new_depth), flush=True)
    assert answer.TYPE == MsgType.ACK, f"SET_DEPTH after garbage: {answer}"
    assert not [r for r in pen.answers(mark) if r.index < pen.last_answer_index]
    assert pen.status().depth_set_um == new_depth


@live()
@given(runaway=st.binary(min_size=66, max_size=400).map(lambda b: b.replace(b"\x00", b"\x55")))
def test_a_runaway_frame_without_a_delimiter_costs_nothing_after_the_next_zero(
    pen: PenClient, runaway: bytes
) -> None:
    info, _, _ = baseline(pen)
    pen.send_raw(runaway + b"\x00")
    pen.ack(SetDepth(info.depth_max_um), why="the first frame after the runaway's 0x00")
    pen.ack(SetDepth(info.depth_min_um))
    assert pen.status().depth_set_um == info.depth_min_um


@live()
@given(data=st.data())
def test_a_frame_cut_into_pieces_is_understood(pen: PenClient, data: st.DataObject) -> None:
    info, _, _ = baseline(pen)
    seq = pen.next_seq()
    frame = encode(SetDepth(info.depth_max_um), seq)
    cuts = sorted(data.draw(st.sets(st.integers(1, len(frame) - 1), max_size=len(frame) - 1)))
    mark = pen.mark()
    pen.send_raw(b"", owed=[seq])  # the answer is owed once, for the whole frame
    start = 0
    for cut in [*cuts, len(frame)]:
        pen.send_raw(frame[start:cut], valid=True)  # parts of a valid frame: no heartbeat
        pen.pause(0.001)
        start = cut
    answer = pen.answer_to(seq, since=mark).message
    assert answer is not None and answer.TYPE == MsgType.ACK, f"{answer}"
    assert pen.status().depth_set_um == info.depth_max_um


def test_frames_back_to_back_in_one_write_are_each_answered_in_turn(pen: PenClient) -> None:
    info, _, _ = baseline(pen)
    depths = [info.depth_min_um, info.depth_max_um, info.depth_min_um + info.depth_step_um]
    seqs = [pen.next_seq() for _ in depths]
    mark = pen.mark()
    frames = b"".join(encode(SetDepth(d), s) for d, s in zip(depths, seqs, strict=True))
    pen.send_raw(frames, owed=seqs, valid=True)
    for s in seqs:
        answer = pen.answer_to(s, since=mark).message
        assert answer is not None and answer.TYPE == MsgType.ACK
    assert pen.status().depth_set_um == depths[-1]

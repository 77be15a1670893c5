"""Encoding and the message types: the ICD's tables, known frames, and refusals.

The encoder never emits a frame the ICD forbids: a field outside its wire range, a value that
is not an integer, or an enumerated value the ICD lacks raises EncodeError and returns nothing.
"""

from __future__ import annotations

import dataclasses
import math
import struct
import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from driver.testing.strategies import any_message, messages_of, seqs
from protocol import (
    HOST_TO_PEN,
    MAX_BODY,
    MAX_ENCODED,
    MESSAGE_TYPES,
    PEN_TO_HOST,
    Ack,
    CartridgeState,
    Decoder,
    DeviceClass,
    Direction,
    EncodeError,
    Event,
    EventCode,
    Fault,
    Frame,
    Hello,
    Info,
    Message,
    MsgType,
    Nack,
    NackError,
    ProtocolError,
    SetDepth,
    SetRate,
    Start,
    State,
    Status,
    Stop,
    encode,
    encode_body,
    message_type_name,
)
from protocol.codec import encode_raw
from protocol.framing import CRC_RESIDUE
from protocol.messages import WIRE_RANGES

from .reference import ICD

PAYLOAD_LENGTHS = {
    "HELLO": 5,
    "HEARTBEAT": 0,
    "SET_DEPTH": 2,
    "SET_RATE": 2,
    "START": 0,
    "STOP": 0,
    "ESTOP": 0,
    "RESET": 1,
    "SET_TELEMETRY": 2,
    "ACK": 1,
    "NACK": 4,
    "INFO": 29,
    "STATUS": 29,
    "EVENT": 3,
}


def test_crc_check_value_from_the_icd() -> None:
    assert zlib.crc32(b"123456789") == 0xCBF43926


def test_fourteen_types_with_the_icd_codes_names_and_directions() -> None:
    assert len(MESSAGE_TYPES) == 14
    for code, (name, receiver, fields) in ICD.items():
        cls = MESSAGE_TYPES[code]
        assert code == cls.TYPE
        assert cls.TYPE.name == name
        assert cls.DIRECTION is (Direction.PEN if receiver == "pen" else Direction.HOST)
        assert tuple(f for f, _ in fields) == cls.FIELDS
        assert "".join(c for _, c in fields) == cls.LAYOUT
        assert PAYLOAD_LENGTHS[name] == cls.PAYLOAD_LEN
        assert MIN_BODY_LEN + cls.PAYLOAD_LEN <= MAX_BODY
    assert {c.TYPE for c in HOST_TO_PEN} == {c for c in ICD if c < 0x80}
    assert {c.TYPE for c in PEN_TO_HOST} == {c for c in ICD if c >= 0x80}


MIN_BODY_LEN = 8


def test_known_frame_built_by_hand() -> None:
    head = bytes([0x01, 0x03, 0x02, 0x00, 0xDC, 0x05])  # ver 1, SET_DEPTH, seq 2, 1500 µm
    body = head + zlib.crc32(head).to_bytes(4, "little")
    assert encode_body(SetDepth(1500), 2) == body
    # COBS by hand: the one zero (seq's high byte) is replaced by the distance to the next.
    assert encode(SetDepth(1500), 2) == bytes([4, 1, 3, 2, 7, 0xDC, 5]) + body[6:] + b"\x00"


def test_enum_values_and_fault_bits_match_the_icd() -> None:
    assert [(m.name, m.value) for m in State] == [
        ("NO_SESSION", 0),
        ("IDLE", 1),
        ("RUNNING", 2),
        ("FAULT", 3),
        ("ESTOP", 4),
    ]
    assert [m.value for m in Fault] == [1 << i for i in range(6)]
    assert [m.name for m in Fault] == [
        "OVERTEMP",
        "MOTOR_STALL",
        "DEPTH_ERROR",
        "BATTERY_LOW",
        "WATCHDOG",
        "CARTRIDGE_REMOVED",
    ]
    assert [(m.name, m.value) for m in CartridgeState] == [
        ("NONE", 0),
        ("FRESH", 1),
        ("IN_USE", 2),
        ("SPENT", 3),
    ]
    assert [m.value for m in NackError] == list(range(1, 12))
    assert NackError(11).name == "BATTERY_LOW"
    assert NackError(10).name == "UNSUPPORTED_VERSION"
    assert [m.value for m in EventCode] == list(range(1, 10))
    assert EventCode(9).name == "STOPPED"
    assert [(m.name, m.value) for m in DeviceClass] == [("HOME", 0), ("PROFESSIONAL", 1)]


@given(any_message, seqs)
def test_every_frame_is_cobs_with_one_trailing_zero_and_a_valid_crc(msg: Message, seq: int) -> None:
    frame = encode(msg, seq)
    assert frame.endswith(b"\x00")
    assert b"\x00" not in frame[:-1]
    assert len(frame) - 1 <= MAX_ENCODED
    body = encode_body(msg, seq)
    assert zlib.crc32(body) == CRC_RESIDUE
    assert body[:4] == bytes([1, msg.TYPE]) + seq.to_bytes(2, "little")
    assert len(body) == 8 + msg.PAYLOAD_LEN


@given(st.binary(max_size=100))
def test_crc_residue_is_the_same_check_as_comparing_the_crc(data: bytes) -> None:
    good = data + zlib.crc32(data).to_bytes(4, "little")
    assert zlib.crc32(good) == CRC_RESIDUE
    bad = data + ((zlib.crc32(data) ^ 1).to_bytes(4, "little"))
    assert zlib.crc32(bad) != CRC_RESIDUE


# --- refusals -------------------------------------------------------------------------------

NOT_INTEGERS = [True, False, 1.0, math.nan, math.inf, None, "1", b"\x01", 2**64, -(2**64)]


def _fields() -> list[tuple[type[Message], str, str]]:
    return [
        (cls, name, code)
        for cls in MESSAGE_TYPES.values()
        for name, code in zip(cls.FIELDS, cls.LAYOUT, strict=True)
    ]


def _valid(cls: type[Message]) -> dict[str, object]:
    return {name: (next(iter(cls.ENUMS[name])) if name in cls.ENUMS else 0) for name in cls.FIELDS}


@pytest.mark.parametrize(
    ("cls", "name", "code"), _fields(), ids=lambda x: getattr(x, "__name__", x)
)
def test_one_past_each_end_of_the_wire_range_is_refused(
    cls: type[Message], name: str, code: str
) -> None:
    lo, hi = WIRE_RANGES[code]
    for value in (lo - 1, hi + 1, *NOT_INTEGERS):
        msg = cls(**{**_valid(cls), name: value})
        with pytest.raises(EncodeError) as err:
            encode(msg, 0)
        assert err.value.field == name
        assert err.value.message_name == cls.__name__
        text = str(err.value)
        assert text.startswith(f"{cls.__name__}.{name} = ") and text.endswith(".")
    for value in (lo, hi):
        if name not in cls.ENUMS:
            assert encode(cls(**{**_valid(cls), name: value}), 0)


@pytest.mark.parametrize(
    ("msg", "field"),
    [
        (Status(5, Fault(0), 0, 0, 0, 0, 0, 0, 0, 0, 0, CartridgeState.NONE, 0), "state"),  # type: ignore[arg-type]
        (Status(State.IDLE, Fault(0), 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0), "cartridge_state"),  # type: ignore[arg-type]
        (Nack(3, 0, 0), "error"),  # type: ignore[arg-type]
        (Nack(3, 12, 0), "error"),  # type: ignore[arg-type]
        (Event(0, 0), "code"),  # type: ignore[arg-type]
        (Event(10, 0), "code"),  # type: ignore[arg-type]
        (Info(1, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), "device_class"),  # type: ignore[arg-type]
    ],
)
def test_enumerated_values_the_icd_lacks_are_refused(msg: Message, field: str) -> None:
    with pytest.raises(EncodeError) as err:
        encode_body(msg, 1)
    assert err.value.field == field
    assert "must be one of" in str(err.value)


@pytest.mark.parametrize("seq", [-1, 65536, True, 1.5, None, "0", 2**70])
def test_bad_seq_is_refused(seq: object) -> None:
    with pytest.raises(EncodeError) as err:
        encode(Start(), seq)  # type: ignore[arg-type]
    assert err.value.field == "seq"


def test_encode_error_is_a_protocol_error_and_a_value_error() -> None:
    with pytest.raises(ProtocolError):
        encode(SetDepth(-1), 0)
    with pytest.raises(ValueError):
        encode(SetDepth(-1), 0)


def test_only_messages_encode() -> None:
    with pytest.raises(EncodeError):
        encode(object(), 0)  # type: ignore[arg-type]

    @dataclasses.dataclass(frozen=True)
    class Fake(Message):
        TYPE = MsgType.SET_DEPTH

    with pytest.raises(EncodeError):
        encode(Fake(), 0)


_bad_value = st.one_of(
    st.integers(max_value=-(2**31) - 1),
    st.integers(min_value=2**32),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
    st.text(max_size=3),
)


@given(st.data())
def test_any_out_of_range_field_raises_and_emits_nothing(data: st.DataObject) -> None:
    cls, name, code = data.draw(st.sampled_from(_fields()))
    lo, hi = WIRE_RANGES[code]
    value = data.draw(
        st.one_of(_bad_value, st.integers(max_value=lo - 1), st.integers(min_value=hi + 1))
    )
    msg = cls(**{**_valid(cls), name: value})
    with pytest.raises(EncodeError):
        encode(msg, data.draw(seqs))


# --- accepted values ------------------------------------------------------------------------


def test_int_enums_are_accepted_where_a_plain_int_is_expected() -> None:
    assert encode(Ack(MsgType.SET_DEPTH), 9) == encode(Ack(3), 9)
    assert encode(Nack(MsgType.START, NackError.NO_SESSION), 9) == encode(Nack(5, 5, 0), 9)  # type: ignore[arg-type]


def test_reserved_fault_bits_are_carried_not_refused() -> None:
    status = Status(
        State.FAULT, Fault(0xFFFF), 0, 0, 0, 0, 0, 0, -32768, 255, 0, CartridgeState.NONE, 0
    )
    decoder = Decoder(Direction.HOST)
    (frame,) = decoder.feed(encode(status, 1))
    assert isinstance(frame, Frame)
    assert frame.message == status
    assert isinstance(frame.message, Status)
    assert int(frame.message.faults) == 0xFFFF


@given(messages_of(Hello), messages_of(SetRate))
def test_host_messages_reach_the_pen_with_any_wire_value(hello: Message, rate: Message) -> None:
    # HELLO.proto, SET_RATE.rate_hz, RESET.what...: the pen NACKs what it cannot do, so the
    # encoder must let a host (or a conformance test) send any wire value.
    decoder = Decoder(Direction.PEN)
    out = decoder.feed(encode(hello, 1) + encode(rate, 2))
    assert [f.message for f in out if isinstance(f, Frame)] == [hello, rate]


# --- message values -------------------------------------------------------------------------


def test_messages_are_immutable_values() -> None:
    a, b = SetDepth(1500), SetDepth(1500)
    assert a == b and hash(a) == hash(b)
    assert SetDepth(5) != SetRate(5)  # type: ignore[comparison-overlap]
    assert Start() != Stop()  # type: ignore[comparison-overlap]
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.depth_um = 3000  # type: ignore[misc]
    assert dataclasses.replace(a, depth_um=2000) == SetDepth(2000)
    assert a.name == "SET_DEPTH"


def test_defaults_of_detail_fields() -> None:
    assert Nack(3, NackError.BAD_STATE).detail == 0
    assert Event(EventCode.BOOT).detail == 0


def test_message_type_name() -> None:
    assert message_type_name(0x83) == "STATUS"
    assert message_type_name(0x0A) == "0x0a"


# --- raw frames for tests and conformance suites ------------------------------------------


def test_encode_raw_matches_encode_for_a_valid_message() -> None:
    assert encode_raw(MsgType.SET_DEPTH, 2, struct.pack("<H", 1500)) == encode(SetDepth(1500), 2)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"type_code": 256, "seq": 0},
        {"type_code": -1, "seq": 0},
        {"type_code": 1, "seq": 65536},
        {"type_code": 1, "seq": 0, "version": 256},
        {"type_code": True, "seq": 0},
    ],
)
def test_encode_raw_refuses_header_values_outside_their_range(kwargs: dict[str, int]) -> None:
    with pytest.raises(EncodeError):
        encode_raw(payload=b"", **kwargs)


@given(any_message, seqs)
def test_encode_is_the_cobs_module_applied_to_the_body(msg: Message, seq: int) -> None:
    from protocol import cobs

    assert encode(msg, seq) == cobs.encode(encode_body(msg, seq)) + b"\x00"

"""COBS: known vectors (the empty input, all zeros, runs of 254 and 255 non-zero bytes) and
round trips. The vectors are the common ones (Wikipedia, the `cobs` package)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol import CobsError
from protocol.cobs import decode, encode, max_encoded_length

RUN_254 = bytes(range(1, 255))
RUN_255 = bytes(range(1, 256))

VECTORS = [
    (b"", b"\x01"),
    (b"1", b"\x021"),
    (b"12345", b"\x0612345"),
    (b"12345\x006789", b"\x0612345\x056789"),
    (b"\x0012345\x006789", b"\x01\x0612345\x056789"),
    (b"12345\x006789\x00", b"\x0612345\x056789\x01"),
    (b"\x00", b"\x01\x01"),
    (b"\x00\x00", b"\x01\x01\x01"),
    (b"\x00\x00\x00", b"\x01\x01\x01\x01"),
    (b"\x11\x22\x00\x33", b"\x03\x11\x22\x02\x33"),
    (bytes(range(1, 254)), b"\xfe" + bytes(range(1, 254))),
    (RUN_254, b"\xff" + RUN_254),
    (RUN_254 + b"\x00", b"\xff" + RUN_254 + b"\x01\x01"),
    (b"\x00" + RUN_254, b"\x01\xff" + RUN_254),
    (RUN_255, b"\xff" + RUN_254 + b"\x02\xff"),
    (bytes(range(256)), b"\x01\xff" + RUN_254 + b"\x02\xff"),
    (RUN_254 * 2, b"\xff" + RUN_254 + b"\xff" + RUN_254),
    (b"\xff" * 509, b"\xff" + b"\xff" * 254 + b"\xff" + b"\xff" * 254 + b"\x02\xff"),
]


@pytest.mark.parametrize(("data", "encoded"), VECTORS, ids=range(len(VECTORS)))
def test_known_vectors(data: bytes, encoded: bytes) -> None:
    assert encode(data) == encoded
    assert decode(encoded) == data


@pytest.mark.parametrize("length", [0, 1, 2, 63, 64, 253, 254, 255, 508, 520])
def test_all_zeros(length: int) -> None:
    data = b"\x00" * length
    assert encode(data) == b"\x01" * (length + 1)
    assert decode(encode(data)) == data


@pytest.mark.parametrize("length", [253, 254, 255, 256, 507, 508, 509])
@pytest.mark.parametrize("tail", [b"", b"\x00"])
def test_long_non_zero_runs(length: int, tail: bytes) -> None:
    run = bytes((i % 255) + 1 for i in range(length))
    blocks = b"".join(
        bytes([len(run[i : i + 254]) + 1]) + run[i : i + 254] for i in range(0, length, 254)
    )
    # A full 0xFF block implies no zero, so a zero right after one needs its own 0x01 block.
    if tail:
        blocks += b"\x01\x01" if length % 254 == 0 else b"\x01"
    expected = blocks
    assert encode(run + tail) == expected
    assert decode(expected) == run + tail


@pytest.mark.parametrize(
    "bad",
    [b"", b"\x00", b"\x05123", b"\x051234\x00", b"\x0512\x004", b"\x02", b"\xff\x01", b"\x03\x01"],
)
def test_invalid_encodings_raise_cobs_error(bad: bytes) -> None:
    with pytest.raises(CobsError):
        decode(bad)


@given(st.binary(max_size=1200))
def test_round_trip_and_no_zero(data: bytes) -> None:
    encoded = encode(data)
    assert b"\x00" not in encoded
    assert len(encoded) <= max_encoded_length(len(data))
    assert decode(encoded) == data


@given(st.binary(max_size=600))
def test_decode_of_any_bytes_raises_only_cobs_error(data: bytes) -> None:
    try:
        decoded = decode(data)
    except CobsError:
        return
    # Whatever decodes, re-encodes to something that decodes to the same bytes.
    assert decode(encode(decoded)) == decoded


def test_max_encoded_length() -> None:
    assert max_encoded_length(0) == 1
    assert max_encoded_length(64) == 65
    assert max_encoded_length(254) == 255
    assert max_encoded_length(255) == 257
    assert max_encoded_length(508) == 510
    assert len(encode(b"\x01" * 508)) == 510

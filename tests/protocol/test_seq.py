"""Wrapping u16 sequence numbers and the pen's 16-entry duplicate window."""

from __future__ import annotations

from collections import OrderedDict

import pytest
from hypothesis import given
from hypothesis import strategies as st

from driver.testing.strategies import seqs
from protocol import DuplicateWindow, SeqCounter, seq_gap


def test_counter_wraps_after_65535() -> None:
    c = SeqCounter(65534)
    assert [c.next() for _ in range(4)] == [65534, 65535, 0, 1]
    assert c.peek() == 2


def test_counter_starts_at_zero_and_peek_does_not_advance() -> None:
    c = SeqCounter()
    assert c.peek() == 0 and c.peek() == 0
    assert c.next() == 0 and c.next() == 1


@given(st.integers(-(2**40), 2**40), st.integers(0, 200_000))
def test_counter_is_start_plus_calls_modulo_65536(start: int, calls: int) -> None:
    c = SeqCounter(start)
    for _ in range(calls % 300):
        c.next()
    assert c.peek() == (start + calls % 300) % 65536
    assert 0 <= c.next() <= 65535


@pytest.mark.parametrize(
    ("previous", "current", "gap"),
    [(0, 1, 0), (65535, 0, 0), (65535, 1, 1), (10, 15, 4), (7, 7, 65535), (8, 7, 65534)],
)
def test_seq_gap(previous: int, current: int, gap: int) -> None:
    assert seq_gap(previous, current) == gap


@given(seqs, st.integers(0, 65535))
def test_seq_gap_counts_the_skipped_numbers_across_the_wrap(previous: int, lost: int) -> None:
    assert seq_gap(previous, (previous + lost + 1) % 65536) == lost


def test_window_remembers_sixteen_and_forgets_the_oldest() -> None:
    w = DuplicateWindow()
    assert w.size == 16
    for seq in range(16):
        w.remember(seq, 0x03, bytes([seq]))
    assert len(w) == 16
    assert all(w.lookup(seq, 0x03) == bytes([seq]) for seq in range(16))
    w.remember(16, 0x03, b"new")
    assert w.lookup(0, 0x03) is None
    assert w.lookup(1, 0x03) == b"\x01" and w.lookup(16, 0x03) == b"new"
    assert len(w) == 16


def test_window_keys_on_seq_and_type() -> None:
    w = DuplicateWindow()
    w.remember(5, 0x03, b"ack depth")
    assert w.lookup(5, 0x04) is None  # same seq, another command: not a duplicate
    assert w.lookup(6, 0x03) is None
    assert w.lookup(5, 0x03) == b"ack depth"


def test_answering_again_refreshes_an_entry() -> None:
    w = DuplicateWindow(2)
    w.remember(1, 1, b"a")
    w.remember(2, 1, b"b")
    w.remember(1, 1, b"a2")  # 1 is now the newest
    w.remember(3, 1, b"c")  # so 2 goes
    assert w.lookup(2, 1) is None
    assert w.lookup(1, 1) == b"a2" and w.lookup(3, 1) == b"c"


def test_clear_and_bad_size() -> None:
    w = DuplicateWindow()
    w.remember(1, 1, b"x")
    w.clear()
    assert len(w) == 0 and w.lookup(1, 1) is None
    with pytest.raises(ValueError):
        DuplicateWindow(0)


@given(
    st.lists(st.tuples(st.booleans(), st.integers(0, 40), st.sampled_from([3, 4, 5])), max_size=200)
)
def test_window_matches_a_plain_model(ops: list[tuple[bool, int, int]]) -> None:
    w = DuplicateWindow()
    model: OrderedDict[tuple[int, int], bytes] = OrderedDict()
    for i, (store, seq, code) in enumerate(ops):
        if store:
            answer = i.to_bytes(2, "little")
            w.remember(seq, code, answer)
            model.pop((seq, code), None)
            model[(seq, code)] = answer
            while len(model) > 16:
                model.popitem(last=False)
        assert w.lookup(seq, code) == model.get((seq, code))
        assert len(w) == len(model) <= 16

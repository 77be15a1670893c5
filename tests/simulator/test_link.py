"""The faulty wire: seeded drop, corrupt, duplicate, delay and cut, frame by frame."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol import Decoder, Direction, Frame, SetDepth, encode
from simulator.faults import LinkFault, Sender, parse_fault
from simulator.link import MAX_PARTIAL, Link

FRAMES = [encode(SetDepth(250 + 50 * (i % 50)), i) for i in range(400)]


def run(link: Link, frames: list[bytes] = FRAMES, step_ms: float = 1.0) -> bytes:
    out = bytearray()
    t = 0.0
    for frame in frames:
        link.send(Sender.HOST, frame, t)
        out += link.receive(Sender.HOST, t)
        t += step_ms
    out += link.receive(Sender.HOST, t + 100_000)
    return bytes(out)


def decoded(data: bytes) -> list[int]:
    return [f.seq for f in Decoder(Direction.PEN).feed(data) if isinstance(f, Frame)]


def faulty(seed: int, *specs: str) -> Link:
    link = Link(seed)
    for spec in specs:
        fault = parse_fault(spec)
        assert isinstance(fault, LinkFault)
        link.apply(fault)
    return link


def test_clean_link_passes_bytes_unchanged() -> None:
    assert run(Link(0)) == b"".join(FRAMES)


def test_same_seed_same_fate_and_other_seed_other_fate() -> None:
    specs = ("drop=0.1", "corrupt=0.1", "dup=0.1", "delay=0.1:5ms")
    a, b, c = run(faulty(1, *specs)), run(faulty(1, *specs)), run(faulty(2, *specs))
    assert a == b
    assert a != c


def test_fate_of_a_frame_does_not_depend_on_other_faults_or_direction_traffic() -> None:
    """The n-th host frame is dropped or not whatever the pen sends and the other settings."""
    plain = faulty(3, "drop:host=0.3")
    busy = faulty(3, "drop:host=0.3", "dup:pen=0.5", "corrupt:pen=0.5")
    for i, frame in enumerate(FRAMES[:100]):
        busy.send(Sender.PEN, frame, float(i))  # pen traffic interleaved
        busy.send(Sender.HOST, frame, float(i))
        plain.send(Sender.HOST, frame, float(i))
    assert plain.receive(Sender.HOST, 1e9) == busy.receive(Sender.HOST, 1e9)


@pytest.mark.parametrize("p", [0.05, 0.3])
def test_drop_share_is_near_the_probability(p: float) -> None:
    link = faulty(11, f"drop={p}")
    seqs = decoded(run(link))
    assert link.host_to_pen.stats.dropped == len(FRAMES) - len(seqs)
    assert abs(len(seqs) / len(FRAMES) - (1 - p)) < 0.08
    assert seqs == sorted(seqs)


def test_corrupted_frames_are_dropped_by_the_decoder_alone() -> None:
    link = faulty(5, "corrupt=0.2")
    data = run(link)
    decoder = Decoder(Direction.PEN)
    seqs = [f.seq for f in decoder.feed(data) if isinstance(f, Frame)]
    corrupted = link.host_to_pen.stats.corrupted
    assert corrupted > 40
    assert len(seqs) == len(FRAMES) - corrupted
    # a flipped bit may turn into a 0x00 and cut its frame in two: both halves are dropped
    assert corrupted <= decoder.dropped <= 2 * corrupted


def test_duplicates_arrive_twice_in_a_row() -> None:
    link = faulty(8, "dup=0.2")
    seqs = decoded(run(link))
    assert len(seqs) == len(FRAMES) + link.host_to_pen.stats.duplicated
    assert sorted(set(seqs)) == list(range(len(FRAMES)))
    assert seqs == sorted(seqs)


def test_delay_holds_frames_back_and_keeps_order() -> None:
    link = faulty(9, "delay=0.05:20ms")
    arrivals: list[tuple[float, int]] = []
    decoder = Decoder(Direction.PEN)
    for t in range(0, 600):
        if t < len(FRAMES):
            link.send(Sender.HOST, FRAMES[t], float(t))
        for f in decoder.feed(link.receive(Sender.HOST, float(t))):
            assert isinstance(f, Frame)
            arrivals.append((float(t), f.seq))
    seqs = [s for _, s in arrivals]
    assert seqs == list(range(len(FRAMES)))  # nothing lost, nothing reordered
    lags = [t - s for t, s in arrivals]
    # a delayed frame holds back those behind it, but lags never add up
    assert max(lags) == 20 and min(lags) == 0
    assert link.host_to_pen.stats.delayed > 5


def test_cut_loses_everything_while_it_lasts_both_ways() -> None:
    link = Link(0)
    link.cut(100.0, 50.0)
    assert link.is_cut(100.0) and link.is_cut(149.9) and not link.is_cut(150.0)
    for sender in Sender:
        kept = bytearray()
        for t in range(200):
            link.send(sender, FRAMES[t], float(t))
            kept += link.receive(sender, float(t))
        seqs = (
            decoded(kept)
            if sender is Sender.HOST
            else [f.seq for f in Decoder(Direction.PEN).feed(kept) if isinstance(f, Frame)]
        )
        assert seqs == [s for s in range(200) if not 100 <= s < 150]


def test_cut_swallows_frames_in_flight() -> None:
    link = faulty(1, "delay=1:30ms")
    link.send(Sender.HOST, FRAMES[0], 0.0)  # due at 30 ms
    link.cut(10.0, 40.0)
    assert link.receive(Sender.HOST, 100.0) == b""
    assert link.host_to_pen.stats.lost_to_cut == 1


def test_frames_split_across_writes_are_joined() -> None:
    link = Link(0)
    frame = FRAMES[3]
    link.send(Sender.HOST, frame[:4], 0.0)
    assert link.receive(Sender.HOST, 0.0) == b""
    link.send(Sender.HOST, frame[4:], 0.0)
    assert link.receive(Sender.HOST, 0.0) == frame


def test_garbage_without_delimiter_cannot_pile_up() -> None:
    link = Link(0)
    link.send(Sender.HOST, b"\x55" * (MAX_PARTIAL * 3), 0.0)
    assert len(link.receive(Sender.HOST, 0.0)) > MAX_PARTIAL * 2


def test_clear_removes_probabilities() -> None:
    link = faulty(1, "drop=1")
    assert run(link, FRAMES[:10]) == b""
    link.clear()
    assert run(link, FRAMES[:10]) == b"".join(FRAMES[:10])


@given(data=st.binary(max_size=400), seed=st.integers(0, 2**32))
def test_link_never_raises_and_never_invents_bytes_without_faults(data: bytes, seed: int) -> None:
    link = Link(seed)
    link.send(Sender.PEN, data, 0.0)
    out = link.receive(Sender.PEN, 0.0)
    assert data.startswith(out)

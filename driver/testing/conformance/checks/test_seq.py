"""ICD "Sequence numbers and acknowledgement": every command but HEARTBEAT is answered exactly
once with its seq (across the wrap from 65535 to 0); a resent command (same seq and type) is
answered again and not executed twice, for the last 16 commands at least; the same seq with
another type is a new command; STATUS and EVENT carry the pen's own gap-free counter."""

from __future__ import annotations

import itertools
from collections import Counter

import pytest

from driver.testing.conformance.client import PenClient
from driver.testing.conformance.hands import Hands, run_needle
from protocol import (
    Ack,
    Estop,
    Hello,
    Info,
    Message,
    Nack,
    NackError,
    Reset,
    SetDepth,
    SetRate,
    Start,
    State,
    Status,
    Stop,
    encode,
    seq_gap,
)


def resend(pen: PenClient, msg: Message, seq: int) -> Message:
    """What a host does when an answer is late: the same bytes, seq and all, after a 0x00."""
    return pen.request(msg, seq, flush=True)


def test_answers_carry_the_commands_seq_across_the_wrap(pen: PenClient) -> None:
    info = pen.session()
    pen.set_next_seq(0xFFFD)
    seen = []
    for i in range(6):
        mark = pen.mark()
        seq = pen.send(SetDepth(info.depth_min_um + (i % 2) * info.depth_step_um))
        seen.append(seq)
        answer = pen.answer_to(seq, since=mark)
        assert isinstance(answer.message, Ack)
    assert seen == [0xFFFD, 0xFFFE, 0xFFFF, 0, 1, 2]


def test_commands_sent_without_waiting_are_each_answered_exactly_once(pen: PenClient) -> None:
    info = pen.session()
    commands: list[Message] = [
        SetDepth(info.depth_max_um),
        SetRate(info.rate_max_hz),
        SetDepth(info.depth_max_um + info.depth_step_um),  # NACKed: still exactly one answer
        Stop(),
        Reset(2),
        SetDepth(info.depth_min_um),
        SetRate(info.rate_min_hz),
    ] * 3
    mark = pen.mark()
    seqs = [pen.send(msg) for msg in commands]
    for seq in seqs:
        pen.answer_to(seq, since=mark)
    probe = pen.probe()
    counts = Counter(r.seq for r in pen.answers(mark, probe.index))
    assert counts == Counter(seqs), "each command must get exactly one answer with its seq"
    for r in pen.answers(mark, probe.index):
        msg = r.message
        sent = commands[seqs.index(r.seq)]
        assert isinstance(msg, Ack | Nack) and msg.of_type == sent.TYPE


def test_a_resent_set_depth_is_answered_again_but_not_executed_again(pen: PenClient) -> None:
    info = pen.session()
    first = info.depth_min_um + info.depth_step_um
    mark = pen.mark()
    seq = pen.send(SetDepth(first))
    original = pen.answer_to(seq, since=mark).message
    pen.ack(SetDepth(info.depth_max_um))
    again = resend(pen, SetDepth(first), seq)
    assert again == original, "a duplicate gets the same answer again"
    assert pen.status().depth_set_um == info.depth_max_um, "the duplicate was executed again"


def test_a_resent_nack_is_answered_with_the_same_nack(pen: PenClient) -> None:
    info = pen.session()
    too_deep = SetDepth(info.depth_max_um + info.depth_step_um)
    mark = pen.mark()
    seq = pen.send(too_deep)
    original = pen.answer_to(seq, since=mark).message
    assert isinstance(original, Nack) and original.error == NackError.OUT_OF_RANGE
    assert resend(pen, too_deep, seq) == original


def test_a_resent_start_does_not_start_the_needle_again(pen: PenClient, hands: Hands) -> None:
    pen.session()
    hands.fresh_cartridge()
    mark = pen.mark()
    seq = pen.send(Start())
    assert isinstance(pen.answer_to(seq, since=mark).message, Ack)
    pen.wait_status(lambda s: s.state == State.RUNNING, what="RUNNING after START")
    pen.ack(Stop())
    assert isinstance(resend(pen, Start(), seq), Ack), "a duplicate START gets its ACK again"
    assert pen.status().state == State.IDLE, "a resent START restarted the needle"
    pen.pause(0.05)
    assert pen.status().state == State.IDLE


@pytest.mark.ends_session
def test_a_resent_hello_does_not_open_another_session(pen: PenClient, hands: Hands) -> None:
    mark = pen.mark()
    seq = pen.send(Hello(1, 0xC0FFEE))
    info = pen.answer_to(seq, since=mark).message
    assert isinstance(info, Info)
    pen.info = info
    run_needle(pen, hands)
    again = resend(pen, Hello(1, 0xC0FFEE), seq)
    assert again == info, "a duplicate HELLO gets the same INFO again"
    assert pen.status().state == State.RUNNING, "a resent HELLO stopped the needle"


def test_late_copies_of_an_estop_are_acked_but_do_not_latch_again(pen: PenClient) -> None:
    pen.session()
    seq = pen.next_seq()
    frame = b"\x00" + encode(Estop(), seq)
    mark = pen.mark()
    pen.send_raw(frame * 3, owed=[seq] * 3, valid=True)  # the driver sends three copies
    for _ in range(3):
        r = pen.answer_to(seq, since=mark)
        assert isinstance(r.message, Ack), "every copy of ESTOP is ACKed"
        mark = r.index + 1
    assert pen.status().state == State.ESTOP
    pen.ack(Reset(2))
    assert pen.status().state == State.IDLE
    assert isinstance(resend(pen, Estop(), seq), Ack)
    assert pen.status().state == State.IDLE, "a late copy of an answered ESTOP latched again"


def test_the_same_seq_with_another_type_is_a_new_command(pen: PenClient) -> None:
    info = pen.session()
    mark = pen.mark()
    seq = pen.send(SetDepth(info.depth_max_um))
    pen.answer_to(seq, since=mark)
    answer = pen.request(SetRate(info.rate_max_hz), seq)
    assert isinstance(answer, Ack) and answer.of_type == SetRate.TYPE
    st = pen.status()
    assert st.rate_set_hz == info.rate_max_hz, "SET_RATE with a used seq was not executed"
    assert st.depth_set_um == info.depth_max_um


def test_the_pen_remembers_at_least_the_last_16_commands(pen: PenClient) -> None:
    info = pen.session()
    values = range(info.depth_min_um, info.depth_max_um + 1, info.depth_step_um)
    depths = [values[i % len(values)] for i in range(16)]
    if depths[-1] == depths[0]:
        depths[-1] = values[1 % len(values)]
    seqs = []
    for depth in depths:
        mark = pen.mark()
        seqs.append(pen.send(SetDepth(depth)))
        assert isinstance(pen.answer_to(seqs[-1], since=mark).message, Ack)
    assert isinstance(resend(pen, SetDepth(depths[0]), seqs[0]), Ack)
    assert pen.status().depth_set_um == depths[-1], (
        "the 16th most recent command was executed again: the pen remembers fewer than 16"
    )


def test_status_and_event_frames_carry_a_gap_free_counter(pen: PenClient, hands: Hands) -> None:
    """At 50 Hz telemetry, which any 115200 line carries with room to spare, the counter has
    no gap: every value from the first to the last arrives (a STATUS that waited for the
    line may arrive after an EVENT that overtook it)."""
    pen.session()
    pen.telemetry(50)
    mark = pen.mark()
    run_needle(pen, hands)  # EVENT STARTED among the STATUS frames
    pen.ack(Estop())
    pen.ack(Reset(2))
    pen.pause(0.3)
    seqs = [
        r.seq for r in pen.received(mark) if isinstance(r.message, Status) or r.event is not None
    ]
    pen.telemetry(200)
    assert len(seqs) > 10
    base = seqs[0] - 16  # a STATUS that waited may be older than the first frame seen
    ordered = sorted(seqs, key=lambda s: (s - base) % 0x10000)
    gaps = [(a, b) for a, b in itertools.pairwise(ordered) if seq_gap(a, b)]
    assert not gaps, f"the pen's own counter skipped: {gaps[:5]}"

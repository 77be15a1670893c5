"""The host's side of the protocol without a thread, a port or a clock (driver/link/sansio.py):
bytes and times in, events, decisions and bytes out. Property tests: test_link_properties.py."""

from __future__ import annotations

import random

import pytest

import protocol
from driver.errors import NotAllowed
from driver.link import (
    ANSWER_TIMEOUT_S,
    ESTOP_RESEND_S,
    HEARTBEAT_PERIOD_S,
    HOST_LEASE_S,
    LINK_TIMEOUT_S,
    RESENDS,
    Answered,
    EstopConfirmed,
    GiveUp,
    HostProtocol,
    Resend,
    Telemetry,
    Wait,
)
from protocol import Ack, Direction, Frame, Info, MsgType, Nack, NackError, SetDepth, State

T0 = 1000.0


def status(state: State = State.IDLE) -> protocol.Status:
    return protocol.Status(
        state, protocol.Fault(0), 500, 500, 100, 100, 0, 0, 250, 90, 0,
        protocol.CartridgeState.NONE, 0,
    )  # fmt: skip


def info(nonce: int = 7) -> Info:
    return Info(1, nonce, protocol.DeviceClass.PROFESSIONAL, 1, 0, 0, 1, 1,
                250, 3000, 50, 25, 150, 300)  # fmt: skip


def wire(msg: protocol.Message, seq: int) -> bytes:
    """What the pen sends: the frame with its 0x00 delimiter."""
    return protocol.encode(msg, seq)


def sent(data: bytes) -> list[Frame]:
    """What the pen would decode from bytes the host wrote."""
    frames = protocol.Decoder(Direction.PEN).feed(data)
    assert all(isinstance(f, Frame) for f in frames), frames
    return [f for f in frames if isinstance(f, Frame)]


def waits(step: object, seconds: float) -> bool:
    return isinstance(step, Wait) and step.seconds == pytest.approx(seconds)


def machine(seed: int = 1) -> HostProtocol:
    return HostProtocol(rng=random.Random(seed))


# --- sending ---------------------------------------------------------------------------------


def test_a_seeded_rng_repeats_every_byte_and_another_seed_does_not() -> None:
    def run(seed: int) -> bytes:
        m = machine(seed)
        out = m.request(SetDepth(500), m.next_seq(), T0)
        return out + m.send(protocol.Heartbeat()) + m.send_estop(T0)[1]

    assert run(5) == run(5)
    assert run(5) != run(6)


def test_only_the_first_frame_out_has_a_leading_zero() -> None:
    m = machine()
    first = m.send(protocol.Heartbeat(), 1)
    second = m.request(SetDepth(500), 2, T0)
    assert first[0] == 0 and second[0] != 0
    assert [f.seq for f in sent(first + second)] == [1, 2]


def test_a_seq_cannot_be_pending_twice() -> None:
    m = machine()
    m.request(SetDepth(500), 9, T0)
    with pytest.raises(ValueError, match="already pending"):
        m.request(SetDepth(600), 9, T0)
    assert m.pending == {9}


# --- answers ---------------------------------------------------------------------------------


def test_an_ack_of_the_command_answers_it() -> None:
    m = machine()
    m.request(SetDepth(500), 40, T0)
    events = m.receive_data(wire(Ack(MsgType.SET_DEPTH), 40), T0 + 0.01)
    assert events == [Answered(40, Ack(MsgType.SET_DEPTH))]
    assert m.answer(40) == Ack(MsgType.SET_DEPTH)
    assert m.follow_up(40, T0 + 10) is None  # answered: nothing more to do, ever
    assert m.stats.stray_answers == 0


@pytest.mark.parametrize(
    "answer",
    [
        Ack(MsgType.SET_RATE),  # another command's ACK under our seq
        Nack(MsgType.START, NackError.BAD_STATE, 0),
        info(),  # INFO answers HELLO only
    ],
)
def test_an_answer_of_the_wrong_type_is_a_stray(answer: protocol.Message) -> None:
    m = machine()
    m.request(SetDepth(500), 40, T0)
    assert m.receive_data(wire(answer, 40), T0) == []
    assert m.answer(40) is None and m.stats.stray_answers == 1


def test_info_answers_hello_and_a_second_answer_is_a_stray() -> None:
    m = machine()
    m.request(protocol.Hello(1, 7), 3, T0)
    data = wire(info(), 3)
    assert m.receive_data(data, T0) == [Answered(3, info())]
    assert m.receive_data(data, T0) == []  # the same answer again (a resend's answer)
    assert m.answer(3) == info() and m.stats.stray_answers == 1


def test_an_answer_after_the_request_is_over_is_a_stray() -> None:
    m = machine()
    m.request(SetDepth(500), 40, T0)
    m.forget(40)
    assert m.receive_data(wire(Ack(MsgType.SET_DEPTH), 40), T0) == []
    assert m.stats.stray_answers == 1 and m.pending == frozenset()


# --- a late answer: wait, resend, give up ----------------------------------------------------


def test_a_late_answer_is_waited_for_then_resent_then_given_up() -> None:
    m = machine()
    first = m.request(SetDepth(500), 40, T0)
    assert waits(m.follow_up(40, T0), ANSWER_TIMEOUT_S)
    t = T0
    for attempt in range(1, RESENDS + 1):
        t += ANSWER_TIMEOUT_S
        step = m.follow_up(40, t)
        assert isinstance(step, Resend) and step.attempt == attempt
        assert step.data == b"\x00" + first.lstrip(b"\x00")  # the same frame, flushed first
        assert waits(m.follow_up(40, t + ANSWER_TIMEOUT_S / 2), ANSWER_TIMEOUT_S / 2)
    step = m.follow_up(40, t + ANSWER_TIMEOUT_S)
    assert isinstance(step, GiveUp) and step.waited == pytest.approx(4 * ANSWER_TIMEOUT_S)
    assert (step.seq, step.command, step.resends) == (40, MsgType.SET_DEPTH, RESENDS)
    assert m.stats.resends == RESENDS


def test_an_answer_to_a_resent_request_still_counts() -> None:
    m = machine()
    m.request(SetDepth(500), 40, T0)
    assert isinstance(m.follow_up(40, T0 + ANSWER_TIMEOUT_S), Resend)
    assert m.receive_data(wire(Ack(MsgType.SET_DEPTH), 40), T0 + 0.06) != []
    assert m.follow_up(40, T0 + 1.0) is None


def test_a_time_jump_resends_once_per_follow_up_not_in_a_burst() -> None:
    m = machine()
    m.request(SetDepth(500), 40, T0)
    later = T0 + 60.0  # the process slept for a minute
    step = m.follow_up(40, later)
    assert isinstance(step, Resend) and step.attempt == 1
    assert waits(m.follow_up(40, later), ANSWER_TIMEOUT_S)


# --- telemetry -------------------------------------------------------------------------------


def test_status_and_event_share_one_counter_gaps_and_duplicates_are_counted() -> None:
    m = machine()
    stream = [(status(), 10), (protocol.Event(protocol.EventCode.STARTED), 11),
              (status(), 11), (status(), 14), (status(), 12), (status(), 15)]  # fmt: skip
    events = m.receive_data(b"".join(wire(msg, seq) for msg, seq in stream), T0)
    assert [e.seq for e in events if isinstance(e, Telemetry)] == [10, 11, 14, 12, 15]
    assert m.stats.duplicates == 1  # 11 twice in a row
    assert m.stats.status_gaps == 2  # 12 and 13 skipped; 12 came late, 13 never
    assert m.stats.frames_in == 6


def test_the_counter_wraps_without_a_gap() -> None:
    m = machine()
    m.receive_data(wire(status(), 0xFFFF) + wire(status(), 0), T0)
    assert m.stats.status_gaps == 0


def test_garbage_and_a_cut_frame_are_skipped_and_what_follows_gets_through() -> None:
    m = machine()
    good = wire(status(), 5)
    assert m.receive_data(b"\x17\x99" + good[: len(good) // 2], T0) == []
    events = m.receive_data(b"\x00" + good, T0)
    assert events == [Telemetry(status(), 5)]


# --- heartbeat, the UI's lease, the link check -----------------------------------------------


def test_the_heartbeat_comes_every_period_while_on_and_stops_with_the_uis_lease() -> None:
    m = machine()
    assert m.tick(T0 + 1) == []  # off
    m.enable_heartbeat(T0)
    assert m.tick(T0 + HEARTBEAT_PERIOD_S / 2) == []
    out = m.tick(T0 + HEARTBEAT_PERIOD_S)
    assert len(out) == 1 and not out[0].estop
    assert [f.message for f in sent(out[0].data)] == [protocol.Heartbeat()]
    assert m.tick(T0 + HEARTBEAT_PERIOD_S) == []  # not twice in one period
    m.keepalive(0.5, T0 + 0.1)
    assert len(m.tick(T0 + 0.6)) == 1  # within the lease
    assert m.tick(T0 + 0.75) == []  # the UI missed its lease: no heartbeat
    assert len(m.tick(T0 + 1.0, heartbeat=False)) == 0


def test_a_heartbeat_written_by_another_gets_seqs_of_its_own() -> None:
    m = machine()
    frames = m.reserve_heartbeats(4)
    seqs = [sent(f)[0].seq for f in frames]
    assert all(f[0] == 0 for f in frames)
    assert len({*seqs, m.next_seq()}) == 5


@pytest.mark.parametrize("bad", [0, -1, 0.0, float("nan"), float("inf"), 6.0, True, "1", None])
def test_a_bad_keepalive_is_one_sentence_and_changes_nothing(bad: object) -> None:
    m = machine()
    m.keepalive(1.0, T0)
    with pytest.raises(NotAllowed, match=r"^A UI's keepalive timeout must be .*\.$"):
        m.keepalive(bad, T0 + 0.5)  # type: ignore[arg-type]
    assert m.ui_deadline == T0 + 1.0


def test_the_lease_is_the_hosts_and_never_past_the_uis() -> None:
    m = machine()
    assert m.lease_until(T0) == T0 + HOST_LEASE_S
    m.keepalive(0.3, T0)
    assert m.lease_until(T0) == T0 + 0.3


def test_silence_after_expect_status_and_status_keeps_it_away() -> None:
    m = machine()
    assert not m.silent(T0 + 100)  # not watched yet
    m.expect_status(T0)
    first = T0 + LINK_TIMEOUT_S + ANSWER_TIMEOUT_S
    assert not m.silent(first) and m.silent(first + 0.001)
    m.receive_data(wire(status(), 1), T0 + 0.2)
    assert not m.silent(T0 + 0.2 + LINK_TIMEOUT_S)
    assert m.silent(T0 + 0.2 + LINK_TIMEOUT_S + 0.001)


# --- the e-stop ------------------------------------------------------------------------------


def test_a_pending_estop_is_resent_with_fresh_seqs_until_an_ack_confirms_it() -> None:
    m = machine()
    m.enable_heartbeat(T0)
    seq, data = m.send_estop(T0)
    assert data[0] == 0 and sent(data)[0] == Frame(seq, protocol.Estop())
    assert m.estop_pending and not m.heartbeat_on
    assert m.tick(T0 + ESTOP_RESEND_S / 2) == []
    out = m.tick(T0 + ESTOP_RESEND_S)
    assert [o.estop for o in out] == [True]
    again = sent(out[0].data)[0]
    assert again.message == protocol.Estop() and again.seq != seq
    events = m.receive_data(wire(Ack(MsgType.ESTOP), again.seq), T0 + 0.03)
    assert events == [EstopConfirmed(heartbeat_on=True)]
    assert not m.estop_pending and m.heartbeat_on
    assert m.tick(T0 + 0.03 + HEARTBEAT_PERIOD_S / 2) == []  # resumed a period after it
    out = m.tick(T0 + 0.03 + HEARTBEAT_PERIOD_S)
    assert [(o.estop, sent(o.data)[0].message) for o in out] == [(False, protocol.Heartbeat())]
    assert m.stats.stray_answers == 0


def test_a_status_in_estop_confirms_it_too_and_is_passed_on() -> None:
    m = machine()
    m.send_estop(T0)
    events = m.receive_data(wire(status(State.ESTOP), 3), T0)
    assert events == [EstopConfirmed(heartbeat_on=True), Telemetry(status(State.ESTOP), 3)]


def test_after_the_loss_only_the_estop_goes_on() -> None:
    m = machine()
    m.enable_heartbeat(T0)
    m.request(SetDepth(500), 40, T0)
    m.send_estop(T0)
    m.lose()
    assert m.pending == frozenset() and m.follow_up(40, T0 + 1) is None
    out = m.tick(T0 + 1.0)
    assert [o.estop for o in out] == [True]  # no heartbeat, only the e-stop
    data = wire(Ack(MsgType.SET_DEPTH), 40) + wire(status(State.ESTOP), 8)
    assert m.receive_data(data, T0 + 1.0) == [EstopConfirmed(heartbeat_on=False)]
    assert m.stats.stray_answers == 1 and not m.heartbeat_on
    assert m.tick(T0 + 2.0) == []


def test_a_closed_machine_takes_nothing_and_sends_nothing() -> None:
    m = machine()
    m.enable_heartbeat(T0)
    m.send_estop(T0)
    m.close()
    assert m.receive_data(wire(status(State.ESTOP), 1), T0) == []
    assert m.tick(T0 + 5) == [] and m.estop_pending

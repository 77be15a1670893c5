"""ICD: ESTOP stops the motor and retracts the needle at once from any state, is always ACKed
(the needle stops before the ACK is sent) and latches ESTOP until RESET 2; the latch outlives
HELLO and a new session. STOP is always obeyed and ACKed; STOP from RUNNING returns to IDLE.
RESET with a `what` the ICD does not define is refused and changes nothing."""

from __future__ import annotations

import pytest

from driver.testing.conformance.client import PenClient
from driver.testing.conformance.hands import Hands, run_needle, trip_watchdog
from protocol import Ack, Estop, Nack, NackError, Reset, SetDepth, Start, State, Stop

STATES = [
    pytest.param("no_session", marks=pytest.mark.ends_session),
    "idle",
    "running",
    "estop",
]
#: How long the motor may take to come to rest after an e-stop, as telemetry reports it.
SPIN_DOWN_S = 0.2


def reach(pen: PenClient, hands: Hands, where: str) -> None:
    pen.session()
    if where == "no_session":
        trip_watchdog(pen)
        pen.keepalive = True
    elif where == "running":
        run_needle(pen, hands)
    elif where == "estop":
        pen.ack(Estop())
    expected = {
        "no_session": State.NO_SESSION,
        "idle": State.IDLE,
        "running": State.RUNNING,
        "estop": State.ESTOP,
    }[where]
    assert pen.status().state == expected


def test_estop_from_running_stops_the_needle_before_the_ack(pen: PenClient, hands: Hands) -> None:
    pen.session()
    run_needle(pen, hands)
    pen.ack(Estop(), why="ESTOP is always ACKed")
    first = pen.status()  # the first STATUS the pen sent after its ACK
    assert first.state == State.ESTOP, f"the first STATUS after the ACK says {first.state.name}"
    pen.wait_status(
        lambda s: s.rate_actual_hz == 0,
        timeout=SPIN_DOWN_S,
        what=f"STATUS with the motor at rest within {SPIN_DOWN_S} s of the e-stop",
    )
    pen.nack(Start(), NackError.ESTOP_LATCHED, why="the e-stop is latched")
    assert pen.status().state == State.ESTOP


@pytest.mark.parametrize("where", STATES)
def test_estop_is_obeyed_and_acked_in_every_state(pen: PenClient, hands: Hands, where: str) -> None:
    reach(pen, hands, where)
    pen.ack(Estop(), why=f"ESTOP is always ACKed, here in {where}")
    assert pen.status().state == State.ESTOP


@pytest.mark.parametrize("where", STATES)
def test_stop_is_obeyed_and_acked_in_every_state(pen: PenClient, hands: Hands, where: str) -> None:
    reach(pen, hands, where)
    pen.ack(Stop(), why=f"STOP is always ACKed, here in {where}")
    after = {"no_session": State.NO_SESSION, "estop": State.ESTOP}.get(where, State.IDLE)
    assert pen.status().state == after, "STOP from RUNNING returns to IDLE; it releases nothing"


@pytest.mark.ends_session
def test_the_estop_latch_survives_hello_and_only_reset_2_releases_it(
    pen: PenClient, hands: Hands
) -> None:
    info = pen.session()
    pen.ack(Estop())
    pen.hello()
    assert pen.status().state == State.ESTOP, "the latch must outlive a new session"
    pen.nack(Start(), NackError.ESTOP_LATCHED)
    answer = pen.request(Reset(1))
    assert isinstance(answer, Ack | Nack)
    assert pen.status().state == State.ESTOP, "RESET 1 (clear a fault) released the e-stop"
    pen.ack(SetDepth(info.depth_min_um), why="set-points may be changed while latched")
    pen.ack(Reset(2), why="RESET 2 releases the e-stop")
    assert pen.status().state == State.IDLE


@pytest.mark.ends_session
def test_the_estop_latch_survives_a_watchdog_trip(pen: PenClient, hands: Hands) -> None:
    pen.session()
    pen.ack(Estop())
    trip_watchdog(pen)
    st = pen.status()
    assert st.state == State.ESTOP, f"after a watchdog trip the pen says {st.state.name}"
    pen.keepalive = True
    pen.nack(Reset(2), NackError.NO_SESSION, why="only RESET within a session clears a latch")
    pen.hello()
    assert pen.status().state == State.ESTOP
    pen.ack(Reset(2))
    assert pen.status().state == State.IDLE


def test_stop_from_running_returns_to_idle(pen: PenClient, hands: Hands) -> None:
    pen.session()
    run_needle(pen, hands)
    pen.ack(Stop())
    assert pen.status().state == State.IDLE
    pen.wait_status(lambda s: s.rate_actual_hz == 0, what="STATUS with the motor at rest")


@pytest.mark.parametrize("what", [0, 3, 0xFF])
def test_reset_with_an_undefined_what_is_refused_and_changes_nothing(
    pen: PenClient, what: int
) -> None:
    pen.session()
    pen.ack(Estop())
    answer = pen.request(Reset(what))
    assert isinstance(answer, Nack), f"RESET {what} was answered {answer}"
    assert pen.status().state == State.ESTOP


#: How long the suite watches STATUS after a confirmed e-stop.
WATCH_S = 0.3


def test_an_estop_is_confirmed_by_its_ack_and_every_status_after_it_says_estop(
    pen: PenClient, hands: Hands
) -> None:
    """What a host's e-stop confirmation relies on (docs/PROTOCOL.md): a host sends ESTOP,
    with the heartbeat off, as a new copy (own seq, leading 0x00) every 20 ms until its ACK or
    a STATUS in ESTOP arrives. Each copy is ACKed, and after the first ACK no STATUS made
    after it says anything but ESTOP, so a confirmed e-stop never turns out to be wrong."""
    pen.session()
    run_needle(pen, hands)
    mark = pen.mark()
    pen.go_quiet()  # a host stops heartbeating while its e-stop is unconfirmed
    seqs = []
    for _ in range(3):
        seqs.append(pen.send(Estop(), flush=True))
        pen.pause(0.020)
    for seq in seqs:
        answer = pen.answer_to(seq, since=mark).message
        assert isinstance(answer, Ack) and answer.of_type == Estop.TYPE, (
            f"ESTOP (seq {seq}) was answered {answer}, not ACK: a host could not confirm it"
        )
    first_ack = min(r.index for r in pen.answers(mark) if r.seq in seqs)
    pen.keepalive = True
    pen.pause(WATCH_S)
    # the first STATUS after the ACK may have waited for the line while the ESTOP was handled
    # (docs/PROTOCOL.md: answers go first, at most one STATUS waits); every later one is new
    after = [r.status for r in pen.received(first_ack + 1) if r.status is not None][1:]
    assert after, "no STATUS after the e-stop's ACK"
    wrong = sorted({st.state.name for st in after if st.state != State.ESTOP})
    assert not wrong, (
        f"after ACKing ESTOP the pen reported {', '.join(wrong)}: a confirmed e-stop must show "
        "as ESTOP in every STATUS until RESET 2"
    )
    assert after[-1].rate_actual_hz == 0, "the motor is still turning after a confirmed e-stop"

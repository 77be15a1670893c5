"""ICD: START and its preconditions, those the suite can reach without touching the pen.

START from IDLE with a fresh cartridge runs the needle (cartridge IN_USE, stamps counting).
It is refused with NO_SESSION without a session, ESTOP_LATCHED while the e-stop is latched,
CARTRIDGE_USED with a cartridge used in an earlier session (SPENT), and a START while RUNNING
changes nothing. NO_CARTRIDGE, FAULT_LATCHED, BATTERY_LOW and a cartridge put back need a
physical action: see test_physical.py.
"""

from __future__ import annotations

import pytest

from driver.testing.conformance.client import PenClient
from driver.testing.conformance.hands import Hands, run_needle, settle, trip_watchdog
from protocol import (
    DEPTH_TOLERANCE_MAX_UM,
    DEPTH_TOLERANCE_UM,
    Ack,
    CartridgeState,
    Estop,
    Nack,
    NackError,
    SetDepth,
    SetRate,
    Start,
    State,
)


def test_start_from_idle_runs_the_needle_at_the_rate_set(pen: PenClient, hands: Hands) -> None:
    info = pen.session()
    pen.ack(SetRate(info.rate_max_hz))
    hands.fresh_cartridge()
    cartridge = pen.status().cartridge_id
    running = run_needle(pen, hands)
    assert running.cartridge_state == CartridgeState.IN_USE
    assert running.cartridge_id == cartridge
    st = pen.wait_status(
        lambda s: s.rate_actual_hz >= info.rate_max_hz * 0.9,
        timeout=1.0,
        what="the motor up to speed within 1 s",
    ).status
    assert st is not None and st.state == State.RUNNING and st.stamps > running.stamps


@pytest.mark.ends_session
def test_start_without_a_session_is_refused(pen: PenClient) -> None:
    pen.session()
    trip_watchdog(pen)
    pen.keepalive = True
    pen.nack(Start(), NackError.NO_SESSION)
    assert pen.status().state == State.NO_SESSION


def test_start_with_the_estop_latched_is_refused(pen: PenClient, hands: Hands) -> None:
    pen.session()
    hands.fresh_cartridge()
    pen.ack(Estop())
    pen.nack(Start(), NackError.ESTOP_LATCHED)
    assert pen.status().state == State.ESTOP


def test_start_while_running_changes_nothing(pen: PenClient, hands: Hands) -> None:
    pen.session()
    before = run_needle(pen, hands)
    answer = pen.request(Start())
    assert isinstance(answer, Ack) or (
        isinstance(answer, Nack) and answer.error == NackError.BAD_STATE
    ), f"START while RUNNING was answered {answer}"
    st = pen.status()
    assert st.state == State.RUNNING
    assert st.cartridge_id == before.cartridge_id


@pytest.mark.ends_session
def test_a_cartridge_used_in_an_earlier_session_is_spent_and_refused(
    pen: PenClient, hands: Hands
) -> None:
    pen.session()
    used = run_needle(pen, hands).cartridge_id
    pen.hello()  # a new session: the cartridge was used in an earlier one
    st = pen.status()
    assert st.cartridge_id == used
    assert st.cartridge_state == CartridgeState.SPENT, (
        f"a cartridge used in an earlier session reports {st.cartridge_state.name}, not SPENT"
    )
    pen.nack(Start(), NackError.CARTRIDGE_USED, why="a used cartridge must not be reused")
    assert pen.status().state == State.IDLE


def test_start_is_refused_while_the_needle_is_still_deeper_than_a_new_shallower_set_point(
    pen: PenClient, hands: Hands
) -> None:
    """docs/PROTOCOL.md, START precondition: while |depth_actual_um - depth_set_um| is beyond
    the pen's tolerance (50..150 µm), START is answered NACK BAD_STATE with detail =
    depth_actual_um and changes nothing; once the needle is there, START runs it."""
    info = pen.session()
    assert info.depth_max_um - info.depth_min_um > 2 * DEPTH_TOLERANCE_MAX_UM
    hands.fresh_cartridge()
    pen.ack(SetDepth(info.depth_max_um))
    settle(pen)
    mark = pen.mark()
    lower = pen.send(SetDepth(info.depth_min_um))
    start = pen.send(Start())  # in the same instant: the needle has hardly moved
    assert isinstance(pen.answer_to(lower, since=mark).message, Ack)
    answer = pen.answer_to(start, since=mark).message
    assert isinstance(answer, Nack) and answer.error == NackError.BAD_STATE, (
        f"START while the needle was still at about {info.depth_max_um} µm, with the set-point "
        f"lowered to {info.depth_min_um} µm, was answered {answer}, not NACK BAD_STATE: the "
        "needle could run deeper than the depth just approved"
    )
    assert info.depth_min_um + DEPTH_TOLERANCE_UM < answer.detail <= info.depth_max_um, (
        f"NACK BAD_STATE detail {answer.detail} is not the needle's actual depth (between "
        f"{info.depth_min_um + DEPTH_TOLERANCE_UM} and {info.depth_max_um} µm then)"
    )
    st = pen.status()
    assert st.state == State.IDLE, f"a refused START left the pen {st.state.name}"
    settle(pen)
    pen.ack(Start(), why="START once depth_actual_um is on the set-point")
    pen.wait_status(lambda s: s.state == State.RUNNING, what="RUNNING after the needle settled")

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
from driver.testing.conformance.hands import Hands, run_needle, trip_watchdog
from protocol import Ack, CartridgeState, Estop, Nack, NackError, SetRate, Start, State


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

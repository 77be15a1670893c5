"""ICD promises that need a physical action on the pen (marked `manual`).

On the simulator its control hook does the action; on a real pen an operator does it when the
run has --pen-operator (the check waits until telemetry shows it was done), and otherwise the
check is skipped with "needs an operator on a real pen: ..." and listed at the end of the run.
Actions no operator can do by hand (overheat, a jammed actuator, a stalled motor, a flat
battery) need a fault bench on a real pen.
"""

from __future__ import annotations

import pytest

from driver.testing.conformance.client import PenClient, is_event, is_status
from driver.testing.conformance.hands import Hands, run_needle, trip_watchdog
from protocol import (
    CartridgeState,
    Estop,
    EventCode,
    Fault,
    NackError,
    Reset,
    SetDepth,
    SetTelemetry,
    Start,
    State,
    Stop,
)

pytestmark = pytest.mark.manual

#: How long a latched fault may take to show after its cause (detection, telemetry period).
FAULT_SHOWS_S = 2.0


def fault_latched(pen: PenClient, fault: Fault, since: int) -> None:
    pen.wait_status(
        lambda s: s.state == State.FAULT and bool(s.faults & fault),
        since=since,
        timeout=FAULT_SHOWS_S,
        what=f"STATUS in FAULT with {fault.name}",
    )


@pytest.mark.ends_session
def test_after_boot_there_is_no_session_telemetry_is_off_and_boot_id_is_new(
    pen: PenClient, hands: Hands
) -> None:
    old = pen.session()
    pen.ack(SetDepth(old.depth_max_um))
    mark = pen.mark()
    hands.do("reboot")
    pen.wait_for(is_event(EventCode.BOOT), since=mark, what="EVENT BOOT after the power cycle")
    booted = pen.mark()
    pen.pause(0.3)
    assert not [r for r in pen.received(booted) if is_status(r)], "telemetry is on after boot"
    pen.nack(SetDepth(old.depth_min_um), NackError.NO_SESSION, why="no session after boot")
    pen.ack(Stop())
    new = pen.hello()
    assert new.boot_id != old.boot_id, "boot_id did not change across a reboot"
    pen.telemetry(100)
    st = pen.status()
    assert st.state == State.IDLE
    assert st.depth_set_um == new.depth_min_um, "the depth set-point is not depth_min_um"
    assert st.rate_actual_hz == 0 and st.motor_ma == 0, "the motor runs after boot"


@pytest.mark.ends_session
def test_telemetry_stops_when_the_pen_reboots(pen: PenClient, hands: Hands) -> None:
    pen.session()
    pen.ack(SetTelemetry(200))
    pen.status()
    mark = pen.mark()
    hands.do("reboot")
    boot = pen.wait_for(is_event(EventCode.BOOT), since=mark, what="EVENT BOOT")
    pen.pause(0.2)
    assert not [r for r in pen.received(boot.index) if is_status(r)]
    pen.hello()


def test_pulling_the_cartridge_while_running_latches_a_fault_and_stops_the_needle(
    pen: PenClient, hands: Hands
) -> None:
    pen.session()
    run_needle(pen, hands)
    mark = pen.mark()
    hands.do("remove_cartridge")
    pen.wait_for(is_event(EventCode.CARTRIDGE_REMOVED), since=mark, what="EVENT CARTRIDGE_REMOVED")
    fault_latched(pen, Fault.CARTRIDGE_REMOVED, mark)
    pen.wait_status(lambda s: s.rate_actual_hz == 0, since=mark, what="the motor at rest")
    pen.nack(Start(), NackError.FAULT_LATCHED, why="a latched fault keeps the needle stopped")
    pen.ack(Stop(), why="STOP is always ACKed, FAULT included")
    pen.request(Reset(1))
    assert pen.status().state == State.FAULT, "RESET 1 cleared a fault whose cause is still there"
    hands.do("insert_fresh_cartridge")
    pen.ack(Reset(1), why="the cause has gone")
    assert pen.status().state == State.IDLE
    run_needle(pen, hands)


def test_estop_is_acked_in_fault_and_telemetry_flows_there(pen: PenClient, hands: Hands) -> None:
    pen.session()
    run_needle(pen, hands)
    mark = pen.mark()
    hands.do("remove_cartridge")
    fault_latched(pen, Fault.CARTRIDGE_REMOVED, mark)
    statuses = [pen.status(since=pen.mark()) for _ in range(3)]
    assert all(s.state == State.FAULT for s in statuses)
    pen.ack(Estop(), why="ESTOP is always ACKed, FAULT included")
    assert pen.status().state == State.ESTOP, "the e-stop shows over the fault"
    hands.do("insert_fresh_cartridge")
    pen.ack(Reset(2))
    pen.ack(Reset(1))
    assert pen.status().state == State.IDLE


@pytest.mark.ends_session
def test_a_latched_fault_survives_a_watchdog_trip_and_a_new_session(
    pen: PenClient, hands: Hands
) -> None:
    pen.session()
    run_needle(pen, hands)
    mark = pen.mark()
    hands.do("remove_cartridge")
    fault_latched(pen, Fault.CARTRIDGE_REMOVED, mark)
    hands.do("insert_fresh_cartridge")
    trip_watchdog(pen)
    assert pen.status().state == State.FAULT, "the watchdog trip cleared a latched fault"
    pen.keepalive = True
    pen.hello()
    assert pen.status().state == State.FAULT, "a new session cleared a latched fault"
    pen.ack(Reset(1))
    assert pen.status().state == State.IDLE


def test_start_without_a_cartridge_is_refused(pen: PenClient, hands: Hands) -> None:
    pen.session()
    hands.fresh_cartridge()
    hands.do("remove_cartridge")
    pen.nack(Start(), NackError.NO_CARTRIDGE)
    assert pen.status().state != State.RUNNING
    hands.do("insert_fresh_cartridge")


def test_a_used_cartridge_put_back_is_spent_and_refused(pen: PenClient, hands: Hands) -> None:
    pen.session()
    used = run_needle(pen, hands).cartridge_id
    pen.ack(Stop())
    hands.do("remove_cartridge")
    hands.do("put_cartridge_back")
    st = pen.status()
    assert st.cartridge_id == used
    assert st.cartridge_state == CartridgeState.SPENT, f"put back: {st.cartridge_state.name}"
    pen.nack(Start(), NackError.CARTRIDGE_USED)
    assert pen.status().state == State.IDLE


def test_start_on_a_low_battery_is_refused(pen: PenClient, hands: Hands) -> None:
    pen.session()
    hands.fresh_cartridge()
    hands.do("battery_low")
    pen.nack(Start(), NackError.BATTERY_LOW)
    assert pen.status().state == State.IDLE
    hands.do("battery_full")


def test_overheating_latches_a_fault_until_the_pen_has_cooled_and_is_reset(
    pen: PenClient, hands: Hands
) -> None:
    pen.session()
    run_needle(pen, hands)
    mark = pen.mark()
    hands.do("overheat")
    fault_latched(pen, Fault.OVERTEMP, mark)
    pen.request(Reset(1))
    assert pen.status().state == State.FAULT, "RESET 1 cleared OVERTEMP while still hot"
    hands.do("cool")
    pen.ack(Reset(1))
    assert pen.status().state == State.IDLE


def test_a_jammed_depth_actuator_raises_depth_error_and_stops_the_needle(
    pen: PenClient, hands: Hands
) -> None:
    pen.session()
    run_needle(pen, hands)
    mark = pen.mark()
    hands.do("jam_depth")
    fault_latched(pen, Fault.DEPTH_ERROR, mark)
    pen.wait_status(lambda s: s.rate_actual_hz == 0, since=mark, what="the motor at rest")
    hands.do("free_depth")
    pen.wait_status(
        lambda s: abs(s.depth_actual_um - s.depth_set_um) <= 50,
        timeout=FAULT_SHOWS_S,
        what="the actuator back on its set-point",
    )
    pen.ack(Reset(1))
    assert pen.status().state == State.IDLE


def test_a_stalled_motor_latches_motor_stall(pen: PenClient, hands: Hands) -> None:
    pen.session()
    run_needle(pen, hands)
    mark = pen.mark()
    hands.do("stall_motor")
    fault_latched(pen, Fault.MOTOR_STALL, mark)
    pen.ack(Reset(1))
    assert pen.status().state == State.IDLE

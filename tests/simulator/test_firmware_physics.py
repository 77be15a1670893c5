"""Physics and injected pen faults: depth slew, motor, heat, battery, cartridge, stall."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from driver.testing.host import VirtualHost
from protocol import (
    Ack,
    CartridgeState,
    EventCode,
    Fault,
    MsgType,
    Nack,
    NackError,
    Reset,
    SetDepth,
    SetRate,
    Start,
    State,
    Stop,
)
from simulator import physics
from simulator.errors import InjectError
from simulator.firmware import Firmware, PenConfig, StopCause, fault_bit
from simulator.physics import PhysicsParams


def session(config: PenConfig | None = None) -> VirtualHost:
    host = VirtualHost(config=config)
    host.hello()
    return host


# --- depth actuator -------------------------------------------------------------------------


def test_depth_slews_at_ten_mm_per_second_and_settles() -> None:
    host = session()
    host.ask(SetDepth(3000))
    host.advance(100, heartbeat_every=50)
    assert host.fw.depth_actual_um == 250 + 1000
    host.advance(175, heartbeat_every=50)
    assert host.fw.depth_actual_um == 3000
    frames = host.advance(1000, heartbeat_every=100)
    assert host.codes(frames) == []
    assert host.fw.state == State.IDLE


def test_depth_changes_while_running_slew_and_keep_running() -> None:
    host = session()
    host.settle_depth(500)
    host.ask(Start())
    host.advance(100, heartbeat_every=50)
    assert host.ask(SetDepth(1500)) == Ack(MsgType.SET_DEPTH)
    host.advance(50, heartbeat_every=50)
    assert 500 < host.fw.depth_actual_um < 1500
    host.advance(100, heartbeat_every=50)
    assert host.fw.depth_actual_um == 1500
    assert host.fw.state == State.RUNNING


def test_depth_fault_raises_depth_error_and_stops_the_needle() -> None:
    host = session()
    host.settle_depth(1000)
    host.ask(Start())
    host.advance(200, heartbeat_every=50)
    host.fw.inject_depth_fault()
    assert abs(host.fw.depth_actual_um - 1000) > 50
    assert host.fw.state == State.RUNNING  # within the settle margin
    frames = host.advance(100, heartbeat_every=50)
    assert host.codes(frames) == [EventCode.FAULT_RAISED, EventCode.STOPPED]
    assert host.events(frames)[0].detail == fault_bit(Fault.DEPTH_ERROR) == 2
    assert host.fw.state == State.FAULT and not host.fw.needle_running
    # the actuator is still stuck: RESET 1 is refused
    nack = host.ask(Reset(1))
    assert nack == Nack(MsgType.RESET, NackError.FAULT_LATCHED, int(Fault.DEPTH_ERROR))
    host.fw.clear_depth_fault()
    host.advance(200, heartbeat_every=50)
    assert host.fw.depth_actual_um == 1000
    assert host.ask(Reset(1)) == Ack(MsgType.RESET)
    assert host.fw.state == State.IDLE


def test_depth_fault_while_moving_is_caught_when_the_move_should_be_done() -> None:
    host = session()
    host.ask(SetDepth(3000))
    host.advance(50, heartbeat_every=50)
    host.fw.inject_depth_fault()  # stuck half way
    frames = host.advance(150, heartbeat_every=50)
    assert host.codes(frames) == []  # not yet: the move may take 275 ms + 100 ms margin
    frames = host.advance(300, heartbeat_every=50)
    assert EventCode.FAULT_RAISED in host.codes(frames)
    assert host.fw.latched_faults & Fault.DEPTH_ERROR


# --- motor ----------------------------------------------------------------------------------


def test_motor_spins_up_and_stamps_count_at_the_actual_rate() -> None:
    host = session()
    host.ask(SetRate(150))
    host.ask(Start())
    host.advance(30, heartbeat_every=50)
    assert host.fw.rate_actual_hz == 45  # 1.5 Hz/ms
    host.advance(70, heartbeat_every=50)
    assert host.fw.rate_actual_hz == 150
    stamps_at_100ms = host.fw.stamps
    assert stamps_at_100ms == 7  # the ramp: 150 Hz / 2 x 0.1 s = 7.5
    host.advance(1000, heartbeat_every=100)
    assert host.fw.stamps == int(7.5 + 150)


def test_motor_current_follows_rate_and_is_zero_at_rest() -> None:
    host = session()
    assert host.fw.motor_ma == 0
    currents = []
    for rate in (25, 80, 150):
        host.ask(SetRate(rate))
        host.ask(Start())
        host.advance(200, heartbeat_every=50)
        currents.append(host.fw.motor_ma)
        host.ask(Stop())
        assert host.fw.motor_ma == 0
    assert currents == sorted(currents) and currents[0] < currents[-1]


def test_stall_while_running_raises_motor_stall() -> None:
    host = session()
    host.ask(Start())
    host.advance(100, heartbeat_every=50)
    host.fw.inject_stall()
    assert host.fw.rate_actual_hz == 0
    assert host.fw.motor_ma == PhysicsParams().motor_stall_ma
    frames = host.advance(20, heartbeat_every=50)
    assert host.codes(frames) == [EventCode.FAULT_RAISED, EventCode.STOPPED]
    assert host.events(frames)[0].detail == 1
    assert host.events(frames)[1].detail == StopCause.FAULT
    assert host.fw.state == State.FAULT
    assert host.ask(Reset(1)) == Ack(MsgType.RESET)  # the motor stopped: nothing persists
    assert host.ask(Start()) == Ack(MsgType.START)
    host.advance(100, heartbeat_every=50)
    assert host.fw.rate_actual_hz > 0


def test_stall_armed_at_rest_strikes_at_the_next_start() -> None:
    host = session()
    host.fw.inject_stall()
    assert host.ask(Start()) == Ack(MsgType.START)
    host.advance(25, heartbeat_every=50)
    assert host.fw.latched_faults & Fault.MOTOR_STALL
    assert host.fw.state == State.FAULT


# --- heat -------------------------------------------------------------------------------------


def test_temperature_rises_while_running_and_cools_at_rest() -> None:
    host = session()
    start = host.fw.temperature_dc
    host.ask(SetRate(150))
    host.ask(Start())
    host.advance(120_000, heartbeat_every=200)
    hot = host.fw.temperature_dc
    assert hot > start + 50
    assert hot < PhysicsParams().overtemp_dc  # normal use never overheats
    host.ask(Stop())
    host.advance(120_000, heartbeat_every=200)
    assert host.fw.temperature_dc < hot - 50


def test_overheat_while_running_raises_overtemp_and_stops() -> None:
    host = session()
    host.ask(Start())
    host.advance(50, heartbeat_every=50)
    host.fw.inject_overheat()
    frames = host.collect()
    assert host.codes(frames) == [EventCode.FAULT_RAISED, EventCode.STOPPED]
    assert host.events(frames)[0].detail == 0
    assert not host.fw.needle_running
    assert host.fw.state == State.FAULT


# --- battery -----------------------------------------------------------------------------------


def test_battery_drains_faster_running_than_at_rest() -> None:
    rest = session()
    rest.advance(600_000, heartbeat_every=250)
    run = session()
    run.ask(SetRate(150))
    run.ask(Start())
    run.advance(600_000, heartbeat_every=250)
    assert 100 - run.fw.battery_pct > 5 * (100 - rest.fw.battery_pct)
    assert rest.fw.battery_pct == 100  # 0.2 % in 10 min rounds to 100


def test_battery_crossing_ten_percent_raises_battery_low() -> None:
    host = session()
    host.fw.set_battery(10.2)
    host.collect()
    host.ask(SetRate(150))
    host.ask(Start())
    frames = host.advance(60_000, heartbeat_every=250)
    assert EventCode.FAULT_RAISED in host.codes(frames)
    raised = [e for e in host.events(frames) if e.code == EventCode.FAULT_RAISED]
    assert raised[0].detail == fault_bit(Fault.BATTERY_LOW) == 3
    assert host.fw.faults & Fault.BATTERY_LOW
    assert host.fw.state == State.RUNNING  # a warning: the stroke in progress goes on
    host.ask(Stop())
    assert host.ask(Start()) == Nack(MsgType.START, NackError.BATTERY_LOW, 10)
    host.fw.set_battery(80)
    frames = host.collect()
    assert host.codes(frames) == [EventCode.FAULT_CLEARED]
    assert host.ask(Start()) == Ack(MsgType.START)


def test_empty_battery_stops_the_needle() -> None:
    host = session()
    host.ask(Start())
    host.advance(10, heartbeat_every=50)
    host.fw.set_battery(0.001)
    frames = host.advance(2000, heartbeat_every=100)
    stopped = [e for e in host.events(frames) if e.code == EventCode.STOPPED]
    assert stopped and stopped[0].detail == StopCause.BATTERY_EMPTY
    assert not host.fw.needle_running and host.fw.state == State.IDLE


@pytest.mark.parametrize("bad", [-1, 100.5, math.nan, math.inf, True])
def test_bad_battery_level_is_refused_and_changes_nothing(bad: float) -> None:
    fw = Firmware()
    with pytest.raises(InjectError, match="battery level"):
        fw.set_battery(bad)
    assert fw.battery_pct == 100


# --- cartridge ------------------------------------------------------------------------------


def test_cartridge_removed_while_running_raises_fault_and_stops() -> None:
    host = session()
    host.ask(Start())
    host.advance(50, heartbeat_every=50)
    cid = host.fw.cartridge_id
    host.fw.remove_cartridge()
    frames = host.collect()
    assert host.codes(frames) == [
        EventCode.CARTRIDGE_REMOVED,
        EventCode.FAULT_RAISED,
        EventCode.STOPPED,
    ]
    assert host.events(frames)[0].detail == cid & 0xFFFF
    assert host.events(frames)[1].detail == fault_bit(Fault.CARTRIDGE_REMOVED) == 5
    assert host.fw.state == State.FAULT and not host.fw.needle_running
    assert host.fw.cartridge_state == CartridgeState.NONE
    # no cartridge: the condition is still there
    assert host.ask(Reset(1)).error == NackError.FAULT_LATCHED  # type: ignore[attr-defined]
    host.fw.insert_cartridge(fresh=False)
    frames = host.collect()
    assert host.codes(frames) == [EventCode.CARTRIDGE_INSERTED]
    assert host.fw.cartridge_state == CartridgeState.SPENT
    assert host.ask(Reset(1)) == Ack(MsgType.RESET)
    assert host.ask(Start()).error == NackError.CARTRIDGE_USED  # type: ignore[attr-defined]


def test_cartridge_removed_at_rest_is_no_fault() -> None:
    host = session()
    host.fw.remove_cartridge()
    assert host.codes(host.collect()) == [EventCode.CARTRIDGE_REMOVED]
    assert host.fw.state == State.IDLE


def test_cartridge_injections_refuse_impossible_moves() -> None:
    fw = Firmware()
    with pytest.raises(InjectError, match="already inserted"):
        fw.insert_cartridge()
    for bad_id in (0, -1, 2**32, True):
        fw.remove_cartridge()
        with pytest.raises(InjectError, match="cartridge id"):
            fw.insert_cartridge(cartridge_id=bad_id)
        assert fw.cartridge_state == CartridgeState.NONE
        fw.insert_cartridge(fresh=False)
    fresh = Firmware()
    fresh.remove_cartridge()
    fresh.insert_cartridge()
    fresh.remove_cartridge()
    with pytest.raises(InjectError, match="no cartridge"):
        fresh.remove_cartridge()
    assert fresh.cartridge_state == CartridgeState.NONE


def test_explicit_cartridge_id_used_before_is_spent() -> None:
    host = session()
    cid = host.fw.cartridge_id
    host.ask(Start())
    host.ask(Stop())
    host.fw.remove_cartridge()
    host.fw.insert_cartridge(fresh=True)
    host.fw.remove_cartridge()
    host.fw.insert_cartridge(cartridge_id=cid)
    assert host.fw.cartridge_state == CartridgeState.SPENT


# --- pure physics functions ---------------------------------------------------------------------


@given(
    value=st.floats(0, 500),
    target=st.floats(0, 500),
    dt=st.floats(0, 10_000),
    split=st.floats(0, 1),
)
def test_ramp_area_does_not_depend_on_how_time_is_cut(
    value: float, target: float, dt: float, split: float
) -> None:
    slope = 1.5
    whole_value, whole_area = physics.ramp(value, target, dt, slope)
    mid, area1 = physics.ramp(value, target, dt * split, slope)
    end, area2 = physics.ramp(mid, target, dt - dt * split, slope)
    assert math.isclose(end, whole_value, rel_tol=1e-9, abs_tol=1e-6)
    assert math.isclose(area1 + area2, whole_area, rel_tol=1e-9, abs_tol=1e-3)


@given(actual=st.floats(0, 5000), target=st.floats(0, 5000), dt=st.floats(0, 1000))
def test_slew_never_overshoots(actual: float, target: float, dt: float) -> None:
    new = physics.slew(actual, target, dt, 10.0)
    assert min(actual, target) <= new <= max(actual, target)
    assert abs(new - actual) <= 10.0 * dt + 1e-9

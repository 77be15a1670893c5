"""ICD rules for SET_DEPTH, SET_RATE, START, STOP, ESTOP, RESET and SET_TELEMETRY."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from driver.testing.host import VirtualHost
from protocol import (
    Ack,
    CartridgeState,
    Estop,
    EventCode,
    Fault,
    MsgType,
    Nack,
    NackError,
    Reset,
    SetDepth,
    SetRate,
    SetTelemetry,
    Start,
    State,
    Stop,
)
from simulator.firmware import PenConfig

PRO = PenConfig.professional()
HOME = PenConfig.home()


def session(config: PenConfig = PRO, seed: int = 0) -> VirtualHost:
    host = VirtualHost(config=config, seed=seed)
    host.hello()
    return host


# --- SET_DEPTH: refuse, never clamp ----------------------------------------------------------


@pytest.mark.parametrize("config", [PRO, HOME], ids=["professional", "home"])
@given(depth=st.integers(0, 0xFFFF))
def test_set_depth_accepts_exactly_the_hardware_range_and_never_clamps(
    config: PenConfig, depth: int
) -> None:
    host = session(config)
    host.ask(SetDepth(500))
    answer = host.ask(SetDepth(depth))
    valid = (
        config.depth_min_um <= depth <= config.depth_max_um and depth % config.depth_step_um == 0
    )
    if valid:
        assert answer == Ack(MsgType.SET_DEPTH)
        assert host.fw.depth_set_um == depth
    else:
        assert isinstance(answer, Nack) and answer.error == NackError.OUT_OF_RANGE
        if depth < config.depth_min_um:
            assert answer.detail == config.depth_min_um
        elif depth > config.depth_max_um:
            assert answer.detail == config.depth_max_um
        else:
            assert answer.detail == config.depth_step_um
        assert host.fw.depth_set_um == 500  # unchanged: no clamping


@pytest.mark.parametrize(
    ("depth", "detail"),
    [(0, 250), (249, 250), (200, 250), (3001, 3000), (3050, 3000), (0xFFFF, 3000), (275, 50)],
)
def test_set_depth_nack_detail_is_the_bound(depth: int, detail: int) -> None:
    host = session()
    assert host.ask(SetDepth(depth)) == Nack(MsgType.SET_DEPTH, NackError.OUT_OF_RANGE, detail)


def test_home_pen_refuses_one_millimetre() -> None:
    host = session(HOME)
    assert host.ask(SetDepth(950)) == Ack(MsgType.SET_DEPTH)
    assert host.ask(SetDepth(1000)) == Nack(MsgType.SET_DEPTH, NackError.OUT_OF_RANGE, 950)
    assert host.fw.depth_set_um == 950


@given(rate=st.integers(0, 0xFFFF))
def test_set_rate_range(rate: int) -> None:
    host = session()
    answer = host.ask(SetRate(rate))
    if 25 <= rate <= 150:
        assert answer == Ack(MsgType.SET_RATE)
        assert host.fw.rate_set_hz == rate
    else:
        assert answer == Nack(MsgType.SET_RATE, NackError.OUT_OF_RANGE, 25 if rate < 25 else 150)
        assert host.fw.rate_set_hz == 25


def test_home_pen_rate_limit() -> None:
    host = session(HOME)
    assert host.ask(SetRate(120)) == Ack(MsgType.SET_RATE)
    assert host.ask(SetRate(121)) == Nack(MsgType.SET_RATE, NackError.OUT_OF_RANGE, 120)


# --- START / STOP ---------------------------------------------------------------------------


def test_start_runs_the_needle_and_stop_returns_to_idle() -> None:
    host = session()
    host.settle_depth(1000)
    host.ask(SetRate(100))
    frames = host.send(Start())
    assert frames[0].message == Ack(MsgType.START)
    assert host.codes(frames) == [EventCode.STARTED]
    assert host.events(frames)[0].detail == 1000
    assert host.fw.state == State.RUNNING and host.fw.needle_running
    assert host.fw.cartridge_state == CartridgeState.IN_USE
    frames = host.send(Stop())
    assert frames[0].message == Ack(MsgType.STOP)
    assert host.codes(frames) == [EventCode.STOPPED]
    assert host.fw.state == State.IDLE and not host.fw.needle_running
    assert host.fw.rate_actual_hz == 0


def test_start_again_with_the_cartridge_in_use_in_this_session() -> None:
    host = session()
    host.ask(Start())
    host.ask(Stop())
    assert host.ask(Start()) == Ack(MsgType.START)


def test_start_while_running_is_acked_and_changes_nothing() -> None:
    host = session()
    host.ask(Start())
    host.advance(50, heartbeat_every=20)
    before = (host.fw.cartridge_id, host.fw.cartridge_state, host.fw.stamps)
    frames = host.send(Start())
    assert [f.message for f in frames] == [Ack(MsgType.START)]  # no second STARTED
    assert host.fw.needle_running
    assert (host.fw.cartridge_id, host.fw.cartridge_state, host.fw.stamps) == before


def test_start_refused_while_estop_latched() -> None:
    host = session()
    host.ask(Estop())
    assert host.ask(Start()) == Nack(MsgType.START, NackError.ESTOP_LATCHED, 0)
    assert not host.fw.needle_running


def test_start_refused_while_fault_latched() -> None:
    host = session()
    host.fw.inject_overheat()
    answer = host.ask(Start())
    assert answer == Nack(MsgType.START, NackError.FAULT_LATCHED, int(Fault.OVERTEMP))
    assert not host.fw.needle_running


def test_start_refused_without_cartridge() -> None:
    host = session()
    host.fw.remove_cartridge()
    assert host.ask(Start()) == Nack(MsgType.START, NackError.NO_CARTRIDGE, 0)


def test_start_refused_with_spent_cartridge() -> None:
    host = session()
    host.ask(Start())
    host.ask(Stop())
    host.fw.remove_cartridge()
    cid = host.fw.insert_cartridge(fresh=False)
    assert host.fw.cartridge_state == CartridgeState.SPENT
    answer = host.ask(Start())
    assert answer == Nack(MsgType.START, NackError.CARTRIDGE_USED, cid & 0xFFFF)
    host.fw.remove_cartridge()
    host.fw.insert_cartridge(fresh=True)
    assert host.ask(Start()) == Ack(MsgType.START)


def test_unused_cartridge_put_back_is_still_fresh() -> None:
    host = session()
    host.fw.remove_cartridge()
    host.fw.insert_cartridge(fresh=False)
    assert host.fw.cartridge_state == CartridgeState.FRESH
    assert host.ask(Start()) == Ack(MsgType.START)


@pytest.mark.parametrize(("battery", "ok"), [(9, False), (0, False), (10, True), (100, True)])
def test_start_refused_below_ten_percent_battery(battery: int, ok: bool) -> None:
    host = session()
    host.fw.set_battery(battery)
    answer = host.ask(Start())
    if ok:
        assert answer == Ack(MsgType.START)
    else:
        assert answer == Nack(MsgType.START, NackError.BATTERY_LOW, 10)
        assert host.fw.faults & Fault.BATTERY_LOW
        assert host.fw.state == State.IDLE  # a warning, not a latched fault


def test_stop_when_not_running_is_acked_and_harmless() -> None:
    host = session()
    frames = host.send(Stop())
    assert [f.message for f in frames] == [Ack(MsgType.STOP)]
    assert host.fw.state == State.IDLE


# --- ESTOP and RESET ------------------------------------------------------------------------


@pytest.mark.parametrize("setup", ["no_session", "idle", "running", "fault"])
def test_estop_from_any_state_stops_and_latches(setup: str) -> None:
    host = VirtualHost()
    if setup != "no_session":
        host.hello()
    if setup == "running":
        host.ask(Start())
        host.advance(50, heartbeat_every=20)
        assert host.fw.rate_actual_hz > 0
    if setup == "fault":
        host.fw.inject_overheat()
        host.collect()
    frames = host.send(Estop())
    # the ACK is the first thing out; the needle had already stopped
    assert frames[0].message == Ack(MsgType.ESTOP)
    assert EventCode.ESTOP in host.codes(frames)
    assert not host.fw.needle_running and host.fw.rate_actual_hz == 0
    assert host.fw.state == State.ESTOP
    assert host.fw.estop_latched


def test_reset_2_releases_estop_only_within_a_session() -> None:
    host = VirtualHost()
    host.ask(Estop())
    assert host.ask(Reset(2)) == Nack(MsgType.RESET, NackError.NO_SESSION, 0)
    host.hello()
    assert host.fw.state == State.ESTOP
    assert host.ask(Reset(2)) == Ack(MsgType.RESET)
    assert host.fw.state == State.IDLE
    assert host.ask(Start()) == Ack(MsgType.START)


def test_reset_1_does_not_release_estop() -> None:
    host = session()
    host.ask(Estop())
    assert host.ask(Reset(1)) == Ack(MsgType.RESET)
    assert host.fw.state == State.ESTOP


@pytest.mark.parametrize(("what", "detail"), [(0, 1), (3, 2), (255, 2)])
def test_reset_with_unknown_what_is_out_of_range(what: int, detail: int) -> None:
    host = session()
    host.ask(Estop())
    assert host.ask(Reset(what)) == Nack(MsgType.RESET, NackError.OUT_OF_RANGE, detail)
    assert host.fw.estop_latched


def test_reset_1_refused_while_condition_persists_then_clears_once_cool() -> None:
    host = session()
    host.fw.inject_overheat()
    assert host.fw.state == State.FAULT
    answer = host.ask(Reset(1))
    assert answer == Nack(MsgType.RESET, NackError.FAULT_LATCHED, int(Fault.OVERTEMP))
    assert host.fw.state == State.FAULT
    # cooling at rest: 48 °C -> below 40 °C takes well under a minute
    host.advance(60_000, heartbeat_every=100)
    assert host.fw.temperature_dc <= 400
    assert host.fw.state == State.FAULT  # the latch stays until RESET 1
    frames = host.send(Reset(1))
    assert frames[0].message == Ack(MsgType.RESET)
    assert host.events(frames)[0].code == EventCode.FAULT_CLEARED
    assert host.events(frames)[0].detail == 0  # bit 0: OVERTEMP
    assert host.fw.state == State.IDLE


def test_reset_1_with_nothing_latched_is_acked() -> None:
    host = session()
    assert host.ask(Reset(1)) == Ack(MsgType.RESET)
    assert host.fw.state == State.IDLE


# --- SET_TELEMETRY --------------------------------------------------------------------------


@pytest.mark.parametrize("rate", [1, 7, 20, 100, 200])
def test_telemetry_streams_at_the_requested_rate(rate: int) -> None:
    host = session()
    host.ask(SetTelemetry(rate))
    host.collect()
    statuses = host.statuses(host.advance(2000, heartbeat_every=100))
    assert abs(len(statuses) - 2 * rate) <= 1
    uptimes = [s.uptime_ms for s in statuses]
    assert uptimes == sorted(uptimes)


def test_first_status_follows_the_ack_at_once() -> None:
    host = session()
    frames = host.send(SetTelemetry(1))
    assert frames[0].message == Ack(MsgType.SET_TELEMETRY)
    assert len(host.statuses(frames)) == 1


@pytest.mark.parametrize("rate", [201, 1000, 0xFFFF])
def test_telemetry_above_200_hz_is_refused(rate: int) -> None:
    host = session()
    assert host.ask(SetTelemetry(rate)) == Nack(MsgType.SET_TELEMETRY, NackError.OUT_OF_RANGE, 200)
    assert host.fw.telemetry_hz == 0


def test_telemetry_off_stops_the_stream() -> None:
    host = session()
    host.ask(SetTelemetry(50))
    host.ask(SetTelemetry(0))
    assert host.statuses(host.advance(500, heartbeat_every=100)) == []


def test_telemetry_keeps_streaming_in_every_state_until_reboot() -> None:
    host = session()
    host.ask(SetTelemetry(20))
    host.ask(Start())
    seen = {s.state for s in host.statuses(host.advance(200, heartbeat_every=50))}
    host.ask(Estop())
    seen |= {s.state for s in host.statuses(host.advance(200, heartbeat_every=50))}
    host.ask(Reset(2))
    host.fw.inject_overheat()
    seen |= {s.state for s in host.statuses(host.advance(200, heartbeat_every=50))}
    host.fw.set_temperature(250)
    host.ask(Reset(1))
    seen |= {s.state for s in host.statuses(host.advance(200, heartbeat_every=50))}
    # no more heartbeats: the watchdog ends the session, STATUS goes on in NO_SESSION
    seen |= {s.state for s in host.statuses(host.advance(1000))}
    assert seen == set(State)
    host.fw.reboot()
    host.collect()
    assert host.statuses(host.advance(500)) == []


def test_status_reports_the_truth() -> None:
    host = session(seed=4)
    host.ask(SetTelemetry(10))
    host.settle_depth(600)
    host.ask(SetRate(80))
    host.ask(Start())
    host.advance(260, heartbeat_every=100)
    status = host.statuses(host.advance(100, heartbeat_every=100))[-1]
    fw = host.fw
    assert status.state == State.RUNNING
    assert (status.depth_set_um, status.depth_actual_um) == (600, 600)
    assert (status.rate_set_hz, status.rate_actual_hz) == (80, 80)
    assert status.cartridge_id == fw.cartridge_id
    assert status.cartridge_state == CartridgeState.IN_USE
    assert status.uptime_ms == 300
    assert status.battery_pct == fw.battery_pct
    assert status.motor_ma > 0

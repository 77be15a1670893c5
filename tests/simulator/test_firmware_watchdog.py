"""The watchdog and the latches that outlive sessions, on a virtual clock."""

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
    Heartbeat,
    Hello,
    MsgType,
    Nack,
    NackError,
    Reset,
    SetRate,
    SetTelemetry,
    Start,
    State,
    Stop,
)
from simulator.firmware import Firmware, PenConfig, StopCause
from simulator.physics import PhysicsParams


def running(config: PenConfig | None = None) -> VirtualHost:
    host = VirtualHost(config=config)
    host.hello()
    host.settle_depth(1200)
    host.ask(SetRate(110))
    host.ask(Start())
    return host


def test_watchdog_trips_after_300_ms_of_silence() -> None:
    host = running()
    host.advance(299)
    assert host.fw.state == State.RUNNING
    frames = host.advance(1)
    assert host.codes(frames) == [EventCode.STOPPED, EventCode.WATCHDOG_TRIPPED]
    assert host.events(frames)[0].detail == StopCause.WATCHDOG
    assert host.events(frames)[1].detail == 300
    fw = host.fw
    assert fw.state == State.NO_SESSION
    assert not fw.needle_running and fw.rate_actual_hz == 0
    assert fw.depth_set_um == fw.config.depth_min_um
    assert fw.faults & Fault.WATCHDOG


@given(
    last_rx=st.one_of(
        st.just(760.0000000000001),  # (x + 300) - x < 300 in floats: found by the safety suite
        st.floats(min_value=0, max_value=1e9, allow_nan=False),
    ),
    watchdog_ms=st.sampled_from([1, 50, 300, 65535]),
)
def test_watchdog_trips_on_time_whatever_the_float_clock_reads(
    last_rx: float, watchdog_ms: int
) -> None:
    fw = Firmware(PenConfig.professional(watchdog_ms=watchdog_ms), seed=1, now_ms=last_rx)
    trips: list[float] = []
    fw.add_listener(lambda r: trips.append(r.t_ms) if r.event == "WATCHDOG_TRIPPED" else None)
    host = VirtualHost(fw)
    host.hello()
    host.ask(Start())
    fw.tick(last_rx + watchdog_ms + 100.0)  # one coarse tick past the deadline
    assert trips == [last_rx + watchdog_ms]
    assert not fw.needle_running


def test_stall_detected_on_time_whatever_the_float_clock_reads() -> None:
    start = 760.0000000000001
    fw = Firmware(seed=1, now_ms=start)
    host = VirtualHost(fw)
    host.hello()
    fw.inject_stall()
    host.ask(Start())
    raised: list[float] = []
    fw.add_listener(lambda r: raised.append(r.t_ms) if r.event == "FAULT_RAISED" else None)
    fw.tick(start + 200.0)
    assert raised == [start + PhysicsParams().stall_detect_ms]


def test_heartbeats_keep_the_session_alive() -> None:
    host = running()
    frames = host.advance(10_000, heartbeat_every=100)
    assert EventCode.WATCHDOG_TRIPPED not in host.codes(frames)
    assert host.fw.state == State.RUNNING


@given(gap=st.floats(min_value=0, max_value=299.9))
def test_any_valid_frame_feeds_the_watchdog(gap: float) -> None:
    host = running()
    host.advance(gap)
    host.ask(SetRate(100))  # a command is as good as a HEARTBEAT
    host.advance(299.9)
    assert host.fw.state == State.RUNNING


def test_garbage_does_not_feed_the_watchdog() -> None:
    host = running()
    for _ in range(10):
        host.advance(50)
        host.send_raw(b"\x00\x05\x01\x02\x03\x04\x00")  # COBS-valid, CRC-invalid
    assert host.fw.state == State.NO_SESSION


@pytest.mark.parametrize("watchdog_ms", [50, 1000])
def test_watchdog_period_is_configurable(watchdog_ms: int) -> None:
    host = running(PenConfig.professional(watchdog_ms=watchdog_ms))
    assert host.fw.info().watchdog_ms == watchdog_ms
    host.advance(watchdog_ms - 1)
    assert host.fw.state == State.RUNNING
    host.advance(1)
    assert host.fw.state == State.NO_SESSION


def test_watchdog_never_resumes_by_itself() -> None:
    host = running()
    host.advance(400)
    assert host.fw.state == State.NO_SESSION
    # the host comes back: heartbeats alone do nothing, commands are refused
    host.advance(500, heartbeat_every=50)
    assert host.fw.state == State.NO_SESSION
    assert host.ask(Start()) == Nack(MsgType.START, NackError.NO_SESSION, 0)
    assert not host.fw.needle_running
    # HELLO and START again: but the cartridge was used in the earlier session
    host.hello()
    assert host.fw.state == State.IDLE
    assert host.fw.cartridge_state == CartridgeState.SPENT
    assert host.ask(Start()).error == NackError.CARTRIDGE_USED  # type: ignore[attr-defined]


def test_hello_clears_the_watchdog_flag() -> None:
    host = running()
    host.advance(400)
    assert host.fw.faults & Fault.WATCHDOG
    host.hello()
    assert not host.fw.faults & Fault.WATCHDOG


def test_no_watchdog_without_a_session() -> None:
    host = VirtualHost()
    frames = host.advance(5000)
    assert host.codes(frames) == []


def test_estop_latch_survives_watchdog_and_new_session() -> None:
    host = running()
    host.ask(Estop())
    host.advance(400)
    assert host.fw.state == State.ESTOP  # not NO_SESSION
    assert not host.fw.session_open
    host.hello()
    assert host.fw.state == State.ESTOP  # not IDLE
    assert host.ask(Start()) == Nack(MsgType.START, NackError.ESTOP_LATCHED, 0)
    assert host.ask(Reset(2)) == Ack(MsgType.RESET)
    assert host.fw.state == State.IDLE


def test_fault_latch_survives_watchdog_and_new_session() -> None:
    host = running()
    host.fw.inject_overheat()
    host.advance(60_000)  # cools down, but the latch stays
    assert host.fw.state == State.FAULT
    host.hello()
    assert host.fw.state == State.FAULT
    assert host.ask(Start()).error == NackError.FAULT_LATCHED  # type: ignore[attr-defined]
    assert host.ask(Reset(1)) == Ack(MsgType.RESET)
    assert host.fw.state == State.IDLE


def test_status_reports_estop_while_latched_without_session() -> None:
    host = running()
    host.ask(SetTelemetry(10))
    host.ask(Estop())
    statuses = host.statuses(host.advance(1000))
    assert {s.state for s in statuses} == {State.ESTOP}


def test_latches_do_not_survive_a_reboot() -> None:
    host = running()
    host.ask(Estop())
    host.fw.reboot()
    assert host.fw.state == State.NO_SESSION
    assert not host.fw.estop_latched


def test_reboot_resets_everything_but_the_hardware() -> None:
    host = running()
    host.ask(SetTelemetry(50))
    host.advance(100, heartbeat_every=50)
    fw: Firmware = host.fw
    old_boot = fw.boot_id
    cid = fw.cartridge_id
    fw.reboot()
    frames = host.collect()
    assert host.codes(frames) == [EventCode.BOOT]
    assert fw.boot_id != old_boot
    assert fw.state == State.NO_SESSION and not fw.needle_running
    assert fw.telemetry_hz == 0 and fw.uptime_ms == 0 and fw.stamps == 0
    assert fw.depth_set_um == 250
    assert fw.cartridge_id == cid and fw.cartridge_state == CartridgeState.SPENT
    assert host.ask(Hello(1, 3)).boot_id == fw.boot_id  # type: ignore[attr-defined]


def test_stop_resets_nothing_of_the_set_points() -> None:
    host = running()
    host.ask(Stop())
    assert (host.fw.depth_set_um, host.fw.rate_set_hz) == (1200, 110)


def test_an_hour_running_counts_stamps_heats_and_drains() -> None:
    host = running()
    fw = host.fw
    host.advance(3_600_000, heartbeat_every=250)
    assert fw.state == State.RUNNING
    # 110 Hz for an hour, less a spin-up of 73 ms
    assert abs(fw.stamps - 110 * 3600) < 10
    # equilibrium at 110 Hz: 25 °C + 0.09 °C/Hz x 110 = 34.9 °C
    assert abs(fw.temperature_dc - 349) <= 2
    # running drain 0.2 + 0.004 x 110 = 0.64 %/min: 38.4 % in an hour
    assert fw.battery_pct == 62
    assert host.send(Heartbeat()) == []

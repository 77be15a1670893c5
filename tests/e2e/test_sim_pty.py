"""`needlepen sim --pty` keeps the promises of the ICD's "Pen behaviour" section, driven over
a real kernel pty, in a subprocess, by a client that knows only the ICD."""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Iterator

import pytest
import serial

from driver.testing.host import PortHost
from driver.testing.sim import SimProcess
from protocol import (
    Ack,
    CartridgeState,
    DeviceClass,
    Estop,
    EventCode,
    Fault,
    Heartbeat,
    Hello,
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


@pytest.fixture
def sim(request: pytest.FixtureRequest) -> Iterator[SimProcess]:
    extra = getattr(request, "param", ())
    with SimProcess("--pty", "--log-json", "--seed", "3", *extra) as proc:
        yield proc


@pytest.fixture
def host(sim: SimProcess) -> Iterator[PortHost]:
    port = serial.Serial(sim.port_line, 115200, timeout=0.02)
    try:
        yield PortHost(port)
    finally:
        port.close()


def test_port_line_is_a_pty_path_alone(sim: SimProcess) -> None:
    path = sim.port_line
    assert path.startswith("/dev/") and " " not in path
    assert stat.S_ISCHR(os.stat(path).st_mode)


def test_after_boot_no_session_and_only_stop_estop_obeyed(host: PortHost) -> None:
    for msg in (SetDepth(500), SetRate(100), Start(), Reset(1), SetTelemetry(10)):
        assert host.request(msg) == Nack(msg.TYPE, NackError.NO_SESSION, 0)
    assert host.request(Stop()) == Ack(MsgType.STOP)
    host.send(Heartbeat())
    assert host.request(Hello(2, 1)) == Nack(MsgType.HELLO, NackError.UNSUPPORTED_VERSION, 1)
    assert host.inbox == []  # the HEARTBEAT was never answered
    info = host.hello(nonce=0xCAFE)
    assert info.device_class == DeviceClass.PROFESSIONAL
    host.request(SetTelemetry(20))
    status = host.status()
    assert status.state == State.IDLE
    assert status.depth_set_um == info.depth_min_um
    assert status.rate_actual_hz == 0
    assert status.cartridge_state == CartridgeState.FRESH


def test_range_is_refused_never_clamped(host: PortHost) -> None:
    host.hello()
    host.request(SetTelemetry(50))
    assert host.request(SetDepth(1500)) == Ack(MsgType.SET_DEPTH)
    assert host.request(SetDepth(3050)) == Nack(MsgType.SET_DEPTH, NackError.OUT_OF_RANGE, 3000)
    assert host.request(SetDepth(100)) == Nack(MsgType.SET_DEPTH, NackError.OUT_OF_RANGE, 250)
    assert host.request(SetDepth(1525)) == Nack(MsgType.SET_DEPTH, NackError.OUT_OF_RANGE, 50)
    assert host.fresh_status().depth_set_um == 1500


@pytest.mark.parametrize("sim", [("--device-class", "home")], indirect=True)
def test_home_pen_reports_itself_and_stays_below_a_millimetre(host: PortHost) -> None:
    info = host.hello()
    assert info.device_class == DeviceClass.HOME and info.depth_max_um < 1000
    assert host.request(SetDepth(1000)) == Nack(MsgType.SET_DEPTH, NackError.OUT_OF_RANGE, 950)


def test_watchdog_stops_resets_and_never_resumes(sim: SimProcess, host: PortHost) -> None:
    host.hello()
    host.request(SetTelemetry(50))
    host.settle_depth(2000)  # START needs the needle at its set-point
    host.request(Start())
    host.keep_alive(0.3)
    assert host.fresh_status().state == State.RUNNING
    # the host goes quiet
    assert host.event(EventCode.WATCHDOG_TRIPPED).detail == 300
    status = host.status()
    assert status.state == State.NO_SESSION
    assert status.rate_actual_hz == 0 and status.depth_set_um == 250
    assert status.faults & Fault.WATCHDOG
    # heartbeats alone do not bring it back; telemetry goes on in NO_SESSION
    host.keep_alive(0.3)
    assert host.fresh_status().state == State.NO_SESSION
    assert host.request(Start()) == Nack(MsgType.START, NackError.NO_SESSION, 0)
    record = sim.wait_record("WATCHDOG_TRIPPED")
    assert record["state"] == "NO_SESSION" and record["depth_um"] == 250


def test_estop_latch_outlives_watchdog_and_sessions(host: PortHost) -> None:
    host.hello()
    host.request(SetTelemetry(50))
    host.request(Start())
    assert host.request(Estop()) == Ack(MsgType.ESTOP)
    host.event(EventCode.ESTOP)
    host.event(EventCode.WATCHDOG_TRIPPED)
    assert host.status().state == State.ESTOP  # not NO_SESSION
    host.hello()
    assert host.status().state == State.ESTOP  # not IDLE
    assert host.request(Start()) == Nack(MsgType.START, NackError.ESTOP_LATCHED, 0)
    assert host.request(Reset(2)) == Ack(MsgType.RESET)
    assert host.status().state == State.IDLE


def test_latched_fault_needs_the_condition_gone_and_reset_1(
    sim: SimProcess, host: PortHost
) -> None:
    host.hello()
    host.request(SetTelemetry(50))
    host.request(Start())
    sim.command("overheat")
    assert host.event(EventCode.FAULT_RAISED).detail == 0
    assert host.event(EventCode.STOPPED).detail == 3
    assert host.status().state == State.FAULT
    nack = host.request(Reset(1))
    assert nack == Nack(MsgType.RESET, NackError.FAULT_LATCHED, int(Fault.OVERTEMP))
    sim.command("cool")
    sim.wait_record("INJECT", what="temperature")
    assert host.request(Reset(1)) == Ack(MsgType.RESET)
    assert host.event(EventCode.FAULT_CLEARED).detail == 0
    assert host.status().state == State.IDLE


def test_hello_during_a_session_stops_the_needle(host: PortHost) -> None:
    host.hello(1)
    host.request(Start())
    host.event(EventCode.STARTED)
    info = host.hello(2)
    assert info.nonce == 2
    assert host.event(EventCode.STOPPED).detail == 4
    host.request(SetTelemetry(20))
    assert host.status().state == State.IDLE


def test_depth_follows_set_point_while_running(host: PortHost) -> None:
    host.hello()
    host.request(SetTelemetry(200))
    host.settle_depth(500)
    host.request(Start())
    host.keep_alive(0.1)
    assert host.request(SetDepth(2500)) == Ack(MsgType.SET_DEPTH)
    moving = host.fresh_status()
    assert moving.depth_set_um == 2500 and moving.depth_actual_um < 2500
    host.keep_alive(0.3)
    settled = host.fresh_status()
    assert settled.depth_actual_um == 2500 and settled.state == State.RUNNING


def test_cartridge_removal_and_spent_reinsert(sim: SimProcess, host: PortHost) -> None:
    host.hello()
    host.request(Start())
    sim.command("remove")
    host.event(EventCode.CARTRIDGE_REMOVED)
    assert host.event(EventCode.FAULT_RAISED).detail == 5
    sim.command("reinsert")
    host.event(EventCode.CARTRIDGE_INSERTED)
    assert host.request(Reset(1)) == Ack(MsgType.RESET)
    assert host.request(Start()).error == NackError.CARTRIDGE_USED  # type: ignore[attr-defined]


def test_reboot_changes_boot_id_and_turns_telemetry_off(sim: SimProcess, host: PortHost) -> None:
    first = host.hello()
    host.request(SetTelemetry(50))
    host.status()
    sim.command("reboot")
    boot = host.event(EventCode.BOOT)
    second = host.hello(8)
    assert second.boot_id != first.boot_id and boot.detail == second.boot_id & 0xFFFF
    time.sleep(0.1)
    host.pump()
    assert not any(f.message.TYPE == MsgType.STATUS for f in host.inbox)


def test_json_log_has_every_command_event_and_state_change(sim: SimProcess, host: PortHost) -> None:
    started = time.time()
    host.hello()
    host.request(SetTelemetry(50))
    host.settle_depth(700)
    host.request(SetDepth(9999))
    host.request(Start())
    host.request(Estop())
    host.event(EventCode.WATCHDOG_TRIPPED)
    ended = time.time()
    sim.wait_record("WATCHDOG_TRIPPED")
    records = sim.records()
    assert records[0]["event"] == "BOOT"
    for record in records:
        assert {"t", "event", "state", "pen_ms"} <= record.keys()
        assert record["state"] in State.__members__
        assert round(record["t"], 3) == record["t"]
    events = [r["event"] for r in records]
    for name in (
        "HELLO",
        "SET_DEPTH",
        "NACK",
        "START",
        "STARTED",
        "ESTOP",
        "STATE",
        "STOPPED",
        "WATCHDOG_TRIPPED",
    ):
        assert name in events, name
    depth = next(r for r in records if r["event"] == "SET_DEPTH")
    assert depth["depth_um"] == 700 and depth["state"] == "IDLE"
    assert started - 1 <= depth["t"] <= ended + 1
    nack = next(r for r in records if r["event"] == "NACK")
    assert (nack["of"], nack["error"], nack["detail"], nack["depth_um"]) == (
        "SET_DEPTH",
        "OUT_OF_RANGE",
        3000,
        9999,
    )
    estop = [r for r in records if r["event"] == "ESTOP"]
    assert estop[0]["state"] == "ESTOP"
    transitions = [(r["from"], r["state"]) for r in records if r["event"] == "STATE"]
    assert transitions[:3] == [("NO_SESSION", "IDLE"), ("IDLE", "RUNNING"), ("RUNNING", "ESTOP")]
    assert [r["t"] for r in records] == sorted(r["t"] for r in records)

"""A software pen configured like an independently built one, and its set-points after boot,
HELLO and a watchdog trip (depth_min_um AND rate_min_hz, whatever those are).

Issue 13 section 1: a pen built from the docs alone had rate_min_hz 20, 25 µm steps, a 60 ms
watchdog and FAULT_RAISED details as masks. `sim://` and `needlepen sim` can be that pen, so
host tests can meet it.
"""

from __future__ import annotations

import argparse

import pytest
import serial
from hypothesis import given
from hypothesis import strategies as st

import simulator  # noqa: F401  (registers sim://)
from driver.testing.host import PortHost, VirtualHost
from driver.testing.sim import SimProcess
from protocol import (
    Ack,
    DeviceClass,
    EventCode,
    Fault,
    Heartbeat,
    MsgType,
    Reset,
    SetDepth,
    SetRate,
    SetTelemetry,
    Start,
    fault_bit,
)
from simulator import cli
from simulator.errors import ConfigError
from simulator.firmware import PenConfig
from simulator.options import OPTIONS, SimOptions, parse_sim_url

LIKE_THAT_PEN = "sim://?rate_min_hz=20&depth_step_um=25&watchdog_ms=60&fault_detail=mask"


# --- options ----------------------------------------------------------------------------------


def test_a_pen_like_that_pen_from_the_url() -> None:
    options = parse_sim_url(LIKE_THAT_PEN)
    config = options.config()
    assert config.rate_min_hz == 20 and config.depth_step_um == 25
    assert config.watchdog_ms == 60 and config.fault_detail == "mask"
    assert config.device_class == DeviceClass.PROFESSIONAL
    assert (config.depth_min_um, config.depth_max_um, config.rate_max_hz) == (250, 3000, 150)


def test_every_range_option_reaches_info() -> None:
    config = parse_sim_url(
        "sim://?device_class=home&depth_min_um=200&depth_max_um=900&depth_step_um=100"
        "&rate_min_hz=30&rate_max_hz=90&serial=77&watchdog_ms=150"
    ).config()
    info = VirtualHost(config=config).hello()
    assert (info.device_class, info.serial, info.watchdog_ms) == (DeviceClass.HOME, 77, 150)
    assert (info.depth_min_um, info.depth_max_um, info.depth_step_um) == (200, 900, 100)
    assert (info.rate_min_hz, info.rate_max_hz) == (30, 90)


def test_options_left_out_keep_the_preset() -> None:
    assert parse_sim_url("sim://").config() == PenConfig.professional()
    assert parse_sim_url("sim://?device_class=home").config() == PenConfig.home()
    assert SimOptions("professional", 0, 300, ()) == parse_sim_url("sim://")


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("sim://?depth_step_um=30", "multiples"),
        ("sim://?device_class=home&depth_max_um=1000", "below 1000"),
        ("sim://?rate_min_hz=200", "rate_min_hz"),
        ("sim://?rate_min_hz=0", "from 1 to 65535"),
        ("sim://?depth_min_um=abc", "whole number"),
        ("sim://?serial=-1", "serial"),
        ("sim://?fault_detail=bits", "bit"),
        ("sim://?depth_step_um=25&depth_step_um=50", "given twice"),
    ],
)
def test_a_pen_no_one_could_build_is_refused_with_one_sentence(url: str, words: str) -> None:
    with pytest.raises(ConfigError, match=words) as info:
        parse_sim_url(url)
    text = str(info.value)
    assert text.endswith(".") and "\n" not in text


def test_the_cli_flags_are_the_url_keys() -> None:
    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers())
    args = parser.parse_args(
        ["sim", "--pty", "--rate-min-hz", "20", "--depth-step-um", "25", "--watchdog-ms", "60",
         "--fault-detail", "mask"]
    )  # fmt: skip
    from simulator.options import build_options

    options = build_options({o.key: getattr(args, o.key) for o in OPTIONS}, ())
    assert options == parse_sim_url(LIKE_THAT_PEN)


def test_needlepen_sim_serves_a_pen_like_that_pen() -> None:
    with SimProcess(
        "--pty", "--rate-min-hz", "20", "--depth-step-um", "25", "--watchdog-ms", "60"
    ) as proc:
        port = serial.serial_for_url(proc.port_line, timeout=0.05)
        try:
            host = PortHost(port)
            info = host.hello()
            assert (info.rate_min_hz, info.depth_step_um, info.watchdog_ms) == (20, 25, 60)
        finally:
            port.close()


def test_a_bad_flag_is_refused_before_anything_is_served() -> None:
    import subprocess

    from driver.testing.sim import needlepen_command

    done = subprocess.run(
        [*needlepen_command(), "sim", "--pty", "--depth-step-um", "30"],
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert done.returncode == 1 and done.stdout == ""
    assert "multiples of its depth_step_um" in done.stderr


# --- set-points after boot, HELLO and a watchdog trip ----------------------------------------


def configs() -> st.SearchStrategy[PenConfig]:
    @st.composite
    def build(draw: st.DrawFn) -> PenConfig:
        step = draw(st.sampled_from([10, 25, 50, 100]))
        low = draw(st.integers(1, 20)) * step
        high = low + draw(st.integers(0, 20)) * step
        rate_min = draw(st.integers(1, 60))
        rate_max = rate_min + draw(st.integers(0, 200))
        return PenConfig.professional(
            depth_min_um=low,
            depth_max_um=high,
            depth_step_um=step,
            rate_min_hz=rate_min,
            rate_max_hz=rate_max,
            watchdog_ms=draw(st.sampled_from([60, 150, 300, 2000])),
        )

    return build()


@given(config=configs())
def test_set_points_are_the_minimum_after_boot_hello_and_a_watchdog_trip(
    config: PenConfig,
) -> None:
    host = VirtualHost(config=config)
    assert (host.fw.depth_set_um, host.fw.rate_set_hz) == (config.depth_min_um, config.rate_min_hz)

    def raise_set_points() -> None:
        assert host.ask(SetDepth(config.depth_max_um)) == Ack(MsgType.SET_DEPTH)
        assert host.ask(SetRate(config.rate_max_hz)) == Ack(MsgType.SET_RATE)

    host.hello()
    [status] = host.statuses(host.send(SetTelemetry(1)))  # what a host sees after HELLO
    assert (status.depth_set_um, status.rate_set_hz) == (config.depth_min_um, config.rate_min_hz)
    raise_set_points()
    host.hello(nonce=2)  # a new session
    assert (host.fw.depth_set_um, host.fw.rate_set_hz) == (config.depth_min_um, config.rate_min_hz)
    raise_set_points()
    frames = host.advance(config.watchdog_ms)
    assert EventCode.WATCHDOG_TRIPPED in host.codes(frames)
    assert (host.fw.depth_set_um, host.fw.rate_set_hz) == (config.depth_min_um, config.rate_min_hz)
    host.hello(nonce=3)
    raise_set_points()
    host.fw.reboot()
    assert (host.fw.depth_set_um, host.fw.rate_set_hz) == (config.depth_min_um, config.rate_min_hz)


def test_a_60_ms_watchdog_trips_between_100_ms_heartbeats() -> None:
    """The pen a host must refuse (docs/PROTOCOL.md: 150..2000 ms): its 100 ms heartbeat
    cannot feed it, so the session ends by itself."""
    host = VirtualHost(config=parse_sim_url(LIKE_THAT_PEN).config())
    assert host.hello().watchdog_ms == 60
    frames = host.advance(100)
    assert host.codes(frames) == [EventCode.WATCHDOG_TRIPPED]
    assert host.send(Heartbeat()) == []
    assert not host.fw.session_open


# --- FAULT_RAISED detail: the bit number, or a mask for a pen that read it so --------------------


@pytest.mark.parametrize("mode", ["bit", "mask"])
def test_fault_detail_modes_and_status_faults_agree(mode: str) -> None:
    host = VirtualHost(config=PenConfig.professional(fault_detail=mode))
    host.hello()
    host.ask(SetTelemetry(100))
    assert host.ask(Start()) == Ack(MsgType.START)
    for fault in (Fault.OVERTEMP, Fault.CARTRIDGE_REMOVED):
        expected = fault_bit(fault) if mode == "bit" else int(fault)
        if fault == Fault.OVERTEMP:
            host.fw.inject_overheat()
        else:
            assert host.ask(Start()) == Ack(MsgType.START)  # its cartridge is IN_USE
            host.fw.remove_cartridge()
        raised = [e for e in host.events(host.collect()) if e.code == EventCode.FAULT_RAISED]
        assert [e.detail for e in raised] == [expected]
        status = host.statuses(host.advance(20, heartbeat_every=10))[-1]
        assert status.faults == fault  # the name a host shows comes from here
        if fault == Fault.OVERTEMP:
            host.fw.set_temperature(250)
            frames = host.send(Reset(1))
            cleared = [e.detail for e in host.events(frames) if e.code == EventCode.FAULT_CLEARED]
            assert cleared == [expected]
    # the bit number and the mask differ for every fault but OVERTEMP's bit 0 / mask 1
    assert fault_bit(Fault.CARTRIDGE_REMOVED) == 5 and int(Fault.CARTRIDGE_REMOVED) == 32


def test_the_url_sets_the_mask_mode_on_a_live_pen() -> None:
    port = serial.serial_for_url(
        "sim://?fault_detail=mask&rate_min_hz=20&depth_step_um=25", timeout=0.05
    )
    try:
        assert port.pen.firmware.config.fault_detail == "mask"
        host = PortHost(port)
        info = host.hello()
        host.request(SetTelemetry(100))
        status = host.status()
        assert (info.rate_min_hz, status.rate_set_hz, status.depth_set_um) == (20, 20, 250)
    finally:
        port.close()
